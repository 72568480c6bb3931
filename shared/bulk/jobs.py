"""`JobMeta`: a bulk job's `meta` row (status, counts, requests), kept right under two deliveries.

Two deliveries of one message can run at once (a long one outlives its visibility timeout).
Each item row is settled by the first delivery to finish it (`BatchResultsStore.finish`), but
the `meta` row is the job's whole state: written blindly, the slower delivery would put back
what it knew, a `running` status over the other's `completed`, counts from before the other's
work. So `meta` is written only if unchanged since this delivery last read or wrote it. When it
changed, the stored rows are read again, the entries the other delivery finished are adopted,
and the recount is written: a finished job never reads as running again.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.store.batches import BatchRecord, BatchResultsStore
from shared.store.errors import StorageError

__all__ = ["JobMeta"]

_ATTEMPTS = 5


class JobMeta:
    def __init__(self, results: BatchResultsStore, record: BatchRecord, outcomes: Sequence[str]) -> None:
        self.results = results
        self.record = record
        self.outcomes = tuple(outcomes)
        self._stored_requests = record.dynamics_requests  # the total as last read or written
        self._requests_saved = 0  # of this delivery's requests, those already in that total

    def save(self, requests: int) -> None:
        """Recount the job from its rows and write `meta`; `requests`: this delivery's Web API
        requests so far."""
        record = self.record
        for _ in range(_ATTEMPTS):
            self._recount()
            record.dynamics_requests = self._stored_requests + requests - self._requests_saved
            if self.results.save_meta(record, if_unchanged=True):
                self._stored_requests, self._requests_saved = record.dynamics_requests, requests
                return
            self._adopt_stored()
        raise StorageError(f"bulk job {record.batch_id}: its results kept changing under another delivery")

    def _recount(self) -> None:
        record = self.record
        counts = dict.fromkeys(self.outcomes, 0)
        failed = 0
        for row in record.steps:
            outcome = row.entry.get("outcome")
            if outcome == "failed":
                failed += 1
            elif outcome in counts:
                counts[outcome] += 1
        record.counts, record.failed, record.total = counts, failed, len(record.steps)

    def _adopt_stored(self) -> None:
        """Take in what another delivery stored: its finished entries, its rows and conflicts,
        its request total, and `completed` when every row is final."""
        record = self.record
        stored = self.results.load(record.batch_id)
        if stored is None:  # gone meanwhile (expired): write it afresh
            record.etag = None
            return
        mine = {(row.prefix, row.position): row for row in record.steps}
        for row in stored.steps:
            own = mine.get((row.prefix, row.position))
            if own is None:
                record.steps.append(row)
            elif row.final and not own.final:
                own.entry, own.etag = row.entry, row.etag
        record.conflicts.extend(item for item in stored.conflicts if item not in record.conflicts)
        if stored.status == "completed" and all(row.final for row in record.steps):
            record.status = "completed"
        record.etag = stored.etag
        self._stored_requests = stored.dynamics_requests
