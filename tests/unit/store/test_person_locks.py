"""PersonLocks against real Table Storage (Azurite): one holder per key, all or nothing, a dead
holder's lease taken over by exactly one writer, release never deleting another holder's lock."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import UpdateMode

from shared.person_keys import PersonKey
from shared.store import HeldLocks, PersonBusy, PersonLocks, StorageClients


class Clock:
    """A clock the test moves; leases are read only through it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


ADA = PersonKey("lead", '[["emailaddress1","ada@example.com"]]')
ADA_NAME = PersonKey("lead", '[["companyname","a"],["firstname","ada"],["lastname","lovelace"]]')
BOB = PersonKey("lead", '[["emailaddress1","bob@example.com"]]')
ADA_CONTACT = PersonKey("contact", '[["emailaddress1","ada@example.com"]]')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def locks(storage: StorageClients, unique_name: str, clock: Clock) -> PersonLocks:
    return PersonLocks(lambda: storage.table(unique_name), lease=timedelta(seconds=30), wait_seconds=0, clock=clock)


def rows(storage: StorageClients, unique_name: str) -> list[dict]:
    return [dict(row) for row in storage.table(unique_name).list_entities()]


def test_when_a_key_is_free_acquire_holds_it_and_release_frees_it(
    locks: PersonLocks, storage: StorageClients, unique_name: str
) -> None:
    held = locks.acquire([ADA])
    assert len(held.rows) == 1
    stored = rows(storage, unique_name)
    assert len(stored) == 1 and stored[0]["PartitionKey"] == "lead"
    assert "ada" not in str(stored)  # only the hash of the person's values is stored
    locks.release(held)
    assert rows(storage, unique_name) == []


def test_when_a_key_is_held_a_second_writer_is_busy_with_a_retry_after(locks: PersonLocks, clock: Clock) -> None:
    locks.acquire([ADA])
    clock.advance(seconds=0.5)
    with pytest.raises(PersonBusy) as busy:
        locks.acquire([ADA])
    assert busy.value.retry_after == 2  # a fresh holder: what is left of a typical step, rounded up
    locks.acquire([BOB])  # another person is not blocked


def test_when_one_key_of_several_is_held_nothing_is_taken(
    locks: PersonLocks, storage: StorageClients, unique_name: str
) -> None:
    bob = locks.acquire([ADA_NAME])
    with pytest.raises(PersonBusy):
        locks.acquire([ADA, ADA_NAME, ADA_CONTACT])
    assert len(rows(storage, unique_name)) == 1  # the other keys were released again
    locks.release(bob)
    held = locks.acquire([ADA, ADA_NAME, ADA_CONTACT])
    assert len(held.rows) == 3


def test_when_a_holder_dies_its_lease_is_taken_over_after_it_runs_out(locks: PersonLocks, clock: Clock) -> None:
    dead = locks.acquire([ADA])
    clock.advance(seconds=29)
    with pytest.raises(PersonBusy) as busy:
        locks.acquire([ADA])
    assert busy.value.retry_after == 1  # the lease runs out in a second
    clock.advance(seconds=2)
    taker = locks.acquire([ADA])
    assert taker.owner != dead.owner
    locks.release(dead)  # too late: the dead holder's release leaves the taker's lock alone
    with pytest.raises(PersonBusy):
        locks.acquire([ADA])
    locks.release(taker)
    locks.acquire([ADA])


def test_when_many_writers_race_for_an_expired_lease_exactly_one_takes_it(
    storage: StorageClients, unique_name: str, clock: Clock
) -> None:
    table = storage.table(unique_name)
    PersonLocks(table, lease=timedelta(seconds=30), wait_seconds=0, clock=clock).acquire([ADA])
    clock.advance(minutes=5)
    winners: list[HeldLocks] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        writer = PersonLocks(table, lease=timedelta(seconds=30), wait_seconds=0, clock=clock)
        barrier.wait()
        with contextlib.suppress(PersonBusy):
            winners.append(writer.acquire([ADA]))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_when_many_writers_race_for_a_free_key_exactly_one_holds_it(storage: StorageClients, unique_name: str) -> None:
    table = storage.table(unique_name)
    winners: list[HeldLocks] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        writer = PersonLocks(table, wait_seconds=0)
        barrier.wait()
        with contextlib.suppress(PersonBusy):
            winners.append(writer.acquire([ADA, ADA_NAME]))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


@pytest.mark.parametrize(
    "stuck",
    [
        {"expiresAt": "not a date"},
        {},
        {"expiresAt": datetime(2099, 1, 1, tzinfo=UTC)},  # further ahead than any lease: a stuck row
    ],
)
def test_when_a_lock_row_is_unreadable_or_stuck_it_is_taken_over_not_an_error(
    locks: PersonLocks, storage: StorageClients, unique_name: str, stuck: dict
) -> None:
    held = locks.acquire([ADA])
    partition, row, _ = held.rows[0]
    storage.table(unique_name).update_entity({"PartitionKey": partition, "RowKey": row, **stuck},
                                             mode=UpdateMode.REPLACE)
    assert len(locks.acquire([ADA]).rows) == 1


def test_when_a_holder_waits_it_gets_the_lock_once_released(storage: StorageClients, unique_name: str) -> None:
    table = storage.table(unique_name)
    first = PersonLocks(table).acquire([ADA])
    releaser = threading.Timer(0.3, lambda: PersonLocks(table).release(first))
    releaser.start()
    held = PersonLocks(table, wait_seconds=5).acquire([ADA])
    releaser.join()
    assert held.owner != first.owner


def test_when_keys_come_as_a_generator_every_try_takes_all_of_them(storage: StorageClients,
                                                                    unique_name: str) -> None:
    table = storage.table(unique_name)
    first = PersonLocks(table).acquire([ADA])
    threading.Timer(0.3, lambda: PersonLocks(table).release(first)).start()
    held = PersonLocks(table, wait_seconds=5).acquire(key for key in [ADA, BOB])
    assert len(held.rows) == 2


def test_when_the_lease_is_renewed_it_lasts_a_full_lease_again(locks: PersonLocks, clock: Clock) -> None:
    held = locks.acquire([ADA, ADA_NAME])
    clock.advance(seconds=20)
    renewed = locks.renew(held)
    assert renewed.remaining(clock.now) == timedelta(seconds=30)
    clock.advance(seconds=20)  # past the first lease, inside the renewed one
    with pytest.raises(PersonBusy):
        locks.acquire([ADA])
    locks.release(renewed)
    locks.acquire([ADA])


def test_when_a_lease_was_taken_over_renew_is_busy_and_the_taker_keeps_it(locks: PersonLocks, clock: Clock) -> None:
    slow = locks.acquire([ADA])
    clock.advance(seconds=31)
    taker = locks.acquire([ADA])
    with pytest.raises(PersonBusy):
        locks.renew(slow)
    with pytest.raises(PersonBusy):
        locks.acquire([ADA])
    locks.release(taker)


def test_when_many_persons_are_locked_at_once_each_is_held_or_busy_whole(
    locks: PersonLocks, storage: StorageClients, unique_name: str
) -> None:
    blocker = locks.acquire([ADA_NAME])
    people = {f"p{n}": [PersonKey("lead", f'[["emailaddress1","p{n}@example.com"]]')] for n in range(150)}
    got = locks.acquire_many({**people, "ada": [ADA, ADA_NAME], "bob": [BOB], "bob again": [BOB]})
    assert set(got.held) == {*people, "bob"}
    assert set(got.busy) == {"ada", "bob again"} and got.busy["ada"] >= 1
    assert len(rows(storage, unique_name)) == 1 + 150 + 1  # ADA's own key was given back
    for held in got.held.values():
        locks.release(held)
    locks.release(blocker)
    assert rows(storage, unique_name) == []


def test_when_a_holder_died_purge_removes_its_row(locks: PersonLocks, clock: Clock, storage: StorageClients,
                                                  unique_name: str) -> None:
    locks.acquire([ADA])
    live = locks.acquire([BOB])
    clock.advance(seconds=10)
    assert locks.purge_expired() == 0
    locks.renew(live)
    clock.advance(seconds=25)
    assert locks.purge_expired() == 1
    assert len(rows(storage, unique_name)) == 1
