"""SyncPendingStore against real Table Storage (Azurite): enqueues in arrival order with the
latest winning, changes merged field by field, what a run finishes and what it leaves."""

from __future__ import annotations

import pytest

from shared.store import StorageClients
from shared.store.sync_pending import SyncPendingStore, arrival_key


@pytest.fixture
def pending(storage: StorageClients, unique_name: str) -> SyncPendingStore:
    return SyncPendingStore(lambda: storage.table(unique_name))


def test_when_contacts_are_enqueued_a_run_takes_them_in_arrival_order(pending: SyncPendingStore) -> None:
    for index, contact in enumerate(["pc-b", "pc-a", "pc/c"]):
        pending.enqueue("lead", contact, {"id": contact}, arrival=arrival_key(1_000 + index))
    taken = list(pending.pending_enqueues("lead", before=arrival_key()))
    assert [item.platform_contact_id for item in taken] == ["pc-b", "pc-a", "pc/c"]
    assert list(pending.pending_enqueues("contact", before=arrival_key())) == []
    assert pending.pending_kinds("pc/c") == ["lead"]


def test_when_a_contact_is_enqueued_again_the_latest_wins_in_its_new_place(pending: SyncPendingStore) -> None:
    pending.enqueue("lead", "pc-1", {"id": "pc-1", "email": "old@x.com"}, arrival=arrival_key(1))
    pending.enqueue("lead", "pc-2", {"id": "pc-2"}, arrival=arrival_key(2))
    pending.enqueue("lead", "pc-1", {"id": "pc-1", "email": "new@x.com"}, arrival=arrival_key(3))
    taken = list(pending.pending_enqueues("lead", before=arrival_key()))
    assert [(item.platform_contact_id, item.person.get("email")) for item in taken] == [
        ("pc-2", None), ("pc-1", "new@x.com")]


def test_when_a_run_starts_later_enqueues_wait_for_the_next_one(pending: SyncPendingStore) -> None:
    pending.enqueue("contact", "pc-1", {"id": "pc-1"}, arrival=arrival_key(10))
    start = arrival_key(20)
    pending.enqueue("contact", "pc-2", {"id": "pc-2"}, arrival=arrival_key(30))
    assert [i.platform_contact_id for i in pending.pending_enqueues("contact", before=start)] == ["pc-1"]


def test_when_an_enqueue_is_finished_it_is_gone_unless_a_newer_one_replaced_it(pending: SyncPendingStore) -> None:
    pending.enqueue("lead", "pc-1", {"id": "pc-1"}, arrival=arrival_key(1))
    first = next(pending.pending_enqueues("lead", before=arrival_key()))
    pending.enqueue("lead", "pc-1", {"id": "pc-1", "email": "later@x.com"}, arrival=arrival_key(2))
    pending.finish_enqueue(first)  # already replaced: nothing newer is lost
    left = list(pending.pending_enqueues("lead", before=arrival_key()))
    assert [i.person.get("email") for i in left] == ["later@x.com"]
    pending.finish_enqueue(left[0])
    assert list(pending.pending_enqueues("lead", before=arrival_key())) == []
    assert pending.pending_kinds("pc-1") == []


def test_when_an_enqueue_is_dropped_it_is_gone(pending: SyncPendingStore) -> None:
    pending.enqueue("lead", "pc-1", {"id": "pc-1"})
    pending.drop_enqueue("lead", "pc-1")
    pending.drop_enqueue("lead", "pc-1")
    assert pending.pending_kinds("pc-1") == []


def test_when_changes_arrive_they_merge_field_by_field_the_latest_winning(pending: SyncPendingStore) -> None:
    assert pending.add_change("pc-1", {"email": "a@x.com", "firstName": "Ada"}, None, "2026-05-01T10:00:00Z")
    assert pending.add_change("pc-1", {"firstName": "Augusta"}, ["D365: Lead"], "2026-05-01T11:00:00Z")
    assert pending.add_change("pc-1", {"email": "old@x.com", "lastName": None}, ["stale"], "2026-05-01T09:00:00Z")
    change = pending.get_change("pc-1")
    assert change.fields == {"email": ("a@x.com", "2026-05-01T10:00:00Z"),
                             "firstName": ("Augusta", "2026-05-01T11:00:00Z"),
                             "lastName": (None, "2026-05-01T09:00:00Z")}
    assert (change.tags, change.updated_at) == (["D365: Lead"], "2026-05-01T11:00:00Z")
    assert [c.platform_contact_id for c in pending.pending_changes()] == ["pc-1"]


def test_when_a_run_applied_a_change_older_ones_are_ignored_and_newer_ones_kept(pending: SyncPendingStore) -> None:
    pending.add_change("pc-1", {"firstName": "Ada"}, None, "2026-05-01T10:00:00Z")
    taken = next(pending.pending_changes())
    pending.add_change("pc-1", {"lastName": "King"}, None, "2026-05-01T12:00:00Z")  # during the run
    pending.finish_change(taken)
    left = pending.get_change("pc-1")
    assert left.fields == {"lastName": ("King", "2026-05-01T12:00:00Z")}
    assert left.applied_at == "2026-05-01T10:00:00Z"
    assert not pending.add_change("pc-1", {"firstName": "Old"}, None, "2026-05-01T09:00:00Z")
    pending.finish_change(pending.get_change("pc-1"))
    assert list(pending.pending_changes()) == []


def test_when_a_change_is_dropped_nothing_is_pending_for_the_contact(pending: SyncPendingStore) -> None:
    pending.add_change("pc-1", {"firstName": "Ada"}, ["D365: Lead"], "2026-05-01T10:00:00Z")
    pending.drop_change("pc-1")
    pending.drop_change("pc-2")
    assert list(pending.pending_changes()) == []
    assert pending.get_change("pc-1").fields == {}
