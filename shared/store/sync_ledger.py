"""The sync ledger in Table Storage: which platform contact each Dynamics record is linked to, and
what the sync last synced for it (every mapped field's value and the `versionnumber`).

Both directions of a link live in one partition per kind (`link-lead`, `link-contact`), so a
link, its replacement and an unlink are one atomic table transaction:

- `d:<dynamicsId>`: a record the sync sent or wrote (`platformContactId` when linked, absent for
  a record that is known but not linked), `version`, `values` (JSON: platform name -> value),
  `linkedAt`.
- `p:<platformContactId>`: `dynamicsId` of that contact's link of this kind.

Reads are point reads or a paged scan of one partition; nothing loads a whole table.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.store.errors import StorageError, StorageUnavailableError, translate

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

# Characters Table Storage refuses in keys (and `%`, the escape itself).
READ_THREADS = 8  # point reads in flight at once for `get_records`
UPSERT_ATTEMPTS = 3
# A table transaction holds at most 100 operations and 4 MiB.
TRANSACTION_ROWS = 100
TRANSACTION_BYTES = 3 * 1024 * 1024

_UNSAFE_KEY_CHARS = frozenset("%/\\#?") | {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}


def key_part(text: str) -> str:
    """`text` made safe for a PartitionKey or RowKey: refused characters percent-encoded, so
    distinct ids stay distinct and case is kept."""
    return "".join(f"%{ord(ch):02X}" if ch in _UNSAFE_KEY_CHARS else ch for ch in text)


@dataclass(frozen=True)
class LedgerRecord:
    """A Dynamics record the sync knows, as the ledger holds it."""

    entity: str
    dynamics_id: str
    platform_contact_id: str | None = None
    version: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    linked_at: str | None = None
    generation: str | None = None
    """The initial sync (`KindState.generation`) that last sent the record: a resumed one skips it."""
    origin: str | None = None
    """`platform` for a record the sync created or matched for an enqueue, else None (from Dynamics)."""
    written: int | None = None
    """The `versionnumber` the sync's own last write produced: seeing it again is an echo."""


class SyncLedger:
    def __init__(self, table: TableClient | Callable[[], TableClient]) -> None:
        self._source = table
        self._table: TableClient | None = None if callable(table) else table

    def _client(self) -> TableClient:
        if self._table is None:
            source = self._source
            assert callable(source)
            self._table = source()
        return self._table

    # -- reading -----------------------------------------------------------------------------
    def get_record(self, entity: str, dynamics_id: str) -> LedgerRecord | None:
        row = self._read(_partition(entity), f"d:{dynamics_id}")
        return _record(entity, row) if row is not None else None

    def get_records(self, entity: str, dynamics_ids: Iterable[str]) -> dict[str, LedgerRecord]:
        """The known records among `dynamics_ids`: point reads, `READ_THREADS` at a time (a page of
        an initial sync, a chunk of changed ids)."""
        from concurrent.futures import ThreadPoolExecutor

        ids = list(dict.fromkeys(dynamics_ids))
        if len(ids) <= 1:
            found = [self.get_record(entity, dynamics_id) for dynamics_id in ids]
        else:
            with ThreadPoolExecutor(min(READ_THREADS, len(ids)), thread_name_prefix="sync-ledger") as pool:
                found = list(pool.map(lambda dynamics_id: self.get_record(entity, dynamics_id), ids))
        return {record.dynamics_id: record for record in found if record is not None}

    def get_link(self, entity: str, platform_contact_id: str) -> LedgerRecord | None:
        """The record linked to the contact for this kind, or None."""
        index = self._read(_partition(entity), f"p:{key_part(platform_contact_id)}")
        if index is None:
            return None
        record = self.get_record(entity, str(index["dynamicsId"]))
        return record if record is not None and record.platform_contact_id == platform_contact_id else None

    def knows_any(self, entity: str) -> bool:
        """Whether the ledger holds any record of a kind (one row read at most)."""
        return next(self._query(entity, per_page=1), None) is not None

    def records(self, entity: str) -> Iterator[LedgerRecord]:
        """Every record of a kind the sync knows, page by page (for a full re-read's comparison)."""
        return self._query(entity, per_page=1000)

    def _query(self, entity: str, *, per_page: int) -> Iterator[LedgerRecord]:
        from azure.core.exceptions import AzureError

        query = f"PartitionKey eq '{_partition(entity)}' and RowKey ge 'd:' and RowKey lt 'd;'"
        try:
            for row in self._client().query_entities(query, results_per_page=per_page):
                yield _record(entity, row)
        except AzureError as exc:
            raise translate(exc, f"reading the {entity} ledger") from exc

    # -- writing -----------------------------------------------------------------------------
    def remember(self, record: LedgerRecord) -> None:
        """Store what was synced for a record (values and version); its link is kept as it is."""
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        try:
            self._client().upsert_entity(_remembered(record), mode=UpdateMode.MERGE)
        except AzureError as exc:
            raise translate(exc, f"remembering a {record.entity} record") from exc

    def remember_many(self, records: Iterable[LedgerRecord]) -> None:
        """`remember` for many records of one kind, one table transaction per 100 rows (or per
        ~3 MiB, under the service's 4 MiB a transaction). Each transaction is all or nothing; one
        record may appear once."""
        from azure.data.tables import UpdateMode

        operations: list[Any] = []
        size = 0
        for record in records:
            entity = _remembered(record)
            entity_size = sum(len(str(value)) for value in entity.values()) * 2  # UTF-16 at worst
            if operations and (len(operations) == TRANSACTION_ROWS or size + entity_size > TRANSACTION_BYTES):
                self._submit_upserts(operations)
                operations, size = [], 0
            operations.append(("upsert", entity, {"mode": UpdateMode.MERGE}))
            size += entity_size
        if operations:
            self._submit_upserts(operations)

    def _submit_upserts(self, operations: list[Any]) -> None:
        """A transaction of upserts, sent again when the connection broke: the SDK never resends a
        transaction (a POST), but upserts land the same however often they are applied."""
        for attempt in range(UPSERT_ATTEMPTS):
            try:
                self._submit(operations, "remembering synced records")
                return
            except StorageUnavailableError:
                if attempt == UPSERT_ATTEMPTS - 1:
                    raise
                log.warning("ledger: a transaction of %d upserts got no answer; sending it again", len(operations))
                time.sleep(0.5 * (attempt + 1))

    def link(self, entity: str, platform_contact_id: str, dynamics_id: str, linked_at: str) -> None:
        """Link the contact and the record for this kind; a link either of them had is replaced.

        The record must be known (`remember` first). One transaction: the new index row, the
        record's `platformContactId`, the end of the contact's previous link and of the record's
        previous contact."""
        from azure.data.tables import UpdateMode

        partition = _partition(entity)
        contact_key = f"p:{key_part(platform_contact_id)}"
        record = self._read(partition, f"d:{dynamics_id}")
        if record is None:
            raise StorageError(f"the {entity} record is not in the ledger")
        operations: list[tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], dict[str, Any]]] = []
        previous_record = self._read(partition, contact_key)
        if previous_record is not None and previous_record["dynamicsId"] != dynamics_id:
            displaced = self._read(partition, f"d:{previous_record['dynamicsId']}")
            if displaced is not None:  # stays known, no longer linked: its row without the link columns
                kept = {k: v for k, v in displaced.items() if k not in ("platformContactId", "linkedAt")}
                operations.append(("upsert", kept, {"mode": UpdateMode.REPLACE}))
        previous_contact = record.get("platformContactId")
        if previous_contact and previous_contact != platform_contact_id:
            operations.append(("delete", {"PartitionKey": partition, "RowKey": f"p:{key_part(previous_contact)}"}))
        operations.append(("upsert", {"PartitionKey": partition, "RowKey": contact_key, "dynamicsId": dynamics_id,
                                      "linkedAt": linked_at}, {"mode": UpdateMode.REPLACE}))
        operations.append(("upsert", {"PartitionKey": partition, "RowKey": f"d:{dynamics_id}",
                                      "platformContactId": platform_contact_id, "linkedAt": linked_at},
                           {"mode": UpdateMode.MERGE}))
        self._submit(operations, f"linking a {entity} record")
        log.info("ledger: %s record linked", entity)

    def unlink(self, entity: str, platform_contact_id: str) -> str | None:
        """End the contact's link of this kind and forget the record (it is not sent again unless an
        initial sync selects it). Returns the record's id, None when there was no link."""
        linked = self.get_link(entity, platform_contact_id)
        partition = _partition(entity)
        contact_key = f"p:{key_part(platform_contact_id)}"
        if linked is None:
            self._delete(partition, contact_key)
            return None
        self._submit([("delete", {"PartitionKey": partition, "RowKey": contact_key}),
                      ("delete", {"PartitionKey": partition, "RowKey": f"d:{linked.dynamics_id}"})],
                     f"unlinking a {entity} record")
        return linked.dynamics_id

    def forget(self, entity: str, dynamics_id: str) -> LedgerRecord | None:
        """Forget a record (deleted or merged away in Dynamics) and end its link; returns what it was."""
        record = self.get_record(entity, dynamics_id)
        if record is None:
            return None
        partition = _partition(entity)
        operations: list[tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("delete", {"PartitionKey": partition, "RowKey": f"d:{dynamics_id}"})]
        if record.platform_contact_id is not None:
            index = self._read(partition, f"p:{key_part(record.platform_contact_id)}")
            if index is not None and index["dynamicsId"] == dynamics_id:
                operations.append(("delete", {"PartitionKey": partition,
                                              "RowKey": f"p:{key_part(record.platform_contact_id)}"}))
        self._submit(operations, f"forgetting a {entity} record")
        return record

    # -- plumbing ------------------------------------------------------------------------------
    def _read(self, partition: str, row_key: str) -> dict[str, Any] | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return dict(self._client().get_entity(partition, row_key))
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise translate(exc, "reading the sync ledger") from exc

    def _delete(self, partition: str, row_key: str) -> None:
        from azure.core.exceptions import AzureError

        try:
            self._client().delete_entity(partition, row_key)
        except AzureError as exc:
            raise translate(exc, "writing the sync ledger") from exc

    def _submit(self, operations: list[Any], what: str) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        try:
            self._client().submit_transaction(operations)
        except TableTransactionError as exc:
            raise StorageError(f"Azure Storage refused the transaction while {what}") from exc
        except AzureError as exc:
            raise translate(exc, what) from exc


def _partition(entity: str) -> str:
    if entity not in ("lead", "contact"):
        raise ValueError(f"not a sync kind: {entity!r}")
    return f"link-{entity}"


def _remembered(record: LedgerRecord) -> dict[str, Any]:
    """The ledger row that stores what was synced for a record, its link columns left out."""
    entity: dict[str, Any] = {"PartitionKey": _partition(record.entity), "RowKey": f"d:{record.dynamics_id}",
                              "values": json.dumps(record.values, ensure_ascii=False, separators=(",", ":"))}
    if record.version is not None:
        entity["version"] = str(record.version)  # 64-bit: kept exact as text
    if record.generation is not None:
        entity["initialGeneration"] = record.generation
    if record.origin is not None:
        entity["origin"] = record.origin
    if record.written is not None:
        entity["writtenVersion"] = str(record.written)
    return entity


def _record(entity: str, row: dict[str, Any]) -> LedgerRecord:
    version = row.get("version")
    values = row.get("values")
    return LedgerRecord(
        entity=entity,
        dynamics_id=str(row["RowKey"])[2:],
        platform_contact_id=row.get("platformContactId") or None,
        version=int(version) if version not in (None, "") else None,
        values=json.loads(values) if isinstance(values, str) and values else {},
        linked_at=row.get("linkedAt") or None,
        generation=row.get("initialGeneration") or None,
        origin=row.get("origin") or None,
        written=int(row["writtenVersion"]) if row.get("writtenVersion") else None,
    )
