"""What a pull selects and what a message holds: pure, tables of cases."""

from __future__ import annotations

import hashlib
import json

import pytest

from shared.config import SyncSettings
from shared.sync.messages import MAX_MESSAGE_BYTES, encode, message, message_id, platform_fields
from shared.sync.selection import criteria_filter, kind_reads

TYPES = {"leadsourcecode": "Picklist", "createdon": "DateTime", "parentcontactid": "Lookup",
         "emailaddress1": "String", "statecode": "State", "new_score": "Integer"}


def selection(*criteria: dict[str, object]) -> str:
    settings = SyncSettings.model_validate({"dataConfiguration": {"lead": {"criteria": list(criteria)}}})
    return str(criteria_filter(settings.selection("lead").criteria, TYPES))


@pytest.mark.parametrize(("criterion", "text"), [
    ({"field": "leadsourcecode", "op": "eq", "value": 8}, "leadsourcecode eq 8"),
    ({"field": "leadsourcecode", "op": "in", "value": [1, 8]},
     'Microsoft.Dynamics.CRM.In(PropertyName=\'leadsourcecode\',PropertyValues=["1","8"])'),
    ({"field": "createdon", "op": "ge", "value": "2026-01-01T00:00:00+02:00"}, "createdon ge 2025-12-31T22:00:00Z"),
    ({"field": "createdon", "op": "lt", "value": "2026-01-01"}, "createdon lt 2026-01-01T00:00:00Z"),
    ({"field": "parentcontactid", "op": "eq", "value": "6F2B8C1E-3A4D-4E5F-9A0B-1C2D3E4F5A6B"},
     "_parentcontactid_value eq 6f2b8c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b"),
    ({"field": "parentcontactid", "op": "null"}, "_parentcontactid_value eq null"),
    ({"field": "emailaddress1", "op": "endsWith", "value": "@contoso.com"}, "endswith(emailaddress1,'@contoso.com')"),
    ({"field": "emailaddress1", "op": "contains", "value": "o'b_1"}, "contains(emailaddress1,'o''b[_]1')"),
])
def test_each_criterion_becomes_its_condition(criterion: dict[str, object], text: str) -> None:
    assert text in selection(criterion)


def test_active_rows_are_implied_unless_a_criterion_names_statecode_and_merged_rows_never_come() -> None:
    assert "statecode eq 0" in selection()
    assert "merged ne true" in selection()
    named = selection({"field": "statecode", "op": "in", "value": [0, 1]})
    assert "statecode eq 0" not in named and "merged ne true" in named


def test_a_kind_reads_its_system_columns_the_email_and_every_pulled_mapping() -> None:
    settings = SyncSettings.model_validate({"fieldMappings": {"lead": [
        {"platform": "firstName", "dynamics": "firstname", "direction": "both"},
        {"platform": "platformFields.score", "dynamics": "new_score", "direction": "toPlatform"},
        {"platform": "platformFields.owner", "dynamics": "parentcontactid", "direction": "toPlatform"},
        {"platform": "jobTitle", "dynamics": "jobtitle", "direction": "toDynamics"}]}})
    reads = kind_reads("lead", settings, "emailaddress1", TYPES)
    assert reads.select[:6] == ("leadid", "versionnumber", "modifiedon", "statecode", "merged", "_masterid_value")
    assert dict(reads.pulled) == {"email": "emailaddress1", "firstName": "firstname",
                                  "platformFields.score": "new_score",
                                  "platformFields.owner": "_parentcontactid_value"}
    assert "jobtitle" not in reads.select


def test_fields_are_keyed_by_platform_name_with_custom_ones_nested_and_nulls_kept() -> None:
    row = {"emailaddress1": "a@x.com", "firstname": None, "new_score": 12}
    assert platform_fields(row, {"email": "emailaddress1", "firstName": "firstname",
                                 "platformFields.score": "new_score"}) == {
        "email": "a@x.com", "firstName": None, "platformFields": {"score": 12}}


def test_a_message_has_every_member_and_its_id_is_the_hash_of_what_identifies_it() -> None:
    body = message(run_id="r", sent_at="2026-05-01T10:00:03Z", kind="unlink", reason="deleted", entity="lead",
                   dynamics_id="d", platform_contact_id=None, version=None)
    assert body == {"messageId": hashlib.sha256(b"lead|d|unlink|deleted|").hexdigest(), "runId": "r",
                    "sentAt": "2026-05-01T10:00:03Z", "kind": "unlink", "reason": "deleted", "entity": "lead",
                    "dynamicsId": "d", "platformContactId": None, "version": None, "fields": {}, "addTags": [],
                    "removeTags": [], "survivor": None}
    assert message_id("lead", "d", "upsert", "updated", 7) != message_id("lead", "d", "upsert", "updated", 8)


def test_a_message_over_64_kib_once_encoded_is_not_sent() -> None:
    small = {"fields": {"x": "a" * 1000}}
    assert json.loads(encode(small) or "") == small
    assert encode({"fields": {"x": "a" * (MAX_MESSAGE_BYTES * 3 // 4)}}) is None
