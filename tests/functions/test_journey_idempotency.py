"""Idempotency keys on the three journey steps, over real HTTP, real Azurite and the emulator:
replay, reuse with another body, scope per endpoint, failures released for a retry, and a host
that dies after its Dynamics write but before storing its answer."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools import stack
from shared.store import IdempotencyStore, StorageClients, body_hash
from tests.functions.journey_helpers import (
    Case,
    Counter,
    Dynamics,
    Journey,
    assert_step_result,
    keyed_case,
    new_id,
    person,
    unique_email,
)

pytest_plugins = ("tests.functions.journey_fixtures",)


def lead_body(email: str, key: str, **changes: Any) -> dict[str, Any]:
    return {"idempotencyKey": key, "person": person(email), "subject": "Webinar", **changes}


def test_when_a_key_is_replayed_the_first_response_returns_and_nothing_is_written(
    journey: Journey, dynamics: Dynamics
) -> None:
    email, key = unique_email(), new_id()
    first = journey.ok("lead", lead_body(email, key))
    assert first["outcome"] == "created" and first["idempotent"] is False
    counter = Counter(dynamics)
    # Same JSON once parsed: other key order and spacing.
    raw = ('{ "subject" : "Webinar", "person": {"lastName": "Lovelace", "firstName": "Ada", "email": "'
           + email + '"}, "idempotencyKey": "' + key + '" }').encode()
    replay = journey.post("lead", None, raw=raw)
    assert replay.status_code == 200, replay.text
    assert replay.json() == {**first, "idempotent": True}
    assert counter.total() == 0
    assert len(dynamics.find("leads", emailaddress1=email)) == 1


def test_when_a_key_is_reused_with_another_body_it_is_a_409(journey: Journey, dynamics: Dynamics) -> None:
    email, key = unique_email(), new_id()
    journey.ok("lead", lead_body(email, key))
    counter = Counter(dynamics)
    response = journey.post("lead", lead_body(email, key, subject="Other subject"))
    assert response.status_code == 409
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "idempotencyKeyReused"
    assert counter.total() == 0


def test_when_the_same_key_is_used_on_another_endpoint_it_is_a_new_request(
    journey: Journey, dynamics: Dynamics
) -> None:
    email, key = unique_email(), new_id()
    lead = journey.ok("lead", lead_body(email, key))
    activity = journey.ok("activity", {"idempotencyKey": key, "person": person(email),
                                       "activity": {"type": "task", "subject": "Call"}})
    assert (activity["outcome"], activity["recordId"], activity["idempotent"]) == (
        "activityLogged", lead["recordId"], False)
    again = journey.ok("activity", {"idempotencyKey": key, "person": person(email),
                                    "activity": {"type": "task", "subject": "Call"}})
    assert again == {**activity, "idempotent": True}
    assert len(dynamics.rows("tasks", **{"$filter": f"_regardingobjectid_value eq {lead['recordId']}"})) == 1


def test_when_a_list_step_is_replayed_the_member_is_not_added_twice(journey: Journey, dynamics: Dynamics) -> None:
    email, key, list_id, contact_id = unique_email(), new_id(), new_id(), new_id()
    dynamics.seed({"lists": [{"listid": list_id, "listname": "Newsletter", "createdfromcode": 2}],
                   "contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "L"}]})
    body = {"idempotencyKey": key, "person": person(email), "target": "contact", "list": {"id": list_id}}
    first = journey.ok("list", body)
    assert first["outcome"] == "added"
    assert journey.ok("list", body) == {**first, "idempotent": True}
    assert dynamics.members(list_id, "contact") == [contact_id]


def test_when_a_step_is_refused_the_key_is_released_for_a_retry(journey: Journey, dynamics: Dynamics) -> None:
    email, key, list_id, contact_id = unique_email(), new_id(), new_id(), new_id()
    dynamics.seed({"lists": [{"listid": list_id, "listname": "Newsletter", "createdfromcode": 2,
                              "lockstatus": True}],
                   "contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "L"}]})
    body = {"idempotencyKey": key, "person": person(email), "target": "contact", "list": {"id": list_id}}
    refused = journey.post("list", body)
    assert (refused.status_code, refused.json()["code"]) == (422, "listLocked")
    response = requests.patch(f"{dynamics.api}lists({list_id})", json={"lockstatus": False},
                              headers={**dynamics.headers, "Content-Type": "application/json", "If-Match": "*"},
                              timeout=10)
    assert response.status_code == 204, response.text
    retried = journey.ok("list", body)
    assert (retried["outcome"], retried["idempotent"]) == ("added", False)


def test_when_dynamics_fails_the_key_is_released_and_the_retry_writes_once(
    journey: Journey, dynamics: Dynamics
) -> None:
    email, key = unique_email(), new_id()
    dynamics.faults({"failNext": [{"status": 400, "code": "0x80040265", "message": "A plug-in refused it.",
                                   "method": "POST", "path": "leads", "count": 1}]})
    failed = journey.post("lead", lead_body(email, key))
    assert failed.status_code == 502, failed.text
    assert "0x80040265" in failed.json()["detail"]
    created = journey.ok("lead", lead_body(email, key))
    assert (created["outcome"], created["idempotent"]) == ("created", False)
    assert len(dynamics.find("leads", emailaddress1=email)) == 1


def test_when_a_key_is_in_progress_retry_after_reflects_how_long_the_first_attempt_has_run(
    journey: Journey, dynamics: Dynamics, storage_connection_string: str
) -> None:
    """A claim taken 30 s ago (as by an attempt still waiting on a throttled Dynamics): the retry
    is told to come back in about as long again, not in a fixed few seconds."""
    email, key = unique_email(), new_id()
    body = lead_body(email, key)
    table = StorageClients.from_connection_string(storage_connection_string).table("idempotency")
    started = datetime.now(UTC) - timedelta(seconds=30)
    IdempotencyStore(table, clock=lambda: started).begin("CreateUpdateLead", key, body_hash(body))
    counter = Counter(dynamics)
    in_progress = journey.post("lead", body)
    assert in_progress.status_code == 409 and in_progress.json()["code"] == "idempotencyKeyInProgress"
    assert 30 <= int(in_progress.headers["Retry-After"]) <= 60
    assert counter.total() == 0


def test_when_a_dry_run_carries_a_key_nothing_is_stored(journey: Journey, dynamics: Dynamics) -> None:
    email, key = unique_email(), new_id()
    dry = journey.ok("lead", lead_body(email, key, dryRun=True))
    assert dry["dryRun"] is True
    real = journey.ok("lead", lead_body(email, key))  # other body (no dryRun), same key: not a conflict
    assert (real["outcome"], real["idempotent"], real["dryRun"]) == ("created", False, False)


def test_when_a_write_lands_but_its_answer_is_lost_the_client_retry_reports_it(
    journey: Journey, dynamics: Dynamics
) -> None:
    """Dynamics commits the create and the connection drops: the create's derived id makes it safe."""
    email, key = unique_email(), new_id()
    dynamics.faults({"failNext": [{"method": "POST", "path": "leads", "drop": True, "after": True, "count": 1}]})
    created = journey.ok("lead", lead_body(email, key))
    assert created["outcome"] == "created"
    # The look-up, the create whose answer was lost, its retry meeting 412, the read finding the derived id.
    assert created["dynamicsRequests"] == 4
    leads = dynamics.find("leads", emailaddress1=email)
    assert [row["leadid"] for row in leads] == [created["recordId"]]


# -- the host dies between the Dynamics write and the stored answer --------------------------------

LEASE_SECONDS = 5


@pytest.fixture
def fragile_host(stack_logs: Path, azurite: stack.Service, emulator: stack.Service, function_key: str) -> Any:
    """A host of its own (short idempotency lease, own table) that a test may kill and restart."""
    env = {**azurite.env, **emulator.env, "LOCAL_FUNCTION_KEY": function_key,
           "IDEMPOTENCY_LEASE_SECONDS": str(LEASE_SECONDS), "PERSON_LOCK_LEASE_SECONDS": str(LEASE_SECONDS),
           "IDEMPOTENCY_TABLE": f"crash{new_id()[:8]}"}
    hosts: list[stack.Service] = []

    def start() -> stack.Service:
        hosts.append(stack.start_function_host(stack_logs, env))
        return hosts[-1]

    yield start
    for host in hosts:
        host.stop()


def _crash_after_write(dynamics: Dynamics, journey: Journey, host: stack.Service, step: str, case: Case) -> None:
    """Send the step, let Dynamics commit its write, then kill the host before it can answer.

    The emulator answers the write with a 429 *after* committing it, asking for a 25 s wait: the
    host's client sits in that wait (holding the pending idempotency claim) when it is killed.
    """
    dynamics.faults({"failNext": [{"method": "POST", "path": case.write_path, "status": 429, "retryAfter": 25,
                                   "after": True, "count": 1}]})

    def send() -> None:
        with contextlib.suppress(requests.RequestException):  # the host dies mid-request
            journey.post(step, case.body, timeout=60)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not case.written(dynamics) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert case.written(dynamics), "the write never reached Dynamics"
    host.process.kill()
    host.process.wait(timeout=10)
    thread.join(timeout=10)
    dynamics.faults({})


def _retry_until_done(journey: Journey, step: str, body: dict[str, Any]) -> dict[str, Any]:
    in_progress = journey.post(step, body)
    assert in_progress.status_code == 409, in_progress.text  # the dead attempt's claim is still leased
    assert in_progress.json()["code"] == "idempotencyKeyInProgress"
    assert int(in_progress.headers["Retry-After"]) >= 1
    deadline = time.monotonic() + LEASE_SECONDS + 20
    while time.monotonic() < deadline:
        response = journey.post(step, body)
        if response.status_code == 200:
            assert_step_result(response.json())
            return dict(response.json())
        assert response.status_code == 409, response.text
        time.sleep(float(response.headers.get("Retry-After", "1")))
    raise AssertionError("the retry never succeeded")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "outcome", "retry_requests"),
    [
        # The retry's look-up finds the Lead with the id derived from the key: no write.
        ("lead", "created", 1),
        # The retry's create meets 412 and a read finds its derived id: the Task is the earlier one.
        ("activity", "activityLogged", 3),
        # The retry's look-up finds the person on the list: membership has no id to derive.
        ("list", "alreadyMember", 1),
    ],
)
def test_when_the_host_dies_after_the_dynamics_write_the_retry_reports_it_without_writing_twice(
    dynamics: Dynamics, fragile_host: Any, function_key: str, step: str, outcome: str, retry_requests: int,
) -> None:
    case = keyed_case(step, dynamics)
    host = fragile_host()
    _crash_after_write(dynamics, Journey(host.url, function_key), host, step, case)
    first = case.written(dynamics)
    assert len(first) == 1
    result = _retry_until_done(Journey(fragile_host().url, function_key), step, case.body)
    assert (result["outcome"], result[case.id_field], result["idempotent"]) == (outcome, first[0], False)
    assert result["dynamicsRequests"] == retry_requests
    assert case.written(dynamics) == first
