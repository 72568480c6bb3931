"""One decision logic: a mixed batch gives each step the result the HTTP function gives when the
same steps are sent one by one, in message order, on an identically seeded emulator, and leaves
the same records column by column (ids of created records mapped, timestamps aside)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools import stack
from tests.functions.batch_helpers import Batches
from tests.functions.journey_helpers import Dynamics, Journey, new_id

pytest_plugins = ["tests.functions.journey_fixtures"]

ROUTE_OF = {"createUpdateLead": "lead", "addActivity": "activity", "addToMarketingList": "list"}
# Server-set on every write: they differ between any two runs.
VOLATILE = {"createdon", "modifiedon", "versionnumber", "listmemberid", "@odata.etag"}
TABLES = ["leads", "contacts", "accounts", "tasks", "phonecalls", "lists", "listmembers"]

ACCOUNT, CONTACT1, CONTACT2 = new_id(), new_id(), new_id()
LEAD1, LEAD2A, LEAD2B = new_id(), new_id(), new_id()
LEADS_LIST, CONTACTS_LIST, DYNAMIC_LIST, MISSING_LIST = new_id(), new_id(), new_id(), new_id()
SEED = {
    "accounts": [{"accountid": ACCOUNT, "name": "Analytical Ltd"}],
    "contacts": [
        {"contactid": CONTACT1, "emailaddress1": "c1@example.com", "lastname": "One",
         "parentcustomerid_account@odata.bind": f"/accounts({ACCOUNT})"},
        {"contactid": CONTACT2, "emailaddress1": "c2@example.com", "lastname": "Two", "telephone1": "+44 1"},
    ],
    "leads": [
        {"leadid": LEAD1, "emailaddress1": "l1@example.com", "lastname": "Lead", "subject": "Old"},
        {"leadid": LEAD2A, "emailaddress1": "l2@example.com", "lastname": "A", "modifiedon": "2026-01-01T00:00:00Z"},
        {"leadid": LEAD2B, "emailaddress1": "L2@example.com", "lastname": "B", "modifiedon": "2026-02-01T00:00:00Z"},
    ],
    "lists": [
        {"listid": LEADS_LIST, "listname": "Batch leads", "createdfromcode": 4},
        {"listid": CONTACTS_LIST, "listname": "Batch contacts", "createdfromcode": 2,
         "listcontact_association@odata.bind": [f"/contacts({CONTACT1})"]},
        {"listid": DYNAMIC_LIST, "listname": "Batch dynamic", "createdfromcode": 2, "type": True},
    ],
}


def _who(email: str, **more: Any) -> dict[str, Any]:
    return {"email": email, "firstName": "Ada", "lastName": "Lovelace", **more}


def mixed_steps(key: str) -> list[dict[str, Any]]:
    """Every outcome and skip reason, a 422 list refusal, a refused column, a bad body, an
    idempotent replay, and a new Lead given an activity, updated and added to a list."""
    task = {"type": "task", "subject": "Call back"}
    return [
        {"stepId": "s01", "type": "createUpdateLead", "person": _who("c1@example.com"), "subject": "Webinar"},
        {"stepId": "s02", "type": "createUpdateLead", "person": _who("c1@example.com"), "subject": "Webinar",
         "alwaysCreateLead": True},
        {"stepId": "s03", "type": "createUpdateLead", "person": _who("l1@example.com"), "subject": "Webinar"},
        {"stepId": "s04", "type": "createUpdateLead", "person": _who("l2@example.com"), "subject": "Webinar"},
        {"stepId": "s05", "type": "createUpdateLead", "person": _who("n1@example.com", jobTitle="CTO"),
         "subject": "Webinar"},
        {"stepId": "s06", "type": "addActivity", "person": _who("N1@example.com"), "activity": task},
        {"stepId": "s07", "type": "createUpdateLead", "person": _who("n1@example.com"), "subject": "Second visit",
         "description": "Came back"},
        {"stepId": "s08", "type": "addToMarketingList", "person": _who("n1@example.com"), "target": "lead",
         "list": {"name": "Batch leads"}},
        {"stepId": "s09", "type": "addActivity", "person": _who("nobody@example.com"), "activity": task},
        {"stepId": "s10", "type": "addActivity", "person": _who("c2@example.com"), "mode": "lead", "activity": task},
        {"stepId": "s11", "type": "addActivity", "person": _who("l1@example.com"), "mode": "contact",
         "activity": task},
        {"stepId": "s12", "type": "addActivity", "person": _who("c2@example.com"),
         "activity": {"type": "phonecall", "subject": "Ring", "dueDate": "2027-03-01"}},
        {"stepId": "s13", "type": "addToMarketingList", "person": _who("c1@example.com"), "target": "contact",
         "list": {"id": CONTACTS_LIST}},
        {"stepId": "s14", "type": "addToMarketingList", "person": _who("l1@example.com"), "target": "lead",
         "list": {"id": MISSING_LIST}},
        {"stepId": "s15", "type": "addToMarketingList", "person": _who("c2@example.com"), "target": "contact",
         "list": {"id": DYNAMIC_LIST}},
        {"stepId": "s16", "type": "addToMarketingList", "person": _who("nobody@example.com"), "target": "contact",
         "list": {"id": CONTACTS_LIST}},
        {"stepId": "s17", "type": "createUpdateLead", "person": _who("n2@example.com"), "subject": "Webinar",
         "dryRun": True},
        {"stepId": "s18", "type": "createUpdateLead", "subject": "Webinar",
         "person": _who("n3@example.com", fields={"new_notacolumn": "x"})},
        {"stepId": "s19", "type": "createUpdateLead", "person": _who("n4@example.com")},
        {"stepId": "s20", "type": "createUpdateLead", "person": _who("n5@example.com"), "subject": "Webinar",
         "idempotencyKey": key},
        {"stepId": "s21", "type": "createUpdateLead", "person": _who("n5@example.com"), "subject": "Webinar",
         "idempotencyKey": key},
        {"stepId": "s22", "type": "addActivity", "person": _who("l1@example.com"),
         "activity": {"type": "task", "subject": "Follow up", "dueDate": "2027-01-15", "priority": "high"}},
        {"stepId": "s23", "type": "createUpdateLead", "person": _who("c1@example.com"), "subject": "Again",
         "alwaysCreateLead": True},
    ]


def _http_body(step: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in step.items() if name not in ("stepId", "type")}


def _snapshot(dynamics: Dynamics) -> dict[str, list[dict[str, Any]]]:
    return {table: list(dynamics.hook("GET", f"records/{table}").json()) for table in TABLES}


def _replace_ids(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value.lower(), value)
    if isinstance(value, list):
        return [_replace_ids(item, ids) for item in value]
    if isinstance(value, dict):
        return {k: _replace_ids(v, ids) for k, v in value.items() if k not in VOLATILE}
    return value


def _canonical(rows: list[dict[str, Any]], ids: dict[str, str]) -> list[str]:
    return sorted(json.dumps(_replace_ids(row, ids), sort_keys=True) for row in rows)


def test_when_a_mixed_batch_runs_each_step_gets_the_http_result_and_dynamics_ends_the_same(
    journey: Journey, batches: Batches, dynamics: Dynamics
) -> None:
    dynamics.seed(SEED)
    http_steps = mixed_steps(f"http-{new_id()}")
    http: list[dict[str, Any]] = []
    for step in http_steps:
        if step["type"] not in ROUTE_OF:
            continue
        response = journey.post(ROUTE_OF[step["type"]], _http_body(step))
        http.append({"status": response.status_code, "body": response.json()})
    after_http = _snapshot(dynamics)

    dynamics.hook("POST", "reset")
    dynamics.seed(SEED)
    batch_id = f"equivalence-{new_id()}"
    document = batches.run({"batchId": batch_id, "steps": mixed_steps(f"batch-{new_id()}")})
    after_batch = _snapshot(dynamics)

    assert document["status"] == "completed"
    entries = document["steps"]
    assert [entry["stepId"] for entry in entries] == [f"s{n:02d}" for n in range(1, 24)]
    ids: dict[str, str] = {}  # id a record got over HTTP -> id it got in the batch
    for (step, entry, answer) in zip(http_steps, entries, http, strict=True):
        assert entry["type"] == step["type"]
        if answer["status"] != 200:
            assert entry["outcome"] == "failed", (step["stepId"], entry)
            assert entry["error"] == answer["body"], step["stepId"]
            continue
        for field in ("recordId", "activityId"):
            if answer["body"][field] and answer["body"][field] != entry[field]:
                ids[answer["body"][field]] = entry[field]
        expected = {**_replace_ids(answer["body"], ids), "dynamicsRequests": None}
        actual = {name: value for name, value in entry.items() if name not in ("stepId", "type")}
        assert actual == expected, step["stepId"]
    outcomes = {entry["outcome"] for entry in entries}
    assert outcomes >= {"created", "updated", "skipped", "activityLogged", "added", "alreadyMember", "failed"}
    reasons = {entry["reason"] for entry in entries if entry["outcome"] == "skipped"}
    assert reasons == {"existsAsContact", "noMatch", "noMatchingLead", "noMatchingContact"}
    assert entries[13]["error"]["code"] == "listNotFound" and entries[13]["error"]["status"] == 422
    assert entries[17]["error"]["status"] == 400  # a column Lead lacks: refused before Dynamics
    assert entries[20]["idempotent"] is True

    for table in TABLES:
        assert _canonical(after_batch[table], {}) == _canonical(after_http[table], ids), table


@pytest.fixture
def batches(function_host: stack.Service, function_key: str, storage_connection_string: str) -> Batches:
    return Batches(function_host.url, function_key, storage_connection_string)
