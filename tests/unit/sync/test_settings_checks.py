"""Sync settings against column metadata, and what a saved change starts: tables of cases, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from shared.config import SyncSettings
from shared.sync.settings_checks import InitialSyncRequest, initial_sync_started, metadata_errors


@dataclass(frozen=True)
class Col:
    type: str
    valid_for_create: bool = True
    valid_for_update: bool = True


COLUMNS = {
    "firstname": Col("String"), "lastname": Col("String"), "emailaddress1": Col("String"),
    "description": Col("Memo"), "leadsourcecode": Col("Picklist"), "statecode": Col("State"),
    "numberofemployees": Col("Integer"), "revenue": Col("Money"), "donotemail": Col("Boolean"),
    "createdon": Col("DateTime", False, False), "parentcontactid": Col("Lookup"),
    "leadid": Col("Uniqueidentifier", True, False), "fullname": Col("String", False, False),
    "entityimage": Col("Virtual"),
}
TABLES = {"lead": COLUMNS, "contact": COLUMNS}


def settings(**kinds: Any) -> SyncSettings:
    doc: dict[str, Any] = {"dataConfiguration": {}, "fieldMappings": {}}
    for kind, (criteria, mappings) in kinds.items():
        doc["dataConfiguration"][kind] = {"enabled": True, "criteria": criteria}
        if mappings is not None:
            doc["fieldMappings"][kind] = mappings
    return SyncSettings.model_validate(doc)


def criterion_errors(criterion: dict[str, Any]) -> list[dict[str, Any]]:
    return metadata_errors(settings(lead=([criterion], None)), TABLES)


@pytest.mark.parametrize("criterion", [
    {"field": "leadsourcecode", "op": "eq", "value": 8},
    {"field": "leadsourcecode", "op": "in", "value": [1, 8]},
    {"field": "statecode", "op": "eq", "value": 1},
    {"field": "emailaddress1", "op": "endsWith", "value": "@contoso.com"},
    {"field": "description", "op": "contains", "value": "vip"},
    {"field": "numberofemployees", "op": "ge", "value": 10},
    {"field": "revenue", "op": "lt", "value": 1000.5},
    {"field": "createdon", "op": "gt", "value": "2026-01-01T00:00:00Z"},
    {"field": "createdon", "op": "le", "value": "2026-01-01"},
    {"field": "donotemail", "op": "eq", "value": False},
    {"field": "parentcontactid", "op": "eq", "value": "6f2b8c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b"},
    {"field": "parentcontactid", "op": "null"},
    {"field": "leadid", "op": "ne", "value": "6F2B8C1E-3A4D-4E5F-9A0B-1C2D3E4F5A6B"},
])
def test_when_a_criterion_fits_its_column_it_passes(criterion: dict[str, Any]) -> None:
    assert criterion_errors(criterion) == []


@pytest.mark.parametrize(("criterion", "part", "words"), [
    ({"field": "nosuch", "op": "null"}, "field", "no column 'nosuch'"),
    ({"field": "entityimage", "op": "notNull"}, "field", "cannot be used in criteria"),
    ({"field": "leadsourcecode", "op": "eq", "value": "Web"}, "value", "an integer (no labels)"),
    ({"field": "leadsourcecode", "op": "in", "value": [8, "Web"]}, "value", "each value must be an integer"),
    ({"field": "leadsourcecode", "op": "gt", "value": 3}, "op", "needs a number or date column"),
    ({"field": "numberofemployees", "op": "eq", "value": 1.5}, "value", "an integer"),
    ({"field": "numberofemployees", "op": "contains", "value": "1"}, "op", "needs a String or Memo column"),
    ({"field": "revenue", "op": "eq", "value": "10"}, "value", "a number"),
    ({"field": "donotemail", "op": "eq", "value": 0}, "value", "a boolean"),
    ({"field": "donotemail", "op": "ge", "value": 1}, "op", "needs a number or date column"),
    ({"field": "createdon", "op": "gt", "value": "yesterday"}, "value", "an ISO 8601 date"),
    ({"field": "createdon", "op": "gt", "value": 20260101}, "value", "an ISO 8601 date"),
    ({"field": "parentcontactid", "op": "eq", "value": "not-a-guid"}, "value", "a GUID string"),
    ({"field": "emailaddress1", "op": "eq", "value": 5}, "value", "a string"),
    ({"field": "emailaddress1", "op": "gt", "value": 5}, "op", "needs a number or date column"),
])
def test_when_a_criterion_does_not_fit_its_column_it_is_named(criterion: dict[str, Any], part: str,
                                                               words: str) -> None:
    found = criterion_errors(criterion)
    assert [e["loc"] for e in found] == [["dataConfiguration", "lead", "criteria", 0, part]]
    assert words in found[0]["msg"]


@pytest.mark.parametrize(("mapping", "words"), [
    ({"platform": "email", "dynamics": "nosuch", "direction": "toPlatform"}, "no column 'nosuch'"),
    ({"platform": "firstName", "dynamics": "fullname", "direction": "both"}, "cannot be written"),
    ({"platform": "platformFields.c", "dynamics": "createdon", "direction": "toDynamics"}, "cannot be written"),
    ({"platform": "platformFields.p", "dynamics": "parentcontactid", "direction": "both"}, "cannot be written"),
    ({"platform": "platformFields.i", "dynamics": "leadid", "direction": "toDynamics"}, "cannot be written"),
])
def test_when_a_mapping_does_not_fit_its_column_it_is_named(mapping: dict[str, Any], words: str) -> None:
    found = metadata_errors(settings(contact=([], [mapping])), TABLES)
    assert [e["loc"] for e in found] == [["fieldMappings", "contact", 0, "dynamics"]]
    assert words in found[0]["msg"]


def test_when_read_only_columns_only_flow_to_the_platform_they_pass() -> None:
    mappings = [{"platform": "platformFields.created", "dynamics": "createdon", "direction": "toPlatform"},
                {"platform": "platformFields.owner", "dynamics": "parentcontactid", "direction": "toPlatform"}]
    assert metadata_errors(settings(lead=([], mappings)), TABLES) == []


def test_when_several_things_are_wrong_each_is_listed() -> None:
    doc = settings(lead=([{"field": "nosuch", "op": "null"}, {"field": "leadsourcecode", "op": "eq", "value": "x"}],
                         [{"platform": "email", "dynamics": "other", "direction": "both"}]),
                   contact=([{"field": "revenue", "op": "contains", "value": "1"}], None))
    assert [e["loc"] for e in metadata_errors(doc, TABLES)] == [
        ["dataConfiguration", "lead", "criteria", 0, "field"],
        ["dataConfiguration", "lead", "criteria", 1, "value"],
        ["fieldMappings", "lead", 0, "dynamics"],
        ["dataConfiguration", "contact", "criteria", 0, "op"],
    ]


def doc(global_sync: bool = True, lead: bool = True, contact: bool = False,
        lead_criteria: list[dict[str, Any]] | None = None, lead_mappings: list[dict[str, Any]] | None = None
        ) -> SyncSettings:
    data: dict[str, Any] = {"globalSync": global_sync, "dataConfiguration": {
        "lead": {"enabled": lead, "criteria": lead_criteria or []}, "contact": {"enabled": contact}}}
    if lead_mappings is not None:
        data["fieldMappings"] = {"lead": lead_mappings}
    return SyncSettings.model_validate(data)


SCORE = {"platform": "platformFields.score", "dynamics": "numberofemployees", "direction": "toPlatform"}
PUSHED = {"platform": "platformFields.score", "dynamics": "numberofemployees", "direction": "toDynamics"}
WEB = [{"field": "leadsourcecode", "op": "eq", "value": 8}]
NAMES = [{"platform": "firstName", "dynamics": "firstname", "direction": "both"},
         {"platform": "lastName", "dynamics": "lastname", "direction": "both"}]


@pytest.mark.parametrize(("before", "after", "started"), [
    (doc(global_sync=False), doc(), InitialSyncRequest(everything=True)),
    (doc(global_sync=False, lead=False), doc(lead=False), InitialSyncRequest(everything=True)),
    (doc(), doc(), InitialSyncRequest()),
    (doc(), doc(global_sync=False), InitialSyncRequest()),
    (doc(global_sync=False), doc(global_sync=False, contact=True), InitialSyncRequest()),
    (doc(), doc(contact=True), InitialSyncRequest(kinds=frozenset({"contact"}))),
    (doc(), doc(lead=False), InitialSyncRequest()),
    (doc(), doc(lead_criteria=WEB), InitialSyncRequest(kinds=frozenset({"lead"}))),
    (doc(lead=False), doc(lead=False, lead_criteria=WEB), InitialSyncRequest()),
    (doc(), doc(lead_mappings=[*NAMES, SCORE]), InitialSyncRequest(kinds=frozenset({"lead"}))),
    (doc(), doc(lead_mappings=[*NAMES, PUSHED]), InitialSyncRequest()),
    (doc(), doc(lead_mappings=NAMES[:1]), InitialSyncRequest()),
    (doc(lead_criteria=WEB), doc(lead_criteria=WEB, contact=True, lead_mappings=[*NAMES, SCORE]),
     InitialSyncRequest(kinds=frozenset({"lead", "contact"}))),
])
def test_what_a_saved_change_starts(before: SyncSettings, after: SyncSettings, started: InitialSyncRequest) -> None:
    assert initial_sync_started(before, after) == started
