"""SyncStateStore against real Table Storage (Azurite)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.store import DocumentModified, StorageClients
from shared.store.sync_state import KindState, SyncStateStore


@pytest.fixture
def store(storage: StorageClients, unique_name: str) -> SyncStateStore:
    return SyncStateStore(lambda: storage.table(unique_name))


def test_when_a_kind_never_ran_its_next_run_is_an_initial_sync(store: SyncStateStore) -> None:
    assert store.get("lead") == KindState("lead", initial_pending=True)


def test_when_a_state_is_saved_it_reads_back_with_its_etag(store: SyncStateStore) -> None:
    saved = store.save(KindState("lead", initial_pending=False, delta_link="https://x/leads?$deltatoken=1%2101"))
    assert saved.etag
    assert store.get("lead") == saved
    cleared = store.save(replace(saved, delta_link=None))
    assert store.get("lead").delta_link is None
    assert store.get("lead").etag == cleared.etag


def test_when_two_runs_save_from_the_same_read_the_second_is_refused(store: SyncStateStore) -> None:
    first = store.save(KindState("contact", last_key="00000000-0000-0000-0000-000000000001"))
    store.save(KindState("contact", last_key="00000000-0000-0000-0000-000000000002", etag=first.etag))
    with pytest.raises(DocumentModified):
        store.save(KindState("contact", last_key="00000000-0000-0000-0000-000000000003", etag=first.etag))
    with pytest.raises(DocumentModified):
        store.save(KindState("contact"))  # a first save when someone else already created the row
    assert store.get("contact").last_key == "00000000-0000-0000-0000-000000000002"


def test_when_kinds_are_restarted_checkpoint_link_and_watermark_are_dropped(store: SyncStateStore) -> None:
    store.save(KindState("lead", initial_pending=False, last_key="k", delta_link="d", watermark="2026-01-01T00:00:00Z"))
    store.save(KindState("contact", initial_pending=False, delta_link="c"))
    store.restart(["lead"])
    lead = store.get("lead")
    assert (lead.initial_pending, lead.last_key, lead.delta_link, lead.watermark) == (True, None, None, None)
    assert store.get("contact").delta_link == "c"
    assert KindState("x", False, "k", "d", "w", "g", ledger_empty_at_start=True, etag="e").restarted() == KindState(
        "x", True, None, None, None, None, etag="e")


def test_when_a_push_writes_the_ledger_an_initial_sync_under_way_stops_skipping_look_ups(
        store: SyncStateStore) -> None:
    store.save(KindState("lead", generation="g", ledger_empty_at_start=True))
    store.ledger_written("lead")
    store.ledger_written("contact")  # no row: nothing to change
    assert (store.get("lead").ledger_empty_at_start, store.get("lead").generation) == (False, "g")
    assert store.get("contact").etag is None
