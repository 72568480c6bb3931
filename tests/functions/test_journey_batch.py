"""JourneyBatch end to end: messages through the local host, results over HTTP, real Azurite and
the Dataverse emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from devtools import stack
from tests.functions.batch_helpers import Batches
from tests.functions.journey_helpers import Dynamics, Journey, new_id, person, unique_email

pytest_plugins = ["tests.functions.journey_fixtures"]


@pytest.fixture
def batches(function_host: stack.Service, function_key: str, storage_connection_string: str) -> Batches:
    return Batches(function_host.url, function_key, storage_connection_string)


def _lead(step_id: str, email: str, **more: Any) -> dict[str, Any]:
    return {"stepId": step_id, "type": "createUpdateLead", "person": person(email), "subject": "Webinar", **more}


def test_when_a_lead_is_created_then_given_an_activity_and_added_to_a_list_each_step_sees_the_one_before(
    batches: Batches, dynamics: Dynamics
) -> None:
    email, list_id, batch_id = unique_email(), new_id(), f"b-{new_id()}"
    dynamics.seed({"lists": [{"listid": list_id, "listname": "Webinar", "createdfromcode": 4}]})
    document = batches.run({"batchId": batch_id, "steps": [
        _lead("s1", email),
        {"stepId": "s2", "type": "addActivity", "person": person(email), "activity": {"type": "task", "subject": "Call"}},
        _lead("s3", email, description="Second visit"),
        {"stepId": "s4", "type": "addToMarketingList", "person": person(email), "target": "lead",
         "list": {"id": list_id}},
    ]})
    assert document["status"] == "completed"
    outcomes = [step["outcome"] for step in document["steps"]]
    assert outcomes == ["created", "activityLogged", "updated", "added"]
    lead_id = document["steps"][0]["recordId"]
    assert [step["recordId"] for step in document["steps"]] == [lead_id] * 4
    assert dynamics.members(list_id, "lead") == [lead_id]
    assert dynamics.record("leads", lead_id, "description")["description"] == "Second visit"
    assert document["counts"] == {"created": 1, "updated": 1, "skipped": 0, "activityLogged": 1, "added": 1,
                                  "alreadyMember": 0}
    assert document["failed"] == 0 and document["total"] == 4
    assert all(step["dynamicsRequests"] is None for step in document["steps"])
    assert batches.summaries(batch_id)[-1] == {"batchId": batch_id, "status": "completed", "total": 4,
                                               "counts": document["counts"], "failed": 0}


def _writes(dynamics: Dynamics) -> int:
    stats = dynamics.stats()
    return sum(count for route, count in stats["byRoute"].items() if route.startswith(("POST", "PATCH")))


def test_when_a_message_is_delivered_again_it_writes_nothing_and_the_results_stay_the_same(
    batches: Batches, dynamics: Dynamics
) -> None:
    email, batch_id = unique_email(), f"again-{new_id()}"
    message = {"batchId": batch_id, "steps": [
        _lead("s1", email),
        {"stepId": "s2", "type": "addActivity", "person": person(email), "activity": {"type": "task", "subject": "C"}},
    ]}
    first = batches.run(message)
    before = dynamics.stats()["byRoute"]
    second = batches.run(message)
    after = dynamics.stats()["byRoute"]
    assert {route: n - before.get(route, 0) for route, n in after.items() if n != before.get(route, 0)} == {}
    assert {**second, "dynamicsRequests": 0} == {**first, "dynamicsRequests": 0}
    assert batches.summaries(batch_id)[-2:] == [batches.summaries(batch_id)[-1]] * 2


def test_when_steps_are_bad_each_gets_its_own_400_at_its_place_and_the_others_run(batches: Batches) -> None:
    email, batch_id = unique_email(), f"bad-steps-{new_id()}"
    document = batches.run({"batchId": batch_id, "steps": [
        "not an object",
        {"type": "createUpdateLead", "person": person(email), "subject": "No id"},
        _lead("s1", email),
        _lead("s1", email),
        {"stepId": "s2", "type": "sendEmail", "person": person(email)},
        {"stepId": "s3", "type": "createUpdateLead", "person": {"email": "not-an-address"}},
    ]})
    steps = document["steps"]
    assert [step["outcome"] for step in steps] == ["failed", "failed", "created", "failed", "failed", "failed"]
    assert [step["stepId"] for step in steps] == [None, None, "s1", "s1", "s2", "s3"]
    assert all(step["error"]["status"] == 400 for step in steps if step["outcome"] == "failed")
    assert {tuple(e["loc"]) for e in steps[1]["error"]["errors"]} == {("stepId",)}
    assert {tuple(e["loc"]) for e in steps[4]["error"]["errors"]} == {("type",)}
    assert {tuple(e["loc"]) for e in steps[5]["error"]["errors"]} == {("subject",), ("person", "email")}
    assert document["failed"] == 5 and document["counts"]["created"] == 1 and document["total"] == 6
    assert batches.run({"batchId": batch_id, "steps": [_lead("s9", unique_email())]})["total"] == 7


def test_when_the_envelope_is_bad_no_step_runs_and_the_batch_is_rejected_with_every_problem(
    batches: Batches, dynamics: Dynamics
) -> None:
    batch_id = f"rejected-{new_id()}"
    document = batches.run({"batchId": batch_id, "steps": [], "priority": "high"})
    assert document["status"] == "rejected"
    assert document["error"]["status"] == 400
    assert {tuple(e["loc"]) for e in document["error"]["errors"]} == {("steps",), ("priority",)}
    assert document["failed"] == 0 and document["total"] == 0 and document["steps"] == []
    assert batches.summaries(batch_id)[-1]["status"] == "rejected"
    too_many = {"batchId": f"rejected-{new_id()}", "steps": [_lead(f"s{n}", "a@example.com") for n in range(5001)]}
    assert batches.run(too_many)["failed"] == 5001


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"steps": []}', '{"batchId": "bad/id", "steps": []}',
                                  '{"batchId": "claim-1", "stepsBlob": "journey-steps-blobs/missing.json"}'])
def test_when_a_message_is_unreadable_the_delivery_fails_so_the_host_retries_then_poisons_it(
    batches: Batches, text: str
) -> None:
    outcome = batches.deliver(None, raw=text)
    assert outcome["status"] == "Failed"
    assert "UnreadableMessage" in outcome["error"]


def test_when_the_steps_are_in_a_claim_check_blob_they_are_read_from_it(batches: Batches) -> None:
    email, batch_id = unique_email(), f"claim-{new_id()}"
    batches.upload("journey-steps-blobs", f"{batch_id}.json", json.dumps([_lead("s1", email)]).encode())
    document = batches.run({"batchId": batch_id, "stepsBlob": f"journey-steps-blobs/{batch_id}.json"})
    assert [step["outcome"] for step in document["steps"]] == ["created"]


def test_when_a_later_message_reuses_a_step_id_with_another_body_it_is_a_conflict_and_new_steps_append(
    batches: Batches,
) -> None:
    email, batch_id = unique_email(), f"conflict-{new_id()}"
    batches.run({"batchId": batch_id, "steps": [_lead("s1", email)]})
    document = batches.run({"batchId": batch_id, "steps": [_lead("s1", email, subject="Other"),
                                                           _lead("s2", unique_email())]})
    assert [step["stepId"] for step in document["steps"]] == ["s1", "s2"]
    assert document["steps"][0]["outcome"] == "created"  # the first body's entry stands
    assert [c["stepId"] for c in document["conflicts"]] == ["s1"]
    assert document["conflicts"][0]["error"]["status"] == 409
    assert document["conflicts"][0]["error"]["code"] == "idempotencyKeyReused"
    assert batches.summaries(batch_id)[-1]["total"] == 2


def test_the_results_are_paged_with_skip_top_and_next(batches: Batches) -> None:
    batch_id = f"paged-{new_id()}"
    batches.run({"batchId": batch_id, "steps": [
        {"stepId": f"s{n}", "type": "addActivity", "person": person(unique_email()),
         "activity": {"type": "task", "subject": "C"}} for n in range(5)]})
    first = batches.status(batch_id, skip=0, top=2).json()
    assert [step["stepId"] for step in first["steps"]] == ["s0", "s1"]
    assert first["next"] == f"/api/journey/batches/{batch_id}?skip=2&top=2"
    last = batches.status(batch_id, skip=4, top=2).json()
    assert [step["stepId"] for step in last["steps"]] == ["s4"] and last["next"] is None
    assert sum(first["counts"].values()) + first["failed"] == first["total"] == 5
    for params in ({"skip": -1}, {"top": 0}, {"top": 1001}, {"top": "x"}, {"other": 1}):
        response = batches.status(batch_id, **params)
        assert response.status_code == 400, params
        assert response.headers["content-type"].startswith("application/problem+json")
    assert batches.status(f"unknown-{new_id()}").status_code == 404
    assert batches.status("bad%20id").status_code == 400


def test_when_dynamics_throttles_the_batch_slows_down_and_every_step_completes_once(
    batches: Batches, dynamics: Dynamics
) -> None:
    emails = [unique_email() for _ in range(30)]
    dynamics.faults({"failNext": [{"status": 429, "count": 6, "retryAfter": 1}]})
    document = batches.run({"batchId": f"throttled-{new_id()}", "steps": [
        _lead(f"s{n}", email) for n, email in enumerate(emails)]})
    assert document["status"] == "completed"
    assert document["counts"]["created"] == 30 and document["failed"] == 0
    assert dynamics.stats()["throttled"] + dynamics.stats()["faults"] >= 6
    for email in emails:
        assert len(dynamics.find("leads", emailaddress1=email)) == 1


def test_when_one_record_of_a_change_set_is_refused_only_that_step_fails(
    batches: Batches, dynamics: Dynamics
) -> None:
    emails = [unique_email() for _ in range(100)]
    steps = [_lead(f"s{n}", email) for n, email in enumerate(emails)]
    steps[37]["person"]["fields"] = {"leadsourcecode": 999}  # fits the column; Dynamics has no such choice
    document = batches.run({"batchId": f"isolated-{new_id()}", "steps": steps})
    assert document["counts"]["created"] == 99 and document["failed"] == 1
    assert document["steps"][37]["error"]["status"] == 502
    assert len(dynamics.rows("leads", **{"$select": "leadid", "$filter": "subject eq 'Webinar'"})) == 99


def test_when_an_alternate_key_refuses_a_lead_the_step_fails_instead_of_claiming_a_lead_that_is_not_there(
    batches: Batches, dynamics: Dynamics
) -> None:
    taken, free = unique_email(), unique_email()
    # Dataverse answers "already exists" alike for the chosen id and for an alternate key: a qualified
    # Lead holds the address, so the step finds no open Lead, creates one, and the key refuses it.
    dynamics.seed({"$keys": {"lead": [["emailaddress1"]]},
                   "leads": [{"emailaddress1": taken, "lastname": "Old", "statecode": 1, "statuscode": 3}]})
    document = batches.run({"batchId": f"altkey-{new_id()}", "steps": [_lead("s1", taken), _lead("s2", free)]})
    assert [step["outcome"] for step in document["steps"]] == ["failed", "created"]
    assert document["steps"][0]["error"]["status"] == 502
    assert document["counts"]["created"] == 1 and document["failed"] == 1
    assert dynamics.record("leads", document["steps"][1]["recordId"], "emailaddress1")["emailaddress1"] == free


def test_a_steps_own_idempotency_key_is_honoured_in_its_http_functions_key_space(
    batches: Batches, journey: Journey, dynamics: Dynamics
) -> None:
    email, key = unique_email(), f"key-{new_id()}"
    body = {"idempotencyKey": key, "person": person(email), "subject": "Webinar"}
    first = journey.ok("lead", body)
    document = batches.run({"batchId": f"keyed-{new_id()}", "steps": [
        {"stepId": "same", "type": "createUpdateLead", **body},
        {"stepId": "other", "type": "createUpdateLead", **body, "subject": "Another body"},
    ]})
    same, other = document["steps"]
    assert same["idempotent"] is True and same["recordId"] == first["recordId"] and same["outcome"] == "created"
    assert other["outcome"] == "failed" and other["error"]["code"] == "idempotencyKeyReused"
    assert len(dynamics.find("leads", emailaddress1=email)) == 1
    batch_key = f"key-{new_id()}"
    batches.run({"batchId": f"keyed-{new_id()}", "steps": [
        {"stepId": "s", "type": "createUpdateLead", "idempotencyKey": batch_key, "person": person(unique_email()),
         "subject": "Webinar"}]})
    replay = journey.post("lead", {"idempotencyKey": batch_key, "person": person(unique_email()), "subject": "W"})
    assert replay.status_code == 409  # the batch stored its answer under the key: another body is refused


def test_when_500_steps_run_on_a_healthy_dynamics_they_make_at_most_25_requests_and_need_no_bulk_action(
    batches: Batches, dynamics: Dynamics
) -> None:
    list_id = new_id()
    known = [unique_email("known") for _ in range(100)]
    dynamics.seed({"lists": [{"listid": list_id, "listname": "Round trips", "createdfromcode": 4}],
                   "leads": [{"emailaddress1": email, "lastname": "Known"} for email in known]})
    dynamics.hook("POST", "config", {"bulkActionTables": []})  # no table offers CreateMultiple & co.
    steps: list[dict[str, Any]] = []
    for n in range(100):
        new = unique_email("new")
        steps += [
            _lead(f"create{n}", new),
            _lead(f"update{n}", known[n]),
            {"stepId": f"task{n}", "type": "addActivity", "person": person(known[n]),
             "activity": {"type": "task", "subject": "C"}},
            {"stepId": f"list{n}", "type": "addToMarketingList", "person": person(new), "target": "lead",
             "list": {"id": list_id}},
            {"stepId": f"dry{n}", "type": "createUpdateLead", "person": person(unique_email()), "subject": "D",
             "dryRun": True},
        ]
    before = dynamics.stats()["total"]
    document = batches.run({"batchId": f"round-trips-{new_id()}", "steps": steps})
    served = dynamics.stats()["total"] - before
    assert document["failed"] == 0 and document["status"] == "completed"
    assert document["counts"] == {"created": 200, "updated": 100, "skipped": 0, "activityLogged": 100,
                                  "added": 100, "alreadyMember": 0}
    assert document["dynamicsRequests"] == served
    assert served <= 25, served


def test_the_function_key_in_the_query_is_not_a_results_parameter(batches: Batches) -> None:
    batch_id = f"keyed-query-{new_id()}"
    batches.run({"batchId": batch_id, "steps": [_lead("s1", unique_email())]})
    response = requests.get(f"{batches.root}/api/journey/batches/{batch_id}",
                            params={"code": batches.key, "top": 1}, timeout=30)
    assert response.status_code == 200, response.text
