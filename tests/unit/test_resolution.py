"""The resolution rules as a table: who is this person in Dynamics? No I/O.

Each row is a small Dynamics (leads and contacts), a person, the configured identifiers, and
which Lead and which Contact must win (with how many duplicates). The rows are found with
`matches()` (the rule Dataverse applies on its side) and picked with `choose()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.resolution import (
    Criterion,
    Kind,
    Match,
    choose,
    criteria,
    identifier_attributes,
    matches,
    person_attributes,
    rank,
)
from shared.steps.common import DEFAULT_PERSON_FIELDS

PERSON_FIELDS = DEFAULT_PERSON_FIELDS  # the default person field map
EMAIL = [["emailaddress1"]]
EMAIL_THEN_NAME = [["emailaddress1"], ["firstname", "lastname", "companyname"]]


def lead(n: int, email: str | None = "ada@example.com", *, state: int = 0, modified: str = "2026-01-01T00:00:00Z",
         **more: Any) -> dict[str, Any]:
    return {"leadid": f"00000000-0000-0000-0000-{n:012d}", "emailaddress1": email, "statecode": state,
            "modifiedon": modified, **more}


def contact(n: int, email: str | None = "ada@example.com", *, state: int = 0, modified: str = "2026-01-01T00:00:00Z",
            **more: Any) -> dict[str, Any]:
    return {"contactid": f"10000000-0000-0000-0000-{n:012d}", "emailaddress1": email, "statecode": state,
            "modifiedon": modified, **more}


@dataclass
class Row:
    name: str
    person: dict[str, Any]
    leads: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    lead_identifiers: list[list[str]] = field(default_factory=lambda: EMAIL)
    contact_identifiers: list[list[str]] = field(default_factory=lambda: EMAIL)
    lead: int | None = None  # the number in the winning Lead's id
    lead_duplicates: int = 0
    contact: int | None = None
    contact_duplicates: int = 0


ADA = {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "company": "Analytical"}

TABLE = [
    Row("neither a lead nor a contact", ADA),
    Row("contact exists", ADA, contacts=[contact(1)], contact=1),
    Row("lead exists", ADA, leads=[lead(1)], lead=1),
    Row("both exist", ADA, leads=[lead(1)], contacts=[contact(2)], lead=1, contact=2),
    Row("e-mail differs in case", {"email": "ADA@Example.COM"}, leads=[lead(1)], contacts=[contact(1)],
        lead=1, contact=1),
    Row("stored e-mail differs in case", {"email": "ada@example.com"},
        leads=[lead(1, "Ada@EXAMPLE.com")], lead=1),
    Row("other people only", ADA, leads=[lead(1, "grace@example.com")], contacts=[contact(1, "bob@example.com")]),
    Row("qualified lead does not count", ADA, leads=[lead(1, state=1)]),
    Row("disqualified lead does not count", ADA, leads=[lead(1, state=2)]),
    Row("inactive contact does not count", ADA, contacts=[contact(1, state=1)]),
    Row("inactive contact, open lead", ADA, leads=[lead(1)], contacts=[contact(2, state=1)], lead=1),
    Row("several of both: the latest of each, duplicates counted apart", ADA,
        leads=[lead(1, modified="2026-01-02T00:00:00Z"), lead(2), lead(3, state=2, modified="2026-09-09T00:00:00Z")],
        contacts=[contact(4), contact(5, modified="2026-01-03T00:00:00Z"), contact(6)],
        lead=1, lead_duplicates=1, contact=5, contact_duplicates=2),
    Row("open lead wins over a qualified one", ADA,
        leads=[lead(1, state=1, modified="2026-06-01T00:00:00Z"), lead(2)], lead=2),
    Row("several leads: most recently modified wins", ADA,
        leads=[lead(1, modified="2026-01-01T00:00:00Z"), lead(2, modified="2026-03-01T00:00:00Z"),
               lead(3, modified="2026-02-01T00:00:00Z")],
        lead=2, lead_duplicates=2),
    Row("several contacts: most recently modified wins", ADA,
        contacts=[contact(4, modified="2025-12-31T23:59:59Z"), contact(5, modified="2026-01-01T00:00:00Z")],
        contact=5, contact_duplicates=1),
    Row("tie on modifiedon: lowest id wins", ADA,
        leads=[lead(9), lead(3), lead(7)], lead=3, lead_duplicates=2),
    Row("offsets are compared as instants", ADA,
        leads=[lead(1, modified="2026-01-01T10:00:00+02:00"), lead(2, modified="2026-01-01T09:00:00Z")],
        lead=2, lead_duplicates=1),
    Row("second identifier set finds the lead when e-mail finds nothing", ADA,
        leads=[lead(1, "old@example.com", firstname="Ada", lastname="Lovelace", companyname="Analytical")],
        lead_identifiers=EMAIL_THEN_NAME, lead=1),
    Row("first identifier set wins over the second", ADA,
        leads=[lead(1, "old@example.com", firstname="Ada", lastname="Lovelace", companyname="Analytical",
                    modified="2026-09-01T00:00:00Z"), lead(2)],
        lead_identifiers=EMAIL_THEN_NAME, lead=2),
    Row("no e-mail given: the name set is used", {"firstName": "Ada", "lastName": "Lovelace", "company": "Analytical"},
        leads=[lead(1, None, firstname="ada", lastname="LOVELACE", companyname="Analytical")],
        lead_identifiers=EMAIL_THEN_NAME, lead=1),
    Row("set without the person's values is skipped", {"email": "ada@example.com", "firstName": "Ada"},
        leads=[lead(1, "old@example.com", firstname="Ada", lastname=None, companyname=None)],
        lead_identifiers=EMAIL_THEN_NAME),
    Row("name set compares case-insensitively", {"firstName": "ADA", "lastName": "lovelace", "company": "analytical"},
        contacts=[contact(1, None, firstname="Ada", lastname="Lovelace", companyname="Analytical")],
        contact_identifiers=[["firstname", "lastname", "companyname"]], contact=1),
    Row("lead and contact identifiers are separate", ADA,
        leads=[lead(1, "x@example.com", firstname="Ada", lastname="Lovelace", companyname="Analytical")],
        contacts=[contact(1, "x@example.com", firstname="Ada", lastname="Lovelace", companyname="Analytical")],
        lead_identifiers=EMAIL_THEN_NAME, lead=1),
    Row("quote in the address matches exactly", {"email": "o'brien@example.com"},
        leads=[lead(1, "o'brien@example.com"), lead(2, "obrien@example.com")], lead=1),
    Row("e-mail is trimmed", {"email": "  ada@example.com  "}, contacts=[contact(1)], contact=1),
    Row("custom identifier from fields", {"email": "ada@example.com", "fields": {"new_platformid": "P-1"}},
        contacts=[contact(1, "other@example.com", new_platformid="p-1")],
        contact_identifiers=[["new_platformid"], ["emailaddress1"]], contact=1),
]


def _resolve(kind: Kind, row: Row, records: Sequence[Mapping[str, Any]]) -> Match | None:
    values = person_attributes({k: v for k, v in row.person.items() if k != "fields"}, PERSON_FIELDS,
                               row.person.get("fields"))
    sets = row.lead_identifiers if kind == "lead" else row.contact_identifiers
    wanted = criteria(kind, sets, values)
    return choose(kind, [(c, [r for r in records if matches(r, c)]) for c in wanted])


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_when_person_is_resolved_the_table_rule_holds(row: Row) -> None:
    def outcome(match: Match | None) -> tuple[str, int] | None:
        return None if match is None else (match.record_id, match.duplicates)

    expected_lead = None if row.lead is None else (lead(row.lead)["leadid"], row.lead_duplicates)
    expected_contact = None if row.contact is None else (contact(row.contact)["contactid"], row.contact_duplicates)
    assert outcome(_resolve("lead", row, row.leads)) == expected_lead
    assert outcome(_resolve("contact", row, row.contacts)) == expected_contact


def test_when_values_are_blank_they_count_as_unknown() -> None:
    values = person_attributes({"email": "  ", "firstName": "Ada", "lastName": None}, PERSON_FIELDS)
    assert values == {"firstname": "Ada"}


def test_when_email_is_given_it_is_trimmed_with_case_kept() -> None:
    values = person_attributes({"email": "  Ada@Example.COM "}, PERSON_FIELDS)
    assert values == {"emailaddress1": "Ada@Example.COM"}


def test_when_a_field_is_mapped_to_nothing_it_is_not_an_attribute() -> None:
    values = person_attributes({"email": "a@example.com", "phone": "1"}, {**PERSON_FIELDS, "phone": ""})
    assert values == {"emailaddress1": "a@example.com"}


def test_when_criteria_are_built_they_follow_the_configured_order_without_repeats() -> None:
    values = {"emailaddress1": "a@example.com", "firstname": "A", "lastname": "B"}
    sets = [["firstname", "lastname"], ["emailaddress1"], ["firstname", "lastname"], ["companyname"], []]
    found = criteria("lead", sets, values)
    assert [c.attributes for c in found] == [("firstname", "lastname"), ("emailaddress1",)]
    assert found[1].conditions == (("emailaddress1", "a@example.com"),)


def test_when_a_criterion_has_a_quote_its_value_is_kept_verbatim() -> None:
    (criterion,) = criteria("contact", EMAIL, {"emailaddress1": "o'brien@example.com"})
    assert criterion == Criterion("contact", (("emailaddress1", "o'brien@example.com"),))


def test_when_rows_repeat_across_pages_they_count_once() -> None:
    ranked = rank("lead", [lead(1), lead(1), {**lead(1), "leadid": lead(1)["leadid"].upper()}])
    assert len(ranked) == 1


def test_when_modifiedon_is_missing_the_row_ranks_last() -> None:
    rows = [{"leadid": "00000000-0000-0000-0000-000000000001", "statecode": 0}, lead(2)]
    assert rank("lead", rows)[0]["leadid"].endswith("2")


def test_when_ids_differ_in_case_the_lowest_lowercase_id_wins() -> None:
    rows = [lead(1, leadid="B0000000-0000-0000-0000-000000000000"),
            lead(2, leadid="a0000000-0000-0000-0000-000000000000")]
    match = choose("lead", [(Criterion("lead", (("emailaddress1", "ada@example.com"),)), rows)])
    assert match is not None and match.record_id == "a0000000-0000-0000-0000-000000000000"


def test_when_the_first_set_finds_only_inactive_rows_the_next_set_is_tried() -> None:
    first = Criterion("lead", (("emailaddress1", "ada@example.com"),))
    second = Criterion("lead", (("firstname", "Ada"),))
    match = choose("lead", [(first, [lead(1, state=1)]), (second, [lead(2)])])
    assert match is not None and match.criterion == second and match.record_id.endswith("2")


def test_when_identifier_attributes_are_listed_every_set_counts() -> None:
    assert identifier_attributes(EMAIL_THEN_NAME) == {"emailaddress1", "firstname", "lastname", "companyname"}
