"""Exactly once: the worker process (the local host) is killed at each point of a delivery and
the message delivered again; nothing is written twice and the results end the same. Also: the
same message delivered twice at once, and a hand-over when a delivery runs out of time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools import stack
from shared.journey_batch.service import CRASH_ENV, CRASH_POINTS
from tests.conftest import FUNCTION_KEY
from tests.functions.batch_helpers import Batches
from tests.functions.journey_helpers import Dynamics, new_id, person, unique_email

pytest_plugins = ["tests.functions.journey_fixtures"]


@pytest.fixture
def batches(function_host: stack.Service, function_key: str, storage_connection_string: str) -> Batches:
    return Batches(function_host.url, function_key, storage_connection_string)


@pytest.fixture
def host_with(
    stack_logs: Path, azurite: stack.Service, emulator: stack.Service
) -> Iterator[Any]:
    started: list[stack.Service] = []

    def start(**settings: str) -> stack.Service:
        env = {**azurite.env, **emulator.env, "LOCAL_FUNCTION_KEY": FUNCTION_KEY, **settings}
        service = stack.start_function_host(stack_logs, env)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop(timeout=30.0)


def _message(batch_id: str, list_id: str, contact_email: str) -> dict[str, Any]:
    """Two new people with three steps each (three waves), and a seeded Contact's list add in
    the first wave."""
    steps: list[dict[str, Any]] = [{"stepId": "c", "type": "addToMarketingList", "person": person(contact_email),
                                    "target": "contact", "list": {"id": list_id}}]
    for name in ("a", "b"):
        email = f"{name}-{batch_id}@example.com"
        steps += [
            {"stepId": f"{name}1", "type": "createUpdateLead", "person": person(email), "subject": "Webinar"},
            {"stepId": f"{name}2", "type": "addActivity", "person": person(email),
             "activity": {"type": "task", "subject": "Call"}},
            {"stepId": f"{name}3", "type": "createUpdateLead", "person": person(email), "subject": "Again"},
        ]
    return {"batchId": batch_id, "steps": steps}


def _seed(dynamics: Dynamics) -> tuple[str, str]:
    list_id, contact_email = new_id(), unique_email("contact")
    dynamics.seed({"lists": [{"listid": list_id, "listname": "Crash", "createdfromcode": 2}],
                   "contacts": [{"contactid": new_id(), "emailaddress1": contact_email, "lastname": "C"}]})
    return list_id, contact_email


def _assert_written_once(dynamics: Dynamics, batch_id: str, list_id: str) -> None:
    for name in ("a", "b"):
        leads = dynamics.find("leads", emailaddress1=f"{name}-{batch_id}@example.com")
        assert len(leads) == 1, name
        tasks = dynamics.rows("tasks", **{"$filter": f"_regardingobjectid_value eq {leads[0]['leadid']}"})
        assert len(tasks) == 1, name
    assert len(dynamics.members(list_id, "contact")) == 1


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_when_the_worker_dies_at_a_point_of_the_delivery_a_redelivery_writes_nothing_twice(
    point: str, host_with: Any, batches: Batches, dynamics: Dynamics
) -> None:
    list_id, contact_email = _seed(dynamics)
    batch_id = f"crash-{point}-{new_id()}"
    message = _message(batch_id, list_id, contact_email)
    doomed = host_with(**{CRASH_ENV: point})
    with pytest.raises(requests.ConnectionError):
        Batches(doomed.url, FUNCTION_KEY, batches.connection_string).deliver(message)
    doomed.process.wait(timeout=30)
    assert doomed.process.returncode == 70  # the crash hook, not some other failure

    document = batches.run(message)
    assert document["status"] == "completed"
    outcomes = {step["stepId"]: step["outcome"] for step in document["steps"]}
    # A membership written before the crash (the first wave's writes) but not recorded is found
    # again: alreadyMember.
    expected_member = "alreadyMember" if point in ("between-change-sets", "after-writes") else "added"
    assert outcomes == {"c": expected_member, "a1": "created", "a2": "activityLogged", "a3": "updated",
                        "b1": "created", "b2": "activityLogged", "b3": "updated"}
    _assert_written_once(dynamics, batch_id, list_id)
    assert batches.summaries(batch_id)[-1]["status"] == "completed"


def test_when_the_same_message_is_delivered_twice_at_once_each_record_is_written_once(
    batches: Batches, dynamics: Dynamics
) -> None:
    list_id, contact_email = _seed(dynamics)
    batch_id = f"twice-{new_id()}"
    message = _message(batch_id, list_id, contact_email)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda _: batches.deliver(message), range(2)))
    assert [o["status"] for o in outcomes] == ["Succeeded", "Succeeded"]
    # A delivery that met the other one's person locks hands its steps over (re-enqueues the
    # message); the host's poller then finishes the batch.
    deadline = time.monotonic() + 90
    while (document := batches.document(batch_id))["status"] != "completed":
        assert time.monotonic() < deadline, "the batch was not finished"
        time.sleep(1)
    assert document["failed"] == 0
    _assert_written_once(dynamics, batch_id, list_id)


def test_when_dynamics_asks_to_wait_past_the_time_slice_the_message_is_handed_over_and_finished_later(
    host_with: Any, batches: Batches, dynamics: Dynamics
) -> None:
    list_id, contact_email = _seed(dynamics)
    batch_id = f"handover-{new_id()}"
    message = _message(batch_id, list_id, contact_email)
    short = host_with(JOURNEY_BATCH_SLICE_SECONDS="10")
    dynamics.faults({"failNext": [{"status": 429, "count": 1, "retryAfter": 31, "path": "$batch"}]})
    outcome = Batches(short.url, FUNCTION_KEY, batches.connection_string).deliver(message)
    assert outcome["status"] == "Succeeded"  # a hand-over is not a failed delivery
    running = batches.document(batch_id)
    assert running["status"] == "running"
    assert {step["outcome"] for step in running["steps"]} == {"pending"}
    deadline = time.monotonic() + 90
    while batches.document(batch_id)["status"] != "completed":
        assert time.monotonic() < deadline, "the handed-over message was not finished"
        time.sleep(2)
    _assert_written_once(dynamics, batch_id, list_id)
    assert batches.document(batch_id)["failed"] == 0


def test_when_two_messages_in_flight_carry_the_same_new_people_each_gets_one_lead(
    batches: Batches, dynamics: Dynamics
) -> None:
    emails = [unique_email(f"shared{n}") for n in range(20)]
    messages = [{"batchId": f"same-people-{name}-{new_id()}", "steps": [
        {"stepId": f"s{n}", "type": "createUpdateLead", "person": person(email), "subject": f"From {name}"}
        for n, email in enumerate(emails)]} for name in ("a", "b")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(batches.deliver, messages))
    assert [o["status"] for o in outcomes] == ["Succeeded", "Succeeded"]
    documents = [batches.document(m["batchId"]) for m in messages]
    for n, email in enumerate(emails):
        assert len(dynamics.find("leads", emailaddress1=email)) == 1, email
        assert sorted(d["steps"][n]["outcome"] for d in documents) == ["created", "updated"]
