"""The runner holds the person's locks (real PersonLocks on Azurite) around a Create/Update Lead
look-up and write, over a hand-written fake of the Dataverse client: no extra round trip, busy
before any Dataverse request, a slow look-up renews the lease, a lost lease writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.dynamics.query import Query
from shared.person_keys import person_keys
from shared.steps.common import StepConfig
from shared.steps.models import ActivityRequest, LeadRequest
from shared.steps.runner import ADD_ACTIVITY, CREATE_UPDATE_LEAD, run_step
from shared.store import PersonBusy, PersonLocks, StorageClients
from tests.unit.steps.test_runner import FakeClient


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class SlowLookups(FakeClient):
    """A look-up that takes `seconds` of the test clock, and may let another writer in meanwhile."""

    def __init__(self, clock: Clock, seconds: float, during: Any = None) -> None:
        super().__init__()
        self.clock, self.seconds, self.during = clock, seconds, during

    def query_batch(self, queries: list[tuple[str, Query | None]]) -> list[list[dict[str, Any]]]:
        self.clock.now += timedelta(seconds=self.seconds)
        if self.during is not None:
            self.during()
        return super().query_batch(queries)


ADA = {"person": {"email": "ada@example.com"}, "subject": "Hi"}
ADA_KEYS = person_keys("lead", [["emailaddress1"]], {"emailaddress1": "ada@example.com"})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def locks(storage_connection_string: str, clock: Clock) -> PersonLocks:
    table = StorageClients.from_connection_string(storage_connection_string).table("t" + uuid.uuid4().hex[:20])
    return PersonLocks(table, lease=timedelta(seconds=60), wait_seconds=0, clock=clock)


def lead(body: Mapping[str, Any] = ADA) -> LeadRequest:
    return LeadRequest.model_validate(body)


def rows(locks: PersonLocks) -> list[Any]:
    return list(locks._table.list_entities())


def test_when_the_person_is_free_the_lock_costs_no_round_trip_and_is_released(locks: PersonLocks) -> None:
    client = FakeClient()
    body = run_step(CREATE_UPDATE_LEAD, lead(), ADA, client=client, store=None, config=StepConfig(), locks=locks)
    assert (body["outcome"], body["dynamicsRequests"]) == ("created", 2)
    assert rows(locks) == []


def test_when_the_person_is_locked_the_step_is_busy_before_any_dataverse_request(locks: PersonLocks) -> None:
    locks.acquire(ADA_KEYS)
    client = FakeClient()
    with pytest.raises(PersonBusy) as busy:
        run_step(CREATE_UPDATE_LEAD, lead(), ADA, client=client, store=None, config=StepConfig(), locks=locks)
    assert busy.value.retry_after >= 1
    assert client.request_count == 0


def test_when_the_person_is_locked_a_dry_run_and_an_activity_still_run(locks: PersonLocks) -> None:
    locks.acquire(ADA_KEYS)
    dry = run_step(CREATE_UPDATE_LEAD, lead({**ADA, "dryRun": True}), {}, client=FakeClient(), store=None,
                   config=StepConfig(), locks=locks)
    assert dry["dryRun"] is True
    activity = ActivityRequest.model_validate({"person": {"email": "ada@example.com"},
                                               "activity": {"type": "task", "subject": "Call"}})
    skipped = run_step(ADD_ACTIVITY, activity, {}, client=FakeClient(), store=None, config=StepConfig(), locks=locks)
    assert skipped["outcome"] == "skipped"


class WatchedWrites(SlowLookups):
    """Notes the lock's `expiresAt` at the moment of the write."""

    def __init__(self, clock: Clock, seconds: float, locks: PersonLocks) -> None:
        super().__init__(clock, seconds)
        self.locks = locks
        self.expiry_at_write: list[datetime] = []

    def create_record(self, entity_set: str, data: Mapping[str, Any], *, record_id: str | None = None) -> str:
        self.expiry_at_write.extend(row["expiresAt"] for row in rows(self.locks))
        return super().create_record(entity_set, data, record_id=record_id)


@pytest.mark.parametrize(("look_up_seconds", "expiry"), [(10, "12:01:00"), (45, "12:01:45")])
def test_when_the_look_up_is_slow_the_lease_is_renewed_before_the_write(
    locks: PersonLocks, clock: Clock, look_up_seconds: int, expiry: str
) -> None:
    client = WatchedWrites(clock, look_up_seconds, locks)
    body = run_step(CREATE_UPDATE_LEAD, lead(), ADA, client=client, store=None, config=StepConfig(), locks=locks)
    assert body["outcome"] == "created" and client.writes == [("create", "leads")]
    # A quick look-up keeps the first lease (50 s left); a slow one renews it (15 s left < 30 s).
    assert [moment.strftime("%H:%M:%S") for moment in client.expiry_at_write] == [expiry]
    assert rows(locks) == []  # the renewed lock was released too


def test_when_the_lease_ran_out_and_was_taken_over_during_the_look_up_nothing_is_written(
    locks: PersonLocks, clock: Clock
) -> None:
    client = SlowLookups(clock, seconds=61, during=lambda: locks.acquire(ADA_KEYS))
    with pytest.raises(PersonBusy):
        run_step(CREATE_UPDATE_LEAD, lead(), ADA, client=client, store=None, config=StepConfig(), locks=locks)
    assert client.writes == []
    assert len(rows(locks)) == 1  # the taker's lock stays
