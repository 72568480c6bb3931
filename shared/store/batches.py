"""Bulk job results in Table Storage: one partition per job, one row per item. Journey batches
(one item per step) and campaign exports (one item per company and per contact) share it, each
in its own table.

- `PartitionKey` is the `batchId` / `exportId` (pattern `[A-Za-z0-9._:-]`, safe in table keys).
- Row `meta`: the job's status, counts, failed, total, request total, error, conflicts, and the
  size of each list of a rejected job (whose rows are never stored).
- Rows `s000000`, `s000001`, ...: one per item in message order (appended items continue the
  numbering), holding the item's id, `type`, its body hash and its entry (JSON: the result, an
  error, or `{"outcome": "pending"}`). The letter names the item's list (`s` steps; an export's
  `a` companies and `c` contacts). Zero-padded positions make a page of results one range query,
  `RowKey ge 's000010' and RowKey lt 's001010'`.

An entry, once final, is never replaced: `finish` updates a step row only if it is unchanged
since it was read as pending (ETag), so of two deliveries of one message the first to finish a
step decides its entry, and the other adopts it. Every row carries `expiresAt` (at least 7 days
after the batch's last change); the rows of a batch are renewed together whenever it changes.

The queues and blobs a batch uses (the claim-check blob, `journey-results`, re-enqueueing
on `journey-steps`) are here too: every byte to Azure Storage goes through `shared.store`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.store.errors import StorageError, translate

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableEntity

    from shared.store.clients import StorageClients

# The SDKs are imported by the methods that call them: only JourneyBatch and its status
# endpoint use this module, and no other function should pay for them (see `shared.store.clients`).

__all__ = ["BatchQueues", "BatchRecord", "BatchResultsStore", "StepRow", "row_key"]

log = logging.getLogger(__name__)

META = "meta"
DEFAULT_RETENTION = timedelta(days=7)
_MAX_TRANSACTION = 100
_CHUNK_CHARS = 15_000  # a string property holds at most 32K UTF-16 code units
_MAX_CHUNKS = 30


STEPS = "s"


def row_key(position: int, prefix: str = STEPS) -> str:
    return f"{prefix}{position:06d}"


@dataclass
class StepRow:
    """One step of a batch as stored."""

    position: int
    step_id: str | None
    type: str | None
    body_hash: str
    entry: dict[str, Any]
    etag: str | None = None
    prefix: str = STEPS  # which list of the job the row belongs to (one letter)

    @property
    def final(self) -> bool:
        return self.entry.get("outcome") != "pending"


@dataclass
class BatchRecord:
    """A batch's `meta` row and (when loaded) its step rows in order."""

    batch_id: str
    status: str = "running"
    total: int = 0
    failed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    dynamics_requests: int = 0
    error: dict[str, Any] | None = None
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepRow] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)  # per list, for a job whose rows were never stored
    etag: str | None = None  # of the `meta` row as last read or written; None before it exists


class BatchResultsStore:
    """Reads and writes bulk job results (see the module docstring)."""

    def __init__(
        self,
        table: Callable[[], TableClient],
        *,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._table_source = table
        self._table_client: TableClient | None = None
        self.retention = retention
        self._clock = clock

    @property
    def _table(self) -> TableClient:
        if self._table_client is None:
            self._table_client = self._table_source()
        return self._table_client

    # -- reading ------------------------------------------------------------------------------

    def load(self, batch_id: str, *, with_steps: bool = True) -> BatchRecord | None:
        """The batch, with every step row when `with_steps`; None when unknown."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            meta = self._table.get_entity(batch_id, META)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise translate(exc, "reading bulk job results") from exc
        record = _record(batch_id, meta)
        record.etag = str(meta.metadata.get("etag") or "") or None
        if with_steps:
            record.steps = self._steps(batch_id, "RowKey ne @meta", {"meta": META})
        return record

    def page(self, batch_id: str, skip: int, top: int, prefix: str = STEPS) -> list[StepRow]:
        """Rows of list `prefix` at positions `skip` .. `skip + top - 1`."""
        return self._steps(batch_id, "RowKey ge @low and RowKey lt @high",
                           {"low": row_key(skip, prefix), "high": row_key(skip + top, prefix)})

    def _steps(self, batch_id: str, condition: str, parameters: dict[str, Any]) -> list[StepRow]:
        from azure.core.exceptions import AzureError

        try:
            rows = self._table.query_entities(
                f"PartitionKey eq @pk and {condition}", parameters={"pk": batch_id, **parameters}
            )
            return [_step(row) for row in rows]
        except AzureError as exc:
            raise translate(exc, "reading bulk job entries") from exc

    # -- writing ------------------------------------------------------------------------------

    def save_meta(self, record: BatchRecord, *, if_unchanged: bool = False) -> bool:
        """Create or replace the `meta` row; `record.etag` becomes the new row's.

        With `if_unchanged` the row is written only if it is as `record.etag` says (absent when
        None); False when another writer changed it meanwhile (see `shared.bulk.jobs`)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            AzureError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": record.batch_id,
            "RowKey": META,
            "status": record.status,
            "total": record.total,
            "failed": record.failed,
            "counts": json.dumps(record.counts),
            "dynamicsRequests": record.dynamics_requests,
            "error": json.dumps(record.error) if record.error is not None else "",
            "conflicts": json.dumps(record.conflicts, ensure_ascii=False),
            "totals": json.dumps(record.totals),
            **self._times(),
        }
        try:
            if not if_unchanged:
                answer = self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
            elif record.etag is None:
                answer = self._table.create_entity(entity)
            else:
                answer = self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=record.etag,
                                                   match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False
        except AzureError as exc:
            raise translate(exc, "saving bulk job results") from exc
        record.etag = str(answer.get("etag") or "") or None
        return True

    def add_steps(self, batch_id: str, rows: Sequence[StepRow]) -> None:
        """Insert new step rows (upserts: a crashed delivery may have inserted some already, and
        a row is only ever inserted pending or final-from-the-start, as the same entry)."""
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        operations: list[Any] = [("upsert", self._entity(batch_id, row), {"mode": UpdateMode.REPLACE}) for row in rows]
        for start in range(0, len(operations), _MAX_TRANSACTION):
            chunk = operations[start : start + _MAX_TRANSACTION]
            try:
                metadata = self._table.submit_transaction(chunk)
            except AzureError as exc:
                raise translate(exc, "storing bulk job entries") from exc
            for row, answer in zip(rows[start : start + _MAX_TRANSACTION], metadata, strict=False):
                row.etag = str(answer.get("etag")) if answer else None

    def finish(self, batch_id: str, rows: Sequence[StepRow]) -> list[StepRow]:
        """Store final entries for steps read as pending; returns the rows another delivery
        finished first (their stored entry, which the caller adopts)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import TableTransactionError, UpdateMode

        lost: list[StepRow] = []
        for start in range(0, len(rows), _MAX_TRANSACTION):
            chunk = list(rows[start : start + _MAX_TRANSACTION])
            operations: list[Any] = [
                ("update", self._entity(batch_id, row),
                 {"mode": UpdateMode.REPLACE, "etag": row.etag, "match_condition": MatchConditions.IfNotModified})
                for row in chunk
            ]
            try:
                self._table.submit_transaction(operations)
                continue
            except TableTransactionError:
                pass  # a row changed since it was read: store the others one by one
            except AzureError as exc:
                raise translate(exc, "storing bulk job results") from exc
            for row in chunk:
                try:
                    self._table.update_entity(self._entity(batch_id, row), mode=UpdateMode.REPLACE,
                                              etag=row.etag, match_condition=MatchConditions.IfNotModified)
                except (ResourceModifiedError, ResourceNotFoundError):
                    stored = self._table.get_entity(batch_id, row_key(row.position, row.prefix))
                    lost.append(_step(stored))
                except AzureError as exc:
                    raise translate(exc, "storing bulk job results") from exc
        return lost

    def _entity(self, batch_id: str, row: StepRow) -> dict[str, Any]:
        text = json.dumps(row.entry, ensure_ascii=False, separators=(",", ":"))
        parts = [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)] or [""]
        if len(parts) > _MAX_CHUNKS:
            raise StorageError("a bulk job entry is too large to store")
        return {
            "PartitionKey": batch_id,
            "RowKey": row_key(row.position, row.prefix),
            "stepId": row.step_id or "",
            "type": row.type or "",
            "bodyHash": row.body_hash,
            **{f"entry{i}": part for i, part in enumerate(parts)},
            **self._times(),
        }

    def _times(self) -> dict[str, datetime]:
        now = self._clock()
        return {"updatedAt": now, "expiresAt": now + self.retention}


def _record(batch_id: str, meta: Mapping[str, Any]) -> BatchRecord:
    error = meta.get("error") or ""
    return BatchRecord(
        batch_id=batch_id,
        status=str(meta.get("status", "running")),
        total=int(meta.get("total", 0)),
        failed=int(meta.get("failed", 0)),
        counts=json.loads(meta.get("counts") or "{}"),
        dynamics_requests=int(meta.get("dynamicsRequests", 0)),
        error=json.loads(error) if error else None,
        conflicts=json.loads(meta.get("conflicts") or "[]"),
        totals=json.loads(meta.get("totals") or "{}"),
    )


def _step(row: TableEntity) -> StepRow:
    parts = []
    index = 0
    while f"entry{index}" in row:
        parts.append(row[f"entry{index}"])
        index += 1
    key = str(row["RowKey"])
    return StepRow(
        prefix=key[0],
        position=int(key[1:]),
        step_id=row.get("stepId") or None,
        type=row.get("type") or None,
        body_hash=str(row.get("bodyHash", "")),
        entry=json.loads("".join(parts) or "{}"),
        etag=str(row.metadata["etag"]),
    )


class BatchQueues:
    """The queues and the claim-check blob of a bulk job: journey batches by default, or a
    campaign export's (`BatchQueues(storage, "campaign-export", "campaign-export-results")`)."""

    STEPS = "journey-steps"
    RESULTS = "journey-results"

    def __init__(self, storage: StorageClients, work_queue: str = STEPS, results_queue: str = RESULTS) -> None:
        self._storage = storage
        self.work_queue = work_queue
        self.results_queue = results_queue

    def read_steps_blob(self, reference: str) -> bytes:
        """The claim-check blob `container/name`; `LookupError` when it is missing or unreadable."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        container, _, name = reference.partition("/")
        try:
            blob = self._storage.blobs.get_blob_client(container, name)
            return bytes(blob.download_blob().readall())
        except ResourceNotFoundError as exc:
            raise LookupError(f"the claim-check blob {container}/… does not exist") from exc
        except (AzureError, ValueError) as exc:
            raise LookupError(f"the claim-check blob {container}/… could not be read: {type(exc).__name__}") from exc

    def send_summary(self, summary: Mapping[str, Any]) -> None:
        self._send(self.results_queue, json.dumps(summary, ensure_ascii=False, separators=(",", ":")), 0)

    def hand_over(self, message_text: str, delay_seconds: int) -> None:
        """Enqueue the same message again, visible after `delay_seconds`."""
        self._send(self.work_queue, message_text, delay_seconds)

    def _send(self, queue: str, text: str, delay: int) -> None:
        from azure.core.exceptions import AzureError

        try:
            self._storage.queue(queue).send_message(text, visibility_timeout=delay or None)
        except AzureError as exc:
            raise translate(exc, f"sending to queue {queue}") from exc


def pending_entry() -> dict[str, Any]:
    return {"outcome": "pending"}
