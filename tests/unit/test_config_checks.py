"""The configuration's checks beyond its schema, pure: one writer per column, columns against metadata."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import Configuration
from shared.config_checks import metadata_errors, repeat_errors
from shared.dynamics.metadata import Column, TableColumns


def text(name: str, length: int = 100) -> Column:
    return Column(name, "String", length)


PEOPLE = [text(n) for n in ("firstname", "lastname", "emailaddress1", "jobtitle", "telephone1")]
TABLES = {
    "lead": TableColumns("lead", {c.name: c for c in [*PEOPLE, text("companyname"), Column("revenue", "Money")]}),
    "contact": TableColumns("contact", {c.name: c for c in [
        *PEOPLE, text("new_source", 5), Column("new_notes", "Memo", 2000), Column("new_count", "Integer"),
        Column("parentcustomerid", "Customer", targets=("account", "contact")), Column("donotemail", "Boolean"),
        Column("fullname", "String", 160, valid_for_create=False, valid_for_update=False)]}),
    "account": TableColumns("account", {c.name: c for c in [text("name", 160), text("websiteurl", 200)]}),
}


def config(**doc: Any) -> Configuration:
    return Configuration.model_validate(doc)


def test_when_the_document_is_the_default_nothing_is_repeated_and_every_column_fits() -> None:
    assert repeat_errors(Configuration()) == []
    assert metadata_errors(Configuration(), TABLES) == []


@pytest.mark.parametrize(("doc", "loc"), [
    ({"exportMapping": {"fixedFields": {"contact": {"new_source": "a"}}, "exportFields": {"contact": ["new_source"]}}},
     ("exportMapping", "exportFields", "contact", 0)),
    ({"exportMapping": {"engagementFields": {"account": {"websiteurl": "x"}}}},
     ("exportMapping", "engagementFields", "account", "websiteurl")),
    ({"campaignMapping": {"opens": "jobtitle"}}, ("campaignMapping", "opens")),
    ({"campaignMapping": {"opens": "new_notes", "clicks": "new_notes"}}, ("campaignMapping", "clicks")),
    ({"personFields": {"lastName": "firstname"}}, ("personFields", "lastName")),
    ({"personFields": {"company": "jobtitle"}}, ("personFields", "jobTitle")),  # company comes first
])
def test_when_a_column_is_written_twice_the_later_place_is_named(doc: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert [place for place, _ in repeat_errors(config(**doc))] == [loc]


def test_when_company_maps_to_a_column_only_the_lead_has_the_contact_is_not_asked() -> None:
    assert metadata_errors(config(personFields={"company": "companyname"}), TABLES) == []
    assert [loc for loc, _ in metadata_errors(config(personFields={"phone": "companyname"}), TABLES)] == [
        ("personFields", "phone")]


@pytest.mark.parametrize(("doc", "loc"), [
    ({"identifiers": {"lead": [["revenue"]]}}, ("identifiers", "lead", 0, 0)),
    ({"identifiers": {"contact": [["emailaddress1"], ["new_notes"]]}}, ("identifiers", "contact", 1, 0)),
    ({"campaignMapping": {"opens": "new_count"}}, ("campaignMapping", "opens")),
    ({"exportMapping": {"exportFields": {"contact": ["parentcustomerid"]}}}, ("exportMapping", "exportFields", "contact", 0)),
    ({"exportMapping": {"fixedFields": {"contact": {"fullname": "x"}}}}, ("exportMapping", "fixedFields", "contact", "fullname")),
    ({"exportMapping": {"fixedFields": {"contact": {"new_source": "toolong"}}}},
     ("exportMapping", "fixedFields", "contact", "new_source")),
    ({"exportMapping": {"engagementFields": {"contact": {"donotemail": "yes"}}}},
     ("exportMapping", "engagementFields", "contact", "donotemail")),
    ({"exportMapping": {"engagementFields": {"account": {"new_x": 1}}}},
     ("exportMapping", "engagementFields", "account", "new_x")),
])
def test_when_a_column_does_not_fit_its_place_is_named(doc: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert [place for place, _ in metadata_errors(config(**doc), TABLES)] == [loc]


def test_when_values_fit_their_columns_they_pass() -> None:
    doc = config(exportMapping={"fixedFields": {"contact": {"new_source": "abcde", "donotemail": True,
                                                            "new_count": None}},
                                "engagementFields": {"contact": {"new_count": 3}}},
                 campaignMapping={"replyAnalysis": "new_notes"})
    assert metadata_errors(doc, TABLES) == []
