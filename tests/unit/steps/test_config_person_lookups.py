"""The steps' view of the configuration document, and the person checks that depend on it. Pure."""

from __future__ import annotations

import pytest

from shared.config import Configuration
from shared.dynamics.metadata import Column, TableColumns
from shared.dynamics.query import Filter, Query
from shared.steps.config import StepConfig
from shared.steps.lookups import Lookups, person_lookup
from shared.steps.models import Person
from shared.steps.person import InvalidStepInput, check_person, field_errors
from shared.steps.wording import who

USER = "5E000000-0000-4000-8000-000000000001"


def test_when_the_document_is_the_default_the_contract_defaults_apply() -> None:
    config = StepConfig.from_document(Configuration())
    assert config.lead_identifiers == (("emailaddress1",),)
    assert config.contact_identifiers == (("emailaddress1",),)
    assert dict(config.person_fields) == {"firstName": "firstname", "lastName": "lastname", "email": "emailaddress1",
                                          "company": "companyname", "jobTitle": "jobtitle", "phone": "telephone1"}
    assert config.default_owner is None and dict(config.user_identities) == {}


def test_when_the_document_is_configured_its_values_are_read() -> None:
    document = Configuration.model_validate({
        "identifiers": {"lead": [["emailaddress1"], ["firstname", "lastname"]], "contact": [["new_platformid"]]},
        "personFields": {"phone": None, "company": "new_company"},
        "userMapping": {"identities": {"u1": USER}, "defaultOwner": USER},
    })
    config = StepConfig.from_document(document)
    assert config.lead_identifiers == (("emailaddress1",), ("firstname", "lastname"))
    assert config.contact_identifiers == (("new_platformid",),)
    assert "phone" not in config.person_fields and config.phone_attribute is None
    assert config.person_fields["company"] == "new_company"
    assert dict(config.user_identities) == {"u1": USER.lower()}
    assert config.default_owner == USER.lower()


def test_when_the_document_is_plain_json_it_reads_the_same() -> None:
    document = Configuration.model_validate({"userMapping": {"defaultOwner": USER}})
    assert StepConfig.from_document(document.model_dump(mode="json", by_alias=True)) == StepConfig.from_document(
        document)


def test_when_the_person_lacks_every_identifier_each_missing_member_of_each_set_is_named() -> None:
    config = StepConfig(lead_identifiers=(("firstname", "lastname"), ("emailaddress1",)),
                        contact_identifiers=(("new_platformid",),))
    with pytest.raises(InvalidStepInput) as caught:
        check_person(Person(first_name="Ada"), config, ["lead", "contact"])
    errors = dict(caught.value.errors)
    assert list(errors) == [("person", "lastName"), ("person", "email"), ("person", "fields", "new_platformid")]
    assert "Lead firstname+lastname" in errors[("person", "lastName")]
    assert "Contact new_platformid" in errors[("person", "fields", "new_platformid")]


def test_when_one_table_is_identified_only_the_other_tables_sets_are_reported() -> None:
    config = StepConfig(contact_identifiers=(("new_platformid",),))
    with pytest.raises(InvalidStepInput) as caught:
        check_person(Person(email="ada@example.com"), config, ["lead", "contact"])
    assert [loc for loc, _ in caught.value.errors] == [("person", "fields", "new_platformid")]


def test_when_no_set_needs_the_email_the_person_may_have_none() -> None:
    config = StepConfig(lead_identifiers=(("new_platformid",),), contact_identifiers=(("new_platformid",),))
    values = check_person(Person(fields={"new_platformid": "P-1"}), config, ["lead", "contact"])
    assert values == {"new_platformid": "P-1"}


def test_when_a_shared_email_identifier_is_missing_it_is_one_entry_naming_both_tables() -> None:
    with pytest.raises(InvalidStepInput) as caught:
        check_person(Person(first_name="Ada"), StepConfig(), ["lead", "contact"])
    [(loc, msg)] = caught.value.errors
    assert loc == ("person", "email") and "Lead emailaddress1" in msg and "Contact emailaddress1" in msg


def test_when_an_identifier_value_in_fields_is_not_text_it_is_named() -> None:
    config = StepConfig(contact_identifiers=(("new_platformid",),))
    with pytest.raises(InvalidStepInput) as caught:
        check_person(Person(email="a@example.com", fields={"new_platformid": 7}), config, ["contact"])
    assert [loc for loc, _ in caught.value.errors] == [("person", "fields", "new_platformid")]


LEAD_COLUMNS = TableColumns("lead", {
    "new_score": Column("new_score", "Integer"),
    "address1_city": Column("address1_city", "String", 80),
    "donotemail": Column("donotemail", "Boolean"),
    "parentcontactid": Column("parentcontactid", "Lookup", targets=("contact",)),
    "createdon": Column("createdon", "DateTime", valid_for_create=False, valid_for_update=False),
    "revenue": Column("revenue", "Money"),
})


@pytest.mark.parametrize(("fields", "bad"), [
    ({"new_score": 3, "address1_city": "x" * 80, "donotemail": True, "revenue": 1.5}, set()),
    ({"address1_city": None, "new_score": None}, set()),
    ({"new_nosuch": "x"}, {"new_nosuch"}),
    ({"new_score": "3", "donotemail": 1, "revenue": True}, {"new_score", "donotemail", "revenue"}),
    ({"address1_city": "x" * 81}, {"address1_city"}),
    ({"address1_city": 5}, {"address1_city"}),
    ({"parentcontactid": "c0000000-0000-4000-8000-000000000001"}, {"parentcontactid"}),
    ({"createdon": "2026-01-01T00:00:00Z"}, {"createdon"}),
    ({"new_score": 2**31}, {"new_score"}),
])
def test_when_fields_are_checked_against_the_columns_each_misfit_is_named(
    fields: dict[str, object], bad: set[str]
) -> None:
    errors = field_errors(fields, LEAD_COLUMNS, "Lead")
    assert {loc for loc, _ in errors} == {("person", "fields", name) for name in bad}
    assert all(msg for _, msg in errors)


def test_when_a_custom_identifier_comes_from_fields_the_person_is_usable() -> None:
    config = StepConfig(contact_identifiers=(("new_platformid",),))
    values = check_person(Person(fields={"new_platformid": "P-1"}), config, ["contact"])
    assert values == {"new_platformid": "P-1"}


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        (Person(first_name="Ada", last_name="Lovelace", email="ada@example.com"), "Ada Lovelace"),
        (Person(last_name="Lovelace"), "Lovelace"),
        (Person(email="ada@example.com"), "a***@example.com"),
        (Person(), "This person"),
    ],
)
def test_when_a_detail_names_the_person_the_email_is_masked(person: Person, expected: str) -> None:
    assert who(person) == expected


def test_when_lookups_are_sent_and_answered_each_group_gets_its_own_rows() -> None:
    config = StepConfig(lead_identifiers=(("emailaddress1",), ("firstname", "lastname")), default_owner=USER.lower())
    values = {"emailaddress1": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"}
    lookups = Lookups(
        people=(person_lookup("lead", config, values), person_lookup("contact", config, values)),
        owner=config.owner_candidates(None),
        others={"list": ("lists", Query(select=["listid"], filter=Filter.eq("listname", "x")))},
    )
    assert [entity for entity, _ in lookups.requests()] == ["lists", "leads", "leads", "contacts", "systemusers"]
    found = lookups.split([[{"n": 1}], [{"n": 2}], [], [{"n": 3}], [{"n": 4}]])
    assert found.rows("list") == [[{"n": 1}]]
    assert found.rows("lead") == [[{"n": 2}], []]
    assert (found.flat("contact"), found.flat("owner")) == ([{"n": 3}], [{"n": 4}])
    with pytest.raises(ValueError, match="different number"):
        lookups.split([[]])
