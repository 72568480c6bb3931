"""Work the platform handed the sync, waiting for the next run, in Table Storage.

Enqueues (partition `enqueue-<kind>`): `a:<arrival>` rows in arrival order (the arrival is a
fixed-width time and a random suffix, so the RowKey order is the arrival order) holding the
person, and one `i:<platformContactId>` row per contact naming its latest arrival. A newer
enqueue of the same `(person.id, as)` replaces the older in one transaction: the latest wins.

Changes (partition `changes`): one `c:<platformContactId>` row per contact, merged field by field
(each field keeps the value with the latest `updatedAt`); `appliedAt` remembers the newest change
a run has applied, so an older one arriving later is ignored.

A run reads a partition page by page, never a whole table.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.store.errors import StorageError, translate
from shared.store.sync_ledger import key_part

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

_CHANGES = "changes"
_MERGE_ATTEMPTS = 5


def arrival_key(now_ns: int | None = None) -> str:
    """A RowKey-ordered arrival stamp: 20-digit nanoseconds since the epoch, then a random suffix."""
    return f"{now_ns if now_ns is not None else time.time_ns():020d}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class PendingEnqueue:
    kind: str
    arrival: str
    platform_contact_id: str
    person: dict[str, Any]
    attempts: int = 0
    """Runs that already failed to carry it out."""


@dataclass(frozen=True)
class PendingChange:
    """A contact's merged pending change: `fields` maps a platform name (`email`,
    `platformFields.score`) to `(value, updatedAt)`; `tags` is None when no change carried them."""

    platform_contact_id: str
    fields: dict[str, tuple[Any, str]] = field(default_factory=dict)
    tags: list[str] | None = None
    tags_at: str | None = None
    applied_at: str | None = None
    attempts: int = 0
    """Runs that already failed to write it."""
    etag: str | None = None

    @property
    def updated_at(self) -> str | None:
        stamps = [at for _, at in self.fields.values()] + ([self.tags_at] if self.tags_at else [])
        return max(stamps) if stamps else None


class SyncPendingStore:
    def __init__(self, table: TableClient | Callable[[], TableClient]) -> None:
        self._source = table
        self._table: TableClient | None = None if callable(table) else table

    def _client(self) -> TableClient:
        if self._table is None:
            source = self._source
            assert callable(source)
            self._table = source()
        return self._table

    # -- enqueues -----------------------------------------------------------------------------
    def enqueue(self, kind: str, platform_contact_id: str, person: Mapping[str, Any], arrival: str | None = None) -> None:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        partition = _enqueue_partition(kind)
        index_key = f"i:{key_part(platform_contact_id)}"
        new_arrival = arrival or arrival_key()
        row = {"PartitionKey": partition, "RowKey": f"a:{new_arrival}", "platformContactId": platform_contact_id,
               "person": json.dumps(dict(person), ensure_ascii=False, separators=(",", ":"))}
        index = {"PartitionKey": partition, "RowKey": index_key, "arrival": new_arrival}
        for _ in range(_MERGE_ATTEMPTS):
            previous = self._read(partition, index_key)
            operations: list[Any] = [("upsert", row, {"mode": UpdateMode.REPLACE})]
            if previous is None:
                operations.append(("create", index))
            else:
                operations.append(("update", index, {"mode": UpdateMode.REPLACE, "etag": previous.metadata["etag"],
                                                     "match_condition": MatchConditions.IfNotModified}))
                if previous["arrival"] != new_arrival:
                    operations.append(("delete", {"PartitionKey": partition, "RowKey": f"a:{previous['arrival']}"}))
            if self._try(operations, f"enqueueing a {kind}"):
                return
        raise StorageError(f"enqueueing a {kind} kept colliding with other writers")

    def pending_enqueues(self, kind: str, before: str) -> Iterator[PendingEnqueue]:
        """The enqueues of a kind that arrived before `before` (an `arrival_key`), oldest first."""
        from azure.core.exceptions import AzureError

        query = (f"PartitionKey eq '{_enqueue_partition(kind)}' and RowKey ge 'a:' "
                 f"and RowKey lt 'a:{before}'")
        try:
            for row in self._client().query_entities(query, results_per_page=500):
                yield PendingEnqueue(kind, str(row["RowKey"])[2:], str(row["platformContactId"]),
                                     json.loads(row["person"]), int(row.get("attempts") or 0))
        except AzureError as exc:
            raise translate(exc, f"reading the pending {kind} enqueues") from exc

    def finish_enqueue(self, item: PendingEnqueue) -> None:
        """The run dealt with `item`: drop it, and its index row unless a newer enqueue replaced it."""
        from azure.core import MatchConditions

        partition = _enqueue_partition(item.kind)
        index_key = f"i:{key_part(item.platform_contact_id)}"
        index = self._read(partition, index_key)
        operations: list[Any] = [("delete", {"PartitionKey": partition, "RowKey": f"a:{item.arrival}"})]
        if index is not None and index["arrival"] == item.arrival:
            operations.append(("delete", index, {"etag": index.metadata["etag"],
                                                 "match_condition": MatchConditions.IfNotModified}))
        if not self._try(operations, f"finishing a {item.kind} enqueue"):
            self._delete(partition, f"a:{item.arrival}")  # a newer enqueue took the index meanwhile

    def retry_enqueue(self, item: PendingEnqueue) -> None:
        """The run failed to carry `item` out: it stays for the next run, one attempt more."""
        self._count_attempt(_enqueue_partition(item.kind), f"a:{item.arrival}", item.attempts + 1)

    def pending_kinds(self, platform_contact_id: str) -> list[str]:
        return [kind for kind in ("lead", "contact")
                if self._read(_enqueue_partition(kind), f"i:{key_part(platform_contact_id)}") is not None]

    def drop_enqueue(self, kind: str, platform_contact_id: str) -> None:
        partition = _enqueue_partition(kind)
        index = self._read(partition, f"i:{key_part(platform_contact_id)}")
        if index is None:
            return
        self._delete(partition, f"a:{index['arrival']}")
        self._delete(partition, f"i:{key_part(platform_contact_id)}")

    # -- changes ----------------------------------------------------------------------------------
    def add_change(self, platform_contact_id: str, fields: Mapping[str, Any], tags: list[str] | None,
                   updated_at: str) -> bool:
        """Merge one change into the contact's pending change; False when it is older than the
        last change a run applied (ignored). `updated_at` is ISO 8601 UTC (`...Z`), comparable as text."""
        row_key = f"c:{key_part(platform_contact_id)}"
        for _ in range(_MERGE_ATTEMPTS):
            current = self.get_change(platform_contact_id)
            if current.applied_at is not None and updated_at < current.applied_at:
                return False
            merged = dict(current.fields)
            for name, value in fields.items():
                if name not in merged or merged[name][1] <= updated_at:
                    merged[name] = (value, updated_at)
            new_tags, tags_at = current.tags, current.tags_at
            if tags is not None and (tags_at is None or tags_at <= updated_at):
                new_tags, tags_at = list(tags), updated_at
            entity = _change_entity(row_key, platform_contact_id, merged, new_tags, tags_at, current.applied_at)
            if self._write_change(entity, current.etag):
                return True
        raise StorageError("a pending change kept colliding with other writers")

    def get_change(self, platform_contact_id: str) -> PendingChange:
        row = self._read(_CHANGES, f"c:{key_part(platform_contact_id)}")
        return _change(row) if row is not None else PendingChange(platform_contact_id)

    def pending_changes(self) -> Iterator[PendingChange]:
        """Every contact with a change not applied yet, page by page."""
        from azure.core.exceptions import AzureError

        query = f"PartitionKey eq '{_CHANGES}' and RowKey ge 'c:' and RowKey lt 'c;' and pending eq true"
        try:
            for row in self._client().query_entities(query, results_per_page=500):
                yield _change(row)
        except AzureError as exc:
            raise translate(exc, "reading the pending changes") from exc

    def finish_change(self, applied: PendingChange) -> None:
        """The run applied `applied`: drop what it applied, keep anything newer that arrived since."""
        row_key = f"c:{key_part(applied.platform_contact_id)}"
        for _ in range(_MERGE_ATTEMPTS):
            current = self.get_change(applied.platform_contact_id)
            left = {name: (value, at) for name, (value, at) in current.fields.items()
                    if applied.fields.get(name, (None, ""))[1] < at}
            tags, tags_at = current.tags, current.tags_at
            if tags_at is not None and applied.tags_at is not None and tags_at <= applied.tags_at:
                tags, tags_at = None, None
            stamps = [s for s in (applied.updated_at, current.applied_at) if s]
            entity = _change_entity(row_key, applied.platform_contact_id, left, tags, tags_at,
                                    max(stamps) if stamps else None)
            if self._write_change(entity, current.etag):
                return
        raise StorageError("finishing a pending change kept colliding with other writers")

    def retry_change(self, change: PendingChange) -> None:
        """The run failed to write `change`: it stays for the next run, one attempt more."""
        self._count_attempt(_CHANGES, f"c:{key_part(change.platform_contact_id)}", change.attempts + 1)

    def drop_change(self, platform_contact_id: str) -> None:
        """Forget a contact's pending change (its link ended); `appliedAt` is kept."""
        for _ in range(_MERGE_ATTEMPTS):
            current = self.get_change(platform_contact_id)
            if current.etag is None:
                return
            entity = _change_entity(f"c:{key_part(platform_contact_id)}", platform_contact_id, {}, None, None,
                                    current.applied_at)
            if self._write_change(entity, current.etag):
                return
        raise StorageError("dropping a pending change kept colliding with other writers")

    # -- plumbing ---------------------------------------------------------------------------------
    def _write_change(self, entity: dict[str, Any], etag: str | None) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        table = self._client()
        try:
            if etag is None:
                table.create_entity(entity)
            else:
                table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                    match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            return False
        except AzureError as exc:
            raise translate(exc, "writing a pending change") from exc
        return True

    def _count_attempt(self, partition: str, row_key: str, attempts: int) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            self._client().update_entity({"PartitionKey": partition, "RowKey": row_key, "attempts": attempts},
                                         mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            pass  # replaced by a newer enqueue meanwhile: that one starts afresh
        except AzureError as exc:
            raise translate(exc, "counting a failed attempt") from exc

    def _read(self, partition: str, row_key: str) -> Any:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return self._client().get_entity(partition, row_key)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise translate(exc, "reading the sync's pending work") from exc

    def _delete(self, partition: str, row_key: str) -> None:
        from azure.core.exceptions import AzureError

        try:
            self._client().delete_entity(partition, row_key)
        except AzureError as exc:
            raise translate(exc, "writing the sync's pending work") from exc

    def _try(self, operations: list[Any], what: str) -> bool:
        """Submit one transaction; False when a condition failed (someone else wrote meanwhile)."""
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        try:
            self._client().submit_transaction(operations)
        except TableTransactionError:
            log.info("%s: a concurrent write got there first; trying again", what)
            return False
        except AzureError as exc:
            raise translate(exc, what) from exc
        return True


def _enqueue_partition(kind: str) -> str:
    if kind not in ("lead", "contact"):
        raise ValueError(f"not a sync kind: {kind!r}")
    return f"enqueue-{kind}"


def _change_entity(row_key: str, platform_contact_id: str, fields: Mapping[str, tuple[Any, str]],
                   tags: list[str] | None, tags_at: str | None, applied_at: str | None) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": _CHANGES, "RowKey": row_key, "platformContactId": platform_contact_id,
        "fields": json.dumps({k: [v, at] for k, (v, at) in fields.items()}, ensure_ascii=False,
                             separators=(",", ":")),
        "pending": bool(fields) or tags is not None,
    }
    if tags is not None and tags_at is not None:
        entity["tags"] = json.dumps(tags, ensure_ascii=False)
        entity["tagsAt"] = tags_at
    if applied_at is not None:
        entity["appliedAt"] = applied_at
    return entity


def _change(row: Any) -> PendingChange:
    raw_fields = json.loads(row.get("fields") or "{}")
    tags = row.get("tags")
    return PendingChange(
        platform_contact_id=str(row["platformContactId"]),
        fields={name: (pair[0], str(pair[1])) for name, pair in raw_fields.items()},
        tags=json.loads(tags) if isinstance(tags, str) else None,
        tags_at=row.get("tagsAt") or None,
        applied_at=row.get("appliedAt") or None,
        attempts=int(row.get("attempts") or 0),
        etag=str(row.metadata["etag"]),
    )
