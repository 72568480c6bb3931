"""A bulk job's `meta` row under two deliveries at once, against real Table Storage (Azurite):
the slower delivery never puts back a status or counts older than the other's."""

from __future__ import annotations

import pytest

from shared.bulk.jobs import JobMeta
from shared.store import StorageClients
from shared.store.batches import BatchRecord, BatchResultsStore, StepRow

OUTCOMES = ("created", "updated")


@pytest.fixture
def results(storage: StorageClients, unique_name: str) -> BatchResultsStore:
    return BatchResultsStore(lambda: storage.table(unique_name))


def _pending(position: int) -> StepRow:
    return StepRow(position, f"s{position}", "createUpdateLead", f"h{position}", {"outcome": "pending"})


def _started(results: BatchResultsStore, batch_id: str, size: int) -> None:
    record = BatchRecord(batch_id, steps=[_pending(i) for i in range(size)])
    results.add_steps(batch_id, record.steps)
    JobMeta(results, record, OUTCOMES).save(requests=0)


def _delivery(results: BatchResultsStore, batch_id: str) -> tuple[BatchRecord, JobMeta]:
    record = results.load(batch_id)
    assert record is not None
    return record, JobMeta(results, record, OUTCOMES)


def _finish(results: BatchResultsStore, record: BatchRecord, positions: list[int], outcome: str) -> None:
    rows = [record.steps[i] for i in positions]
    for row in rows:
        row.entry = {"outcome": outcome}
    for stored in results.finish(record.batch_id, rows):  # the other delivery's entry stands
        record.steps[stored.position].entry = stored.entry


def test_when_a_slower_delivery_saves_after_the_job_completed_it_stays_completed_with_every_count(
        results: BatchResultsStore) -> None:
    _started(results, "b1", 4)
    slow, slow_meta = _delivery(results, "b1")
    fast, fast_meta = _delivery(results, "b1")
    _finish(results, slow, [0], "created")
    slow_meta.save(requests=2)
    _finish(results, fast, [0, 1, 2, 3], "updated")  # step 0 was the slow one's: it adopts that entry
    fast.status = "completed"
    fast_meta.save(requests=3)
    slow_meta.save(requests=2)  # the slow delivery hands over, still believing the job runs

    stored = results.load("b1", with_steps=False)
    assert stored is not None
    assert (stored.status, stored.counts, stored.total) == ("completed", {"created": 1, "updated": 3}, 4)
    assert stored.dynamics_requests == 5  # each delivery's requests counted once


def test_when_nothing_else_wrote_meanwhile_a_save_is_one_write_and_counts_requests_once(
        results: BatchResultsStore) -> None:
    _started(results, "b2", 2)
    record, meta = _delivery(results, "b2")
    _finish(results, record, [0], "created")
    meta.save(requests=4)
    _finish(results, record, [1], "created")
    record.status = "completed"
    meta.save(requests=6)
    stored = results.load("b2", with_steps=False)
    assert stored is not None
    assert (stored.status, stored.counts, stored.dynamics_requests) == ("completed", {"created": 2, "updated": 0}, 6)


def test_when_another_delivery_appended_rows_they_are_counted_not_lost(results: BatchResultsStore) -> None:
    _started(results, "b3", 1)
    _, slow_meta = _delivery(results, "b3")
    other, other_meta = _delivery(results, "b3")
    appended = _pending(1)
    results.add_steps("b3", [appended])
    other.steps.append(appended)
    _finish(results, other, [1], "created")
    other_meta.save(requests=1)
    slow_meta.save(requests=1)
    stored = results.load("b3")
    assert stored is not None
    assert (stored.total, stored.counts["created"], stored.status) == (2, 1, "running")
