"""Merge (reference 12.2): subordinate deactivated and marked, children moved, seen by change tracking."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api, error_of

TRACK = {"Prefer": "odata.track-changes"}
KEYS = {"lead": "leadid", "contact": "contactid", "account": "accountid"}


def merge_body(table: str, target: str, subordinate: str, update: dict[str, Any] | None = None,
               checks: bool = False) -> dict[str, Any]:
    entity_type = f"Microsoft.Dynamics.CRM.{table}"
    return {"Target": {"@odata.type": entity_type, KEYS[table]: target},
            "Subordinate": {"@odata.type": entity_type, KEYS[table]: subordinate},
            "UpdateContent": {"@odata.type": entity_type, **(update or {})},
            "PerformParentingChecks": checks}


@pytest.mark.parametrize(("table", "entity_set", "name_column", "state", "status"), [
    ("lead", "leads", "lastname", 2, 4),
    ("contact", "contacts", "lastname", 1, 2),
    ("account", "accounts", "name", 1, 2),
])
def test_when_two_records_are_merged_the_subordinate_is_deactivated_and_points_at_the_target(
        api: Api, table: str, entity_set: str, name_column: str, state: int, status: int) -> None:
    keep, lose = api.seed({entity_set: [{name_column: "Keep"}, {name_column: "Lose"}]})[entity_set]
    response = api.post("Merge", merge_body(table, keep, lose, {"telephone1": "+44 1"}))
    assert response.status_code == 204, response.text
    assert response.content == b""
    subordinate = api.get(f"{entity_set}({lose})?$select=merged,_masterid_value,statecode,statuscode").json()
    assert (subordinate["merged"], subordinate["_masterid_value"]) == (True, keep)
    assert (subordinate["statecode"], subordinate["statuscode"]) == (state, status)
    target = api.get(f"{entity_set}({keep})?$select=merged,statecode,telephone1").json()
    assert (target["merged"], target["statecode"], target["telephone1"]) == (False, 0, "+44 1")
    assert api.get(f"{entity_set}?$filter=merged eq true&$select={KEYS[table]}").json()["value"] == [
        {"@odata.etag": subordinate["@odata.etag"], KEYS[table]: lose}]


def test_when_contacts_are_merged_their_children_move_to_the_target(api: Api) -> None:
    keep, lose = api.seed({"contacts": [{"lastname": "Keep"}, {"lastname": "Lose"}]})["contacts"]
    task = api.create("tasks", {"subject": "call", "regardingobjectid_contact_task@odata.bind": f"/contacts({lose})"})
    lead = api.create("leads", {"lastname": "L", "parentcontactid@odata.bind": f"/contacts({lose})"})
    child = api.create("contacts", {"lastname": "Child", "parentcustomerid_contact@odata.bind": f"/contacts({lose})"})
    assert api.post("Merge", merge_body("contact", keep, lose)).status_code == 204
    assert api.get(f"tasks({task})?$select=_regardingobjectid_value").json()["_regardingobjectid_value"] == keep
    assert api.get(f"leads({lead})?$select=_parentcontactid_value").json()["_parentcontactid_value"] == keep
    assert api.get(f"contacts({child})?$select=_parentcustomerid_value").json()["_parentcustomerid_value"] == keep


def test_when_merged_records_share_a_list_the_target_keeps_one_membership(api: Api) -> None:
    keep, lose = api.seed({"contacts": [{"lastname": "Keep"}, {"lastname": "Lose"}]})["contacts"]
    both = api.create("lists", {"listname": "both", "createdfromcode": 2})
    only_lose = api.create("lists", {"listname": "lose", "createdfromcode": 2})
    for list_id, member in ((both, keep), (both, lose), (only_lose, lose)):
        add = api.post(f"lists({list_id})/Microsoft.Dynamics.CRM.AddMemberList", {"EntityId": member})
        assert add.status_code == 200, add.text
    assert api.post("Merge", merge_body("contact", keep, lose)).status_code == 204
    members = {(m["_listid_value"], m["_entityid_value"]) for m in api.get("listmembers").json()["value"]}
    assert members == {(both, keep), (only_lose, keep)}
    assert api.get(f"lists({both})?$select=membercount").json()["membercount"] == 1


def test_when_a_merge_happens_change_tracking_reports_the_subordinate_as_an_update(api: Api) -> None:
    keep, lose = api.seed({"leads": [{"lastname": "Keep"}, {"lastname": "Lose"}]})["leads"]
    link = api.get("leads?$select=lastname,merged,_masterid_value", headers=TRACK).json()["@odata.deltaLink"]
    assert api.post("Merge", merge_body("lead", keep, lose)).status_code == 204
    delta = api.get(link).json()["value"]
    assert not any("reason" in item for item in delta)
    changed = {item["leadid"]: item for item in delta}
    assert changed[lose]["merged"] is True and changed[lose]["_masterid_value"] == keep
    assert keep in changed


def test_when_a_merge_is_refused_nothing_changes(api: Api) -> None:
    keep, lose = api.seed({"contacts": [{"lastname": "Keep"}, {"lastname": "Lose"}]})["contacts"]
    before = api.records("contacts")
    response = api.post("Merge", merge_body("contact", keep, lose, {"lastname": "x" * 51}))
    assert response.status_code == 400
    assert api.records("contacts") == before


@pytest.mark.parametrize(("change", "status", "fragment"), [
    (lambda b: b.pop("UpdateContent"), 400, "unresolved parameters"),
    (lambda b: b["Subordinate"].pop("@odata.type"), 400, "@odata.type"),
    (lambda b: b["Subordinate"].update({"@odata.type": "Microsoft.Dynamics.CRM.lead"}), 400, "like the 'Target'"),
    (lambda b: b["Subordinate"].update({"contactid": b["Target"]["contactid"]}), 400, "must be different"),
    (lambda b: b["Subordinate"].update({"contactid": "00000000-0000-0000-0000-00000000abcd"}), 404, "Does Not Exist"),
    (lambda b: b.update({"PerformParentingChecks": True}), 501, "not implemented"),
])
def test_when_merge_parameters_are_wrong_it_is_refused(api: Api, change: Any, status: int, fragment: str) -> None:
    keep, lose = api.seed({"contacts": [{"lastname": "Keep"}, {"lastname": "Lose"}]})["contacts"]
    body = merge_body("contact", keep, lose)
    change(body)
    response = api.post("Merge", body)
    assert response.status_code == status, response.text
    assert fragment in error_of(response)["message"]


def test_when_a_table_cannot_be_merged_or_a_record_was_merged_already_it_is_refused(api: Api) -> None:
    one, two = api.seed({"tasks": [{"subject": "a"}, {"subject": "b"}]})["tasks"]
    body = {"Target": {"@odata.type": "Microsoft.Dynamics.CRM.task", "activityid": one},
            "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.task", "activityid": two},
            "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.task"}, "PerformParentingChecks": False}
    response = api.post("Merge", body)
    assert response.status_code == 400
    assert "not supported for the entity 'task'" in error_of(response)["message"]
    keep, lose, third = api.seed({"leads": [{"lastname": "K"}, {"lastname": "L"}, {"lastname": "T"}]})["leads"]
    assert api.post("Merge", merge_body("lead", keep, lose)).status_code == 204
    again = api.post("Merge", merge_body("lead", third, lose))
    assert again.status_code == 400
    assert "already been merged" in error_of(again)["message"]


def test_when_merge_is_sent_with_get_there_is_no_such_resource(api: Api) -> None:
    assert api.get("Merge").status_code == 404
