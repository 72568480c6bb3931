"""Sync runs in Table Storage, and the blob lease that keeps two runs from overlapping.

Runs (partition `run`): RowKey = runId, which starts with the inverted queue time in
milliseconds, so the partition's natural order is newest first and `GET /api/sync/runs?top=`
reads only the first `top` rows. The run document is one JSON property. The row `run-current /
current` names the run that is queued or running; creating it is conditional, so only one run
is ever queued or running.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from shared.store.errors import StorageError, translate

if TYPE_CHECKING:
    from azure.data.tables import TableClient
    from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient

log = logging.getLogger(__name__)

_RUNS = "run"
_CURRENT = ("run-current", "current")
_MAX_MILLIS = 10**13 - 1


class RunActive(StorageError):
    """A run is already queued or running."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"sync run {run_id} is queued or running")
        self.run_id = run_id


def new_run_id(queued_ms: int) -> str:
    return f"{_MAX_MILLIS - queued_ms:013d}-{secrets.token_hex(4)}"


class SyncRunStore:
    def __init__(self, table: TableClient | Callable[[], TableClient]) -> None:
        self._source = table
        self._table: TableClient | None = None if callable(table) else table

    def _client(self) -> TableClient:
        if self._table is None:
            source = self._source
            assert callable(source)
            self._table = source()
        return self._table

    def current(self) -> dict[str, Any] | None:
        """The run that is queued or running, if any."""
        pointer = self._read(*_CURRENT)
        return self.get(str(pointer["runId"])) if pointer is not None else None

    def start(self, run_id: str, run: dict[str, Any], saved_at: float | None = None) -> None:
        """Store a queued run and make it the current one; `RunActive` when one already is."""
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            self._client().create_entity({"PartitionKey": _CURRENT[0], "RowKey": _CURRENT[1], "runId": run_id})
        except ResourceExistsError:
            pointer = self._read(*_CURRENT)
            raise RunActive(str(pointer["runId"]) if pointer else "unknown") from None
        except AzureError as exc:
            raise translate(exc, "queueing a sync run") from exc
        self.save(run_id, run, saved_at)

    def save(self, run_id: str, run: dict[str, Any], saved_at: float | None = None) -> None:
        """Store the run document; `saved_at` (epoch seconds, default now) says when it last moved."""
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": _RUNS, "RowKey": run_id, "status": run["status"],
                  "savedAt": time.time() if saved_at is None else saved_at,
                  "doc": json.dumps(run, ensure_ascii=False, separators=(",", ":"))}
        try:
            self._client().upsert_entity(entity, mode=UpdateMode.REPLACE)
        except AzureError as exc:
            raise translate(exc, "writing a sync run") from exc

    def release(self, run_id: str) -> None:
        """The run ended: it is no longer the current one."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError

        pointer = self._read(*_CURRENT)
        if pointer is None or pointer["runId"] != run_id:
            return
        try:
            self._client().delete_entity(*_CURRENT, etag=pointer.metadata["etag"],
                                         match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            pass
        except AzureError as exc:
            raise translate(exc, "ending a sync run") from exc

    def get(self, run_id: str) -> dict[str, Any] | None:
        row = self._read(_RUNS, run_id)
        return {"runId": run_id, **json.loads(row["doc"])} if row is not None else None

    def idle_seconds(self, run_id: str, now: float | None = None) -> float:
        """Seconds from the run's last save to `now` (epoch seconds, default now)."""
        row = self._read(_RUNS, run_id)
        if row is None:
            return float("inf")
        return (time.time() if now is None else now) - float(row.get("savedAt") or 0)

    def newest(self, top: int | None = None) -> Iterator[dict[str, Any]]:
        """Runs newest first (by queue time)."""
        from azure.core.exceptions import AzureError

        try:
            rows = self._client().query_entities(f"PartitionKey eq '{_RUNS}'", results_per_page=min(top or 100, 100))
            for count, row in enumerate(rows):
                if top is not None and count >= top:
                    return
                yield {"runId": str(row["RowKey"]), **json.loads(row["doc"])}
        except AzureError as exc:
            raise translate(exc, "reading sync runs") from exc

    def _read(self, partition: str, row_key: str) -> Any:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        if "'" in row_key or "/" in row_key:
            return None
        try:
            return self._client().get_entity(partition, row_key)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise translate(exc, "reading sync runs") from exc


class RunLease:
    """A 60-second blob lease held while a run works; `renew` it between pages."""

    DURATION = 60

    def __init__(self, container: ContainerClient | Callable[[], ContainerClient], name: str = "sync-run.lease") -> None:
        self._source = container
        self._name = name
        self._lease: BlobLeaseClient | None = None

    def _blob(self) -> BlobClient:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        source = self._source
        container = source() if callable(source) else source
        blob = container.get_blob_client(self._name)
        try:
            blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            if exc.status_code != 412:  # a lease is held on it: it exists
                raise translate(exc, "preparing the sync lease") from exc
        return blob

    def acquire(self) -> bool:
        """Take the lease; False when another delivery holds it."""
        from azure.core.exceptions import HttpResponseError

        try:
            self._lease = self._blob().acquire_lease(lease_duration=self.DURATION)
        except HttpResponseError as exc:
            if exc.status_code == 409:
                return False
            raise translate(exc, "taking the sync lease") from exc
        return True

    def renew(self) -> None:
        from azure.core.exceptions import AzureError

        if self._lease is not None:
            try:
                self._lease.renew()
            except AzureError as exc:
                raise translate(exc, "renewing the sync lease") from exc

    def release(self) -> None:
        from azure.core.exceptions import AzureError

        if self._lease is not None:
            try:
                self._lease.release()
            except AzureError:
                log.warning("could not release the sync lease; it runs out in %d s", self.DURATION)
            self._lease = None

    def is_held_elsewhere(self) -> bool:
        """Whether some delivery holds the lease now (probe: take and give back at once)."""
        if self.acquire():
            self.release()
            return False
        return True
