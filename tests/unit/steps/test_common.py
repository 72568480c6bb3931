"""The steps' view of the configuration document, and the person checks that depend on it. Pure."""

from __future__ import annotations

import pytest

from shared.config import Configuration
from shared.dynamics.query import Filter, Query
from shared.steps.common import (
    InvalidStepInput,
    Lookups,
    StepConfig,
    check_person,
    owner_candidates,
    person_lookup,
    who,
)
from shared.steps.models import Person

USER = "5E000000-0000-4000-8000-000000000001"


def test_when_the_document_is_the_default_the_documented_defaults_apply() -> None:
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
    config = StepConfig(lead_identifiers=(("firstname", "lastname"), ("new_platformid",)),
                        contact_identifiers=(("new_platformid",),))
    with pytest.raises(InvalidStepInput) as caught:
        check_person(Person(first_name="Ada"), config, ["lead", "contact"])
    assert caught.value.errors == [
        (("person", "lastName"), "is needed for the lead identifier firstname+lastname (no lead identifier set is filled)"),
        (("person", "fields", "new_platformid"),
         "is needed for the lead identifier new_platformid (no lead identifier set is filled)"),
        (("person", "fields", "new_platformid"),
         "is needed for the contact identifier new_platformid (no contact identifier set is filled)"),
    ]


def test_when_one_identifier_set_is_filled_the_person_is_usable_whatever_else_is_missing() -> None:
    config = StepConfig(lead_identifiers=(("firstname", "lastname"), ("new_platformid",)))
    assert check_person(Person(fields={"new_platformid": "P-1"}), config, ["lead"]) == {"new_platformid": "P-1"}


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
        owner=owner_candidates(None, config),
        others={"list": ("lists", Query(select=["listid"], filter=Filter.eq("listname", "x")))},
    )
    assert [entity for entity, _ in lookups.requests()] == ["lists", "leads", "leads", "contacts", "systemusers"]
    found = lookups.split([[{"n": 1}], [{"n": 2}], [], [{"n": 3}], [{"n": 4}]])
    assert found.rows("list") == [[{"n": 1}]]
    assert found.rows("lead") == [[{"n": 2}], []]
    assert (found.flat("contact"), found.flat("owner")) == ([{"n": 3}], [{"n": 4}])
    with pytest.raises(ValueError, match="different number"):
        lookups.split([[]])
