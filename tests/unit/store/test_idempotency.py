"""IdempotencyStore against real Table Storage (Azurite)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared.store import (
    Claim,
    IdempotencyConflict,
    IdempotencyInProgress,
    IdempotencyStore,
    StorageClients,
    StoredResponse,
    body_hash,
)


class Clock:
    """A clock the test moves; the store reads time only through it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(storage: StorageClients, unique_name: str, clock: Clock) -> IdempotencyStore:
    return IdempotencyStore(lambda: storage.table(unique_name), lease=timedelta(minutes=15), clock=clock)


BODY = {"person": {"email": "ada@example.com"}, "subject": "Hello", "idempotencyKey": "k-1"}
RESULT = {"outcome": "created", "recordId": "0b7a1b7e-0000-4000-8000-000000000001", "idempotent": False}


def test_when_key_is_new_begin_returns_a_claim(store: IdempotencyStore) -> None:
    claim = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(claim, Claim)
    assert not claim.taken_over


def test_when_completed_the_same_body_replays_the_stored_response(store: IdempotencyStore) -> None:
    claim = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(claim, Claim)
    store.complete(claim, 200, RESULT)

    reordered = {"subject": "Hello", "idempotencyKey": "k-1", "person": {"email": "ada@example.com"}}
    replay = store.begin("CreateUpdateLead", "k-1", body_hash(reordered))
    assert replay == StoredResponse(status=200, body=RESULT)


def test_when_the_body_differs_begin_raises_conflict(store: IdempotencyStore) -> None:
    claim = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(claim, Claim)
    store.complete(claim, 200, RESULT)
    with pytest.raises(IdempotencyConflict):
        store.begin("CreateUpdateLead", "k-1", body_hash({**BODY, "subject": "Other"}))


def test_when_the_body_differs_while_pending_begin_raises_conflict(store: IdempotencyStore) -> None:
    store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    with pytest.raises(IdempotencyConflict):
        store.begin("CreateUpdateLead", "k-1", body_hash({**BODY, "subject": "Other"}))


def test_when_another_endpoint_uses_the_key_it_is_independent(store: IdempotencyStore) -> None:
    first = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(first, Claim)
    store.complete(first, 200, RESULT)
    other = store.begin("AddActivity", "k-1", body_hash({"other": True}))
    assert isinstance(other, Claim)


@pytest.mark.parametrize(
    ("claim_age", "retry_after"),
    [
        (timedelta(seconds=0.5), 2),  # just started: what is left of a typical step, rounded up
        (timedelta(seconds=1.5), 1),
        (timedelta(seconds=12), 12),  # dragging: as long again as it has run
        (timedelta(minutes=5), 60),  # at most a minute
        (timedelta(minutes=14, seconds=50), 10),  # never past the end of the lease (15 min)
    ],
)
def test_when_a_claim_is_pending_and_fresh_begin_raises_in_progress_with_a_retry_after_from_its_age(
    store: IdempotencyStore, clock: Clock, claim_age: timedelta, retry_after: int
) -> None:
    store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    clock.advance(seconds=claim_age.total_seconds())
    with pytest.raises(IdempotencyInProgress) as raised:
        store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert raised.value.retry_after == retry_after


def test_when_a_pending_claim_outlived_its_lease_it_is_taken_over(store: IdempotencyStore, clock: Clock) -> None:
    crashed = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(crashed, Claim)
    clock.advance(minutes=16)

    retry = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(retry, Claim)
    assert retry.taken_over
    assert retry.derived_id("lead") == crashed.derived_id("lead")

    # The crashed attempt waking up late cannot overwrite the new claim's outcome.
    store.complete(crashed, 500, {"late": True})
    store.complete(retry, 200, RESULT)
    assert store.begin("CreateUpdateLead", "k-1", body_hash(BODY)) == StoredResponse(200, RESULT)


def test_when_a_stale_claim_is_taken_over_by_two_retries_only_one_wins(
    store: IdempotencyStore, clock: Clock
) -> None:
    store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    clock.advance(minutes=16)
    outcomes = _race(lambda: store.begin("CreateUpdateLead", "k-1", body_hash(BODY)), threads=6)
    claims = [o for o in outcomes if isinstance(o, Claim)]
    assert len(claims) == 1
    assert all(isinstance(o, IdempotencyInProgress) for o in outcomes if o is not claims[0])


def test_when_released_the_key_can_be_claimed_again(store: IdempotencyStore) -> None:
    claim = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(claim, Claim)
    store.release(claim)
    again = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(again, Claim)
    assert again.claim_id != claim.claim_id


def test_when_a_record_expired_it_is_treated_as_absent(store: IdempotencyStore, clock: Clock) -> None:
    claim = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(claim, Claim)
    store.complete(claim, 200, RESULT)
    clock.advance(days=7, seconds=1)

    # Another body is no conflict once the record expired: the key starts afresh.
    fresh = store.begin("CreateUpdateLead", "k-1", body_hash({"other": "body"}))
    assert isinstance(fresh, Claim)
    assert not fresh.taken_over


def test_when_a_record_is_younger_than_seven_days_it_still_replays(store: IdempotencyStore, clock: Clock) -> None:
    claim = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(claim, Claim)
    store.complete(claim, 200, RESULT)
    clock.advance(days=6, hours=23)
    assert isinstance(store.begin("CreateUpdateLead", "k-1", body_hash(BODY)), StoredResponse)


def test_a_completed_record_says_it_expires_seven_days_after_it_was_written(
    storage: StorageClients, unique_name: str, store: IdempotencyStore, clock: Clock
) -> None:
    claim = store.begin("CreateUpdateLead", "k-1", body_hash(BODY))
    assert isinstance(claim, Claim)
    clock.advance(minutes=3)
    store.complete(claim, 200, RESULT)
    (row,) = storage.table(unique_name).query_entities("PartitionKey eq 'CreateUpdateLead'")
    assert row["state"] == "completed"
    assert row["expiresAt"] == clock.now + timedelta(days=7)  # the purge timer deletes it after that
    assert "ada@example.com" not in str(dict(row))  # the body is hashed, never stored


def test_a_retention_under_seven_days_is_refused(storage: StorageClients, unique_name: str) -> None:
    with pytest.raises(ValueError, match="at least 7 days"):
        IdempotencyStore(lambda: storage.table(unique_name), retention=timedelta(days=6, hours=23))


def test_when_two_first_writers_race_exactly_one_wins(store: IdempotencyStore) -> None:
    outcomes = _race(lambda: store.begin("CreateUpdateLead", "race", body_hash(BODY)), threads=12)
    claims = [o for o in outcomes if isinstance(o, Claim)]
    assert len(claims) == 1
    losers = [o for o in outcomes if not isinstance(o, Claim)]
    assert len(losers) == 11
    assert all(isinstance(o, IdempotencyInProgress) for o in losers)


def test_when_racing_writers_send_different_bodies_the_losers_see_conflict(store: IdempotencyStore) -> None:
    hashes = [body_hash({**BODY, "subject": f"s{i}"}) for i in range(8)]
    results: list[object] = [None] * len(hashes)
    barrier = threading.Barrier(len(hashes))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = store.begin("CreateUpdateLead", "mixed", hashes[index])
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(hashes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(r, Claim) for r in results) == 1
    assert sum(isinstance(r, IdempotencyConflict) for r in results) == len(hashes) - 1


def test_when_the_response_is_large_it_is_stored_and_replayed_whole(store: IdempotencyStore) -> None:
    big = {"detail": "x" * 100_000, "emoji": "\U0001f600" * 20_000}
    claim = store.begin("CreateUpdateLead", "big", body_hash(BODY))
    assert isinstance(claim, Claim)
    store.complete(claim, 200, big)
    assert store.begin("CreateUpdateLead", "big", body_hash(BODY)) == StoredResponse(200, big)


def test_purge_expired_deletes_only_expired_rows(store: IdempotencyStore, clock: Clock) -> None:
    old = store.begin("CreateUpdateLead", "old", body_hash(BODY))
    assert isinstance(old, Claim)
    store.complete(old, 200, RESULT)
    clock.advance(days=8)
    young = store.begin("CreateUpdateLead", "young", body_hash(BODY))
    assert isinstance(young, Claim)
    store.complete(young, 200, RESULT)

    assert store.purge_expired() == 1
    assert isinstance(store.begin("CreateUpdateLead", "young", body_hash(BODY)), StoredResponse)


def test_keys_with_characters_table_keys_forbid_work(store: IdempotencyStore) -> None:
    key = "a/b\\c#d?e" + "\u00e9" * 150
    claim = store.begin("CreateUpdateLead", key, body_hash(BODY))
    assert isinstance(claim, Claim)
    store.complete(claim, 200, RESULT)
    assert isinstance(store.begin("CreateUpdateLead", key, body_hash(BODY)), StoredResponse)


def test_derived_ids_are_stable_and_scoped() -> None:
    a = Claim("CreateUpdateLead", "k", "h", "c1", "e1")
    b = Claim("CreateUpdateLead", "k", "h", "c2", "e2")
    c = Claim("AddActivity", "k", "h", "c1", "e1")
    assert a.derived_id("lead") == b.derived_id("lead")
    assert a.derived_id("lead") != a.derived_id("task")
    assert a.derived_id("lead") != c.derived_id("lead")


def test_body_hash_ignores_key_order_and_integral_floats() -> None:
    assert body_hash({"a": 1, "b": [1.0, {"c": None}]}) == body_hash({"b": [1, {"c": None}], "a": 1.0})
    assert body_hash({"a": 1}) != body_hash({"a": "1"})


def test_invalid_keys_and_scopes_are_refused(store: IdempotencyStore) -> None:
    with pytest.raises(ValueError):
        store.begin("CreateUpdateLead", "", body_hash(BODY))
    with pytest.raises(ValueError):
        store.begin("CreateUpdateLead", "k" * 201, body_hash(BODY))
    with pytest.raises(ValueError):
        store.begin("bad/scope", "k", body_hash(BODY))


def _race(call, *, threads: int) -> list[object]:  # type: ignore[no-untyped-def]
    results: list[object] = [None] * threads
    barrier = threading.Barrier(threads)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:
            results[index] = exc

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_purge_expired_handles_many_rows_over_several_partitions(store: IdempotencyStore, clock: Clock) -> None:
    for index in range(230):
        scope = "CreateUpdateLead" if index % 10 else "AddActivity"
        claim = store.begin(scope, f"key-{index}", body_hash(BODY))
        assert isinstance(claim, Claim)
        if index % 2:
            store.complete(claim, 200, RESULT)
    clock.advance(days=8)
    kept = store.begin("CreateUpdateLead", "key-1", body_hash({"new": "body"}))  # re-used after expiry
    assert isinstance(kept, Claim)

    assert store.purge_expired() == 229
    assert store.purge_expired() == 0
    with pytest.raises(IdempotencyInProgress):
        store.begin("CreateUpdateLead", "key-1", body_hash({"new": "body"}))
