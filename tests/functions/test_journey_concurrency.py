"""One person, one Lead: concurrent Create/Update Lead calls for the same person, over real HTTP,
real Azurite and the emulator. Exactly one Lead ends in Dynamics, at most one answer says
`created`, the others `updated` or a retryable 409 `personBusy`; a dead holder's lock runs out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from shared.app import PERSON_LOCK_TABLE
from shared.person_keys import person_keys
from shared.store import PersonLocks, StorageClients
from tests.functions.journey_helpers import (
    Counter,
    Dynamics,
    Journey,
    assert_problem,
    assert_step_result,
    new_id,
    person,
    unique_email,
)

pytest_plugins = ("tests.functions.journey_fixtures",)

CALLS = 40
CALLERS = 16


@pytest.fixture
def slow_dynamics(dynamics: Dynamics) -> Iterator[Dynamics]:
    """Every Web API request takes 20 ms, as a nearby Dataverse would: the window a race needs."""
    dynamics.faults({"latencyMs": 20})
    yield dynamics
    dynamics.faults({})


def _send_all(journey: Journey, bodies: list[dict[str, Any]]) -> list[requests.Response]:
    with ThreadPoolExecutor(CALLERS) as pool:
        return list(pool.map(lambda body: journey.post("lead", body, timeout=120), bodies))


@pytest.mark.slow
@pytest.mark.parametrize("keys", ["none", "distinct"])
def test_when_forty_callers_send_one_new_person_at_once_dynamics_ends_with_one_lead(
    journey: Journey, slow_dynamics: Dynamics, keys: str
) -> None:
    email = unique_email("race")
    bodies = [{"person": person(email), "subject": f"Journey {n}",
               **({"idempotencyKey": new_id()} if keys == "distinct" else {})} for n in range(CALLS)]
    answers = _send_all(journey, bodies)

    leads = slow_dynamics.find("leads", emailaddress1=email)
    assert len(leads) == 1, f"{len(leads)} Leads for one person"
    outcomes: list[str] = []
    for answer in answers:
        if answer.status_code == 200:
            result = answer.json()
            assert_step_result(result)
            assert result["recordId"] == leads[0]["leadid"]
            assert result["duplicates"] == 0
            assert result["dynamicsRequests"] == 2  # the lock costs no Dataverse round trip
            outcomes.append(result["outcome"])
        else:  # only a retryable refusal, never a 500
            assert_problem(answer, 409, "personBusy")
            assert int(answer.headers["Retry-After"]) >= 1
    assert outcomes.count("created") == 1
    assert set(outcomes) <= {"created", "updated"}


def test_when_a_second_caller_finds_the_person_locked_it_waits_and_updates_the_new_lead(
    journey: Journey, dynamics: Dynamics
) -> None:
    email = unique_email("pair")
    first, second = _send_all(journey, [{"person": person(email), "subject": "One"},
                                        {"person": person(email), "subject": "Two"}])
    results = sorted([first.json(), second.json()], key=lambda result: result["outcome"])
    assert [result["outcome"] for result in results] == ["created", "updated"]
    assert results[0]["recordId"] == results[1]["recordId"]


def _lock_table(connection_string: str) -> Any:
    return StorageClients.from_connection_string(connection_string).table(PERSON_LOCK_TABLE)


def _hold(connection_string: str, email: str, *, since: datetime, lease: timedelta) -> None:
    """Take the person's Lead lock as a holder would and never release it (the holder died)."""
    keys = person_keys("lead", [["emailaddress1"]], {"emailaddress1": email})
    PersonLocks(_lock_table(connection_string), lease=lease, clock=lambda: since).acquire(keys)


def test_when_a_dead_holders_lease_has_run_out_the_next_step_takes_it_over(
    journey: Journey, dynamics: Dynamics, storage_connection_string: str
) -> None:
    email = unique_email("dead")
    _hold(storage_connection_string, email, since=datetime.now(UTC) - timedelta(minutes=2),
          lease=timedelta(seconds=60))
    counter = Counter(dynamics)
    result = journey.ok("lead", {"person": person(email), "subject": "After the crash"})
    assert (result["outcome"], result["dynamicsRequests"]) == ("created", 2)
    assert counter.total() == 2


@pytest.mark.slow  # two 5 s waits for the lock
def test_when_a_live_holder_keeps_the_person_the_step_answers_409_person_busy_and_writes_nothing(
    journey: Journey, dynamics: Dynamics, storage_connection_string: str
) -> None:
    email, key = unique_email("held"), new_id()
    _hold(storage_connection_string, email, since=datetime.now(UTC), lease=timedelta(seconds=60))
    counter = Counter(dynamics)
    body = {"idempotencyKey": key, "person": person(email), "subject": "Blocked"}
    answer = journey.post("lead", body)
    problem = assert_problem(answer, 409, "personBusy")
    assert "retry" in problem["detail"].lower()
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert counter.total() == 0  # refused before the look-up
    assert dynamics.find("leads", emailaddress1=email) == []
    # The refusal released the idempotency key: the same key is not "in progress".
    again = journey.post("lead", body)
    assert_problem(again, 409, "personBusy")


def test_when_a_step_is_a_dry_run_it_takes_no_lock(
    journey: Journey, dynamics: Dynamics, storage_connection_string: str
) -> None:
    email = unique_email("dry")
    _hold(storage_connection_string, email, since=datetime.now(UTC), lease=timedelta(seconds=60))
    result = journey.ok("lead", {"person": person(email), "subject": "Dry", "dryRun": True})
    assert (result["outcome"], result["dryRun"]) == ("created", True)


def test_when_the_daily_purge_runs_it_deletes_dead_holders_locks_and_keeps_live_ones(
    function_host: Any, function_key: str, storage_connection_string: str
) -> None:
    dead, live = unique_email("purged"), unique_email("kept")
    _hold(storage_connection_string, dead, since=datetime.now(UTC) - timedelta(minutes=5), lease=timedelta(seconds=60))
    _hold(storage_connection_string, live, since=datetime.now(UTC), lease=timedelta(seconds=60))
    table = _lock_table(storage_connection_string)

    def present(email: str) -> bool:
        key = person_keys("lead", [["emailaddress1"]], {"emailaddress1": email})[0]
        row = hashlib.sha256(key.identity.encode("utf-8")).hexdigest()
        return any(True for _ in table.query_entities(f"RowKey eq '{row}'"))

    assert present(dead) and present(live)
    response = requests.post(f"{function_host.url}/admin/functions/IdempotencyPurge", params={"wait": "true"},
                             json={"input": ""}, headers={"x-functions-key": function_key}, timeout=60)
    assert response.json()["status"] == "Succeeded", response.text
    assert not present(dead) and present(live)
