"""The configuration and sync-settings models: defaults, constraints, error locations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.config import Configuration, SyncSettings

DOCUMENTED_CONFIGURATION = {
    "platformName": "Platform",
    "identifiers": {"lead": [["emailaddress1"]], "contact": [["emailaddress1"]],
                    "company": [["name"], ["websiteurl"]]},
    "personFields": {"firstName": "firstname", "lastName": "lastname", "email": "emailaddress1",
                     "company": "companyname", "jobTitle": "jobtitle", "phone": "telephone1"},
    "exportMapping": {"fixedFields": {"contact": {}, "account": {}},
                      "exportFields": {"contact": [], "account": []},
                      "engagementFields": {"contact": {}, "account": {}}},
    "campaignMapping": {"sequenceDetails": None, "engagementStatus": None, "opens": None, "clicks": None,
                        "openAnalysis": None, "clickAnalysis": None, "replyAnalysis": None},
    "userMapping": {"identities": {}, "defaultOwner": None},
}

BOTH_NAMES = [{"platform": "firstName", "dynamics": "firstname", "direction": "both"},
              {"platform": "lastName", "dynamics": "lastname", "direction": "both"}]
DOCUMENTED_SYNC = {
    "globalSync": True, "frequencyHours": 1, "conflictPolicy": "dynamicsWins",
    "dataConfiguration": {"contact": {"enabled": False, "criteria": []},
                          "lead": {"enabled": False, "criteria": []}},
    "fieldMappings": {"contact": BOTH_NAMES, "lead": BOTH_NAMES},
}
EXAMPLE_SYNC = {
    "globalSync": True, "frequencyHours": 4, "conflictPolicy": "dynamicsWins",
    "dataConfiguration": {"contact": {"enabled": False, "criteria": []},
                          "lead": {"enabled": True, "criteria": [
                              {"field": "leadsourcecode", "op": "eq", "value": 8},
                              {"field": "emailaddress1", "op": "endsWith", "value": "@contoso.com"}]}},
    "fieldMappings": {"contact": [],
                      "lead": [{"platform": "email", "dynamics": "emailaddress1", "direction": "both"},
                               {"platform": "platformFields.score", "dynamics": "new_score",
                                "direction": "toDynamics"}]},
}


def errors(model: Any, data: Any) -> dict[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate_json(json.dumps(data))
    return {tuple(e["loc"]): e["type"] for e in raised.value.errors()}


def test_configuration_defaults_are_the_documented_ones() -> None:
    # Identity values must be GUIDs, so the default has no identities.
    assert json.loads(Configuration().model_dump_json()) == DOCUMENTED_CONFIGURATION


def test_docs_http_shows_both_defaults_as_they_are() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "HTTP.md").read_text(encoding="utf-8")
    section = page[page.index("The defaults (what `GET` answers"):]
    blocks = re.findall(r"```json\n(.*?)```", section, re.DOTALL)[:2]
    assert [json.loads(block) for block in blocks] == [DOCUMENTED_CONFIGURATION, DOCUMENTED_SYNC]



def test_sync_settings_defaults_are_the_documented_ones() -> None:
    assert json.loads(SyncSettings().model_dump_json()) == DOCUMENTED_SYNC


def test_the_documented_sync_example_round_trips() -> None:
    assert json.loads(SyncSettings.model_validate_json(json.dumps(EXAMPLE_SYNC)).model_dump_json()) == EXAMPLE_SYNC


def test_an_empty_document_validates_to_the_defaults() -> None:
    assert Configuration.model_validate_json("{}") == Configuration()
    assert SyncSettings.model_validate_json("{}") == SyncSettings()


def test_a_full_configuration_round_trips() -> None:
    doc = {
        **DOCUMENTED_CONFIGURATION,
        "identifiers": {"lead": [["emailaddress1"], ["firstname", "lastname", "companyname"]],
                        "contact": [["emailaddress1"]], "company": [["name"]]},
        "exportMapping": {"fixedFields": {"contact": {"new_source": "platform", "new_score": 3}, "account": {}},
                          "exportFields": {"contact": ["new_segment"], "account": ["industrycode"]},
                          "engagementFields": {"contact": {"new_engaged": True}, "account": {}}},
        "campaignMapping": {**DOCUMENTED_CONFIGURATION["campaignMapping"], "opens": "new_opens"},  # type: ignore[dict-item]
        "userMapping": {"identities": {"u-17": "0b7a1b7e-0000-4000-8000-000000000001"},
                        "defaultOwner": "0b7a1b7e-0000-4000-8000-000000000002"},
    }
    assert json.loads(Configuration.model_validate_json(json.dumps(doc)).model_dump_json()) == doc


def test_guids_are_stored_lowercase() -> None:
    doc = {"userMapping": {"defaultOwner": "0B7A1B7E-0000-4000-8000-00000000000A"}}
    assert Configuration.model_validate_json(json.dumps(doc)).user_mapping.default_owner == (
        "0b7a1b7e-0000-4000-8000-00000000000a"
    )


@pytest.mark.parametrize(
    ("doc", "loc", "kind"),
    [
        ({"platformName": 1}, ("platformName",), "string_type"),
        ({"platformName": ""}, ("platformName",), "string_too_short"),
        ({"identifiers": {"lead": []}}, ("identifiers", "lead"), "too_short"),
        ({"identifiers": {"lead": [[]]}}, ("identifiers", "lead", 0), "too_short"),
        ({"identifiers": {"lead": [[""]]}}, ("identifiers", "lead", 0, 0), "string_too_short"),
        ({"identifiers": {"lead": [["Email Address"]]}}, ("identifiers", "lead", 0, 0), "value_error"),
        ({"identifiers": {"lead": "emailaddress1"}}, ("identifiers", "lead"), "list_type"),
        ({"identifiers": {"company": [["name", "name"]]}}, ("identifiers", "company", 0), "value_error"),
        ({"identifiers": {"account": [["name"]]}}, ("identifiers", "account"), "extra_forbidden"),
        ({"personFields": {"email": "E-mail"}}, ("personFields", "email"), "value_error"),
        ({"exportMapping": {"fixedFields": {"contact": {"Bad Name": 1}}}},
         ("exportMapping", "fixedFields", "contact", "Bad Name", "[key]"), "value_error"),
        ({"exportMapping": {"exportFields": {"contact": ["a", "a"]}}},
         ("exportMapping", "exportFields", "contact"), "value_error"),
        ({"campaignMapping": {"opens": 3}}, ("campaignMapping", "opens"), "string_type"),
        ({"userMapping": {"defaultOwner": "someone"}}, ("userMapping", "defaultOwner"), "value_error"),
        ({"userMapping": {"identities": {"u1": "x"}}}, ("userMapping", "identities", "u1"), "value_error"),
        ({"platform_name": "snake"}, ("platform_name",), "extra_forbidden"),
        ({"unknown": 1}, ("unknown",), "extra_forbidden"),
    ],
)
def test_configuration_rejects(doc: dict[str, Any], loc: tuple[Any, ...], kind: str) -> None:
    assert errors(Configuration, doc) == {loc: kind}


@pytest.mark.parametrize(
    ("doc", "loc", "kind"),
    [
        ({"globalSync": "true"}, ("globalSync",), "bool_type"),
        ({"globalSync": 1}, ("globalSync",), "bool_type"),
        ({"frequencyHours": 3}, ("frequencyHours",), "literal_error"),
        ({"frequencyHours": "1"}, ("frequencyHours",), "literal_error"),
        ({"conflictPolicy": "newest"}, ("conflictPolicy",), "literal_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "like", "value": 1}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "op"), "literal_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"op": "eq", "value": 1}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "field"), "missing"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "eq"}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "value"), "value_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "null", "value": 1}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "value"), "value_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "in", "value": []}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "value"), "value_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "contains", "value": 5}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "value"), "value_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "gt", "value": True}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "value"), "value_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "eq", "value": 1, "raw": "1 eq 1"}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "raw"), "extra_forbidden"),
        ({"dataConfiguration": {"account": {}}}, ("dataConfiguration", "account"), "extra_forbidden"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "endsWith", "value": ""}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "value"), "value_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "In", "value": [1]}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "op"), "literal_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "in", "value": list(range(101))}]}}},
         ("dataConfiguration", "lead", "criteria", 0, "value"), "value_error"),
        ({"dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "null"}] * 21}}},
         ("dataConfiguration", "lead", "criteria"), "too_long"),
        ({"fieldMappings": {"lead": [{"platform": "email", "dynamics": "x", "direction": "up"}]}},
         ("fieldMappings", "lead", 0, "direction"), "literal_error"),
        ({"fieldMappings": {"lead": [{"platform": "email", "dynamics": "x"}]}},
         ("fieldMappings", "lead", 0, "direction"), "missing"),
        ({"fieldMappings": {"lead": [{"platform": "email", "dynamics": "x", "direction": "both"},
                                     {"platform": "phone", "dynamics": "x", "direction": "both"}]}},
         ("fieldMappings", "lead"), "value_error"),
        ({"fieldMappings": {"contact": [{"platform": "phone", "dynamics": "x", "direction": "both"},
                                        {"platform": "phone", "dynamics": "y", "direction": "toPlatform"}]}},
         ("fieldMappings", "contact"), "value_error"),
        ({"fieldMappings": {"lead": [{"platform": "score", "dynamics": "x", "direction": "both"}]}},
         ("fieldMappings", "lead", 0, "platform"), "value_error"),
        ({"fieldMappings": {"lead": [{"platform": "platformFields.a-b", "dynamics": "x", "direction": "both"}]}},
         ("fieldMappings", "lead", 0, "platform"), "value_error"),
        ({"fieldMappings": {"lead": [{"platform": "platformFields.", "dynamics": "x", "direction": "both"}]}},
         ("fieldMappings", "lead", 0, "platform"), "value_error"),
        ({"fieldMappings": {"lead": [{"dynamics": "x", "direction": "both"}]}},
         ("fieldMappings", "lead", 0, "platform"), "missing"),
        ({"fieldMappings": {"lead": [{"platform": "email", "dynamics": "x", "direction": "both"}] * 201}},
         ("fieldMappings", "lead"), "too_long"),
    ],
)
def test_sync_settings_reject(doc: dict[str, Any], loc: tuple[Any, ...], kind: str) -> None:
    assert errors(SyncSettings, doc) == {loc: kind}


@pytest.mark.parametrize(
    "criterion",
    [
        {"field": "statecode", "op": "eq", "value": 0},
        {"field": "statecode", "op": "ne", "value": "x"},
        {"field": "revenue", "op": "ge", "value": 10.5},
        {"field": "createdon", "op": "lt", "value": "2026-01-01T00:00:00Z"},
        {"field": "leadsourcecode", "op": "in", "value": [1, 2, 8]},
        {"field": "parentcustomerid", "op": "null"},
        {"field": "parentcustomerid", "op": "notNull", "value": None},
        {"field": "emailaddress1", "op": "contains", "value": "@example.com"},
        {"field": "fullname", "op": "startsWith", "value": "A"},
        {"field": "emailaddress1", "op": "endsWith", "value": "@contoso.com"},
        {"field": "donotemail", "op": "eq", "value": False},
    ],
)
def test_every_criteria_op_is_accepted_in_its_shape(criterion: dict[str, Any]) -> None:
    SyncSettings.model_validate_json(json.dumps({"dataConfiguration": {"contact": {"criteria": [criterion]}}}))


@pytest.mark.parametrize("hours", [1, 2, 4, 6, 8, 12, 24])
def test_every_allowed_frequency_is_accepted(hours: int) -> None:
    assert SyncSettings.model_validate_json(json.dumps({"frequencyHours": hours})).frequency_hours == hours


def test_a_repeated_mapping_names_every_repeat() -> None:
    doc = {"fieldMappings": {"lead": [{"platform": "email", "dynamics": "emailaddress1", "direction": "both"},
                                      {"platform": "email", "dynamics": "emailaddress2", "direction": "both"},
                                      {"platform": "phone", "dynamics": "emailaddress1", "direction": "both"}]}}
    with pytest.raises(ValidationError) as raised:
        SyncSettings.model_validate_json(json.dumps(doc))
    message = raised.value.errors()[0]["msg"]
    assert "item 1 repeats platform 'email' of item 0" in message
    assert "item 2 repeats dynamics 'emailaddress1' of item 0" in message


@pytest.mark.parametrize("policy", ["dynamicsWins", "platformWins", "newestWins"])
def test_every_conflict_policy_is_accepted(policy: str) -> None:
    assert SyncSettings.model_validate_json(json.dumps({"conflictPolicy": policy})).conflict_policy == policy


def test_several_bad_fields_are_all_reported() -> None:
    found = errors(SyncSettings, {"globalSync": None, "frequencyHours": 5, "conflictPolicy": 1, "x": 1})
    assert set(found) == {("globalSync",), ("frequencyHours",), ("conflictPolicy",), ("x",)}
