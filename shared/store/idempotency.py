"""Idempotency records in Table Storage: key -> body hash -> stored response.

A record per (scope, key): `PartitionKey` is the scope (one endpoint, e.g. `CreateUpdateLead`),
`RowKey` the SHA-256 of the key (table keys forbid `/ \\ # ?`, and a hash keeps them short).

Life of a key:

1. `begin(scope, key, body_hash)` inserts a *pending* claim if no record exists. Table inserts
   fail with 409 when the row exists, so of several first writers exactly one wins; the others
   read the winner's row and see its claim.
2. The winner does the work and calls `complete(claim, status, body)`, which stores the
   response (ETag-conditional on its own claim). A retryable failure calls `release(claim)`,
   which deletes the pending row so a retry can start again.
3. Later calls with the same key: same body and completed -> the stored response (replay);
   another body -> `IdempotencyConflict`; same body and still pending within its lease ->
   `IdempotencyInProgress`; pending past its lease (the attempt crashed or timed out) -> the
   caller takes the claim over with an ETag-conditional update (`Claim.taken_over` is True).
   Steps make a taken-over attempt safe by creating records with ids from `Claim.derived_id`.

Records are kept for at least `retention` (7 days by default): each row has `expiresAt`. An
expired row is treated as absent and overwritten on the next use of its key; rows nobody uses
again are deleted by `purge_expired()` (run from a timer). Table Storage has no TTL of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.store.errors import IdempotencyConflict, IdempotencyInProgress, StorageError, translate
from shared.store.retry_after import retry_after_seconds

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableEntity

# The table SDK is imported by the methods that call it: a step without an idempotency key,
# and every function that keeps no records, never loads it (see `shared.store.clients`).

log = logging.getLogger(__name__)

PENDING = "pending"
COMPLETED = "completed"

DEFAULT_RETENTION = timedelta(days=7)
DEFAULT_LEASE = timedelta(minutes=15)
MAX_KEY_LENGTH = 200

# Table string properties hold at most 64 KiB (32K UTF-16 code units, and a character may take
# two); responses are split over several properties, inside the 1 MiB entity limit.
_CHUNK_CHARS = 15_000
_MAX_CHUNKS = 15
_MAX_TRANSACTION = 100  # operations per table transaction
_SCOPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
_NAMESPACE = uuid.UUID("6f1c1f7e-6a55-4f0e-9b7d-2f4d8b3f9a10")


def body_hash(body: Any) -> str:
    """SHA-256 of a parsed JSON body in canonical form: equal JSON gives an equal hash.

    Key order and insignificant whitespace do not matter, and `1.0` equals `1`.
    """
    canonical = json.dumps(_canonical(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def derived_id(scope: str, key: str, namespace: str) -> str:
    """A GUID that depends only on (scope, key, namespace): the same for every attempt with that key."""
    base = uuid.uuid5(_NAMESPACE, f"{scope}\n{key}")
    return str(uuid.uuid5(base, namespace))


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


@dataclass(frozen=True)
class Claim:
    """The right to do the work for one (scope, key); hand it back to `complete` or `release`."""

    scope: str
    key: str
    body_hash: str
    claim_id: str
    etag: str
    taken_over: bool = False
    """True when this claim replaced a pending claim whose lease ran out (that attempt may have
    written part of its work: create records with `derived_id` so nothing is written twice)."""

    def derived_id(self, namespace: str) -> str:
        """A GUID for a record this key creates (e.g. `claim.derived_id("lead")`), equal across attempts."""
        return derived_id(self.scope, self.key, namespace)


@dataclass(frozen=True)
class StoredResponse:
    """The response of the attempt that completed the key: replay it (with `"idempotent": true`)."""

    status: int
    body: Any


class IdempotencyStore:
    """Idempotency records in one table. Thread-safe; share one per worker."""

    def __init__(
        self,
        table: TableClient | Callable[[], TableClient],
        *,
        retention: timedelta = DEFAULT_RETENTION,
        lease: timedelta = DEFAULT_LEASE,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`table` is a TableClient, or a callable giving one (so the table is created on first use)."""
        if retention < DEFAULT_RETENTION:
            raise ValueError("idempotency records must be kept at least 7 days")
        self._table_source = table
        self._table_client: TableClient | None = None if callable(table) else table
        self.retention = retention
        self.lease = lease
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def _table(self) -> TableClient:
        if self._table_client is None:
            source = self._table_source
            assert callable(source)
            self._table_client = source()
        return self._table_client

    # -- the protocol -------------------------------------------------------------------------

    def begin(self, scope: str, key: str, body_hash: str) -> Claim | StoredResponse:
        """Claim (scope, key) for this attempt, or return the stored response to replay.

        Raises `IdempotencyConflict` when the key was used with another body, and
        `IdempotencyInProgress` when another attempt holds a live claim.
        """
        _check_scope(scope)
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"an idempotency key has 1-{MAX_KEY_LENGTH} characters")
        partition, row = scope, _row_key(key)
        # Each pass either decides or loses a race to another writer; a few passes always suffice.
        for _ in range(5):
            claim = self._try_insert(partition, row, scope, key, body_hash)
            if claim is not None:
                return claim
            existing = self._read(partition, row)
            if existing is None:
                continue  # released or purged in between: insert again
            decided = self._decide(existing, scope, key, body_hash)
            if decided is not None:
                return decided
        raise IdempotencyInProgress(scope, retry_after=1)

    def complete(self, claim: Claim, status: int, body: Any) -> None:
        """Store the response of the attempt holding `claim`; later calls replay it."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        now = self._clock()
        entity = self._entity(claim.scope, claim.key, claim.body_hash, claim.claim_id, now, state=COMPLETED)
        entity["responseStatus"] = int(status)
        if hasattr(body, "model_dump"):
            body = body.model_dump(mode="json", by_alias=True)
        entity.update(_chunks(json.dumps(body, ensure_ascii=False, separators=(",", ":"))))
        try:
            self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=claim.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            # Only possible when the attempt outlived its lease and another took the key over: that
            # attempt (same derived ids) stores its own response. Ours still goes to our caller.
            log.warning("idempotency claim on %s was taken over before it completed; response not stored",
                        claim.scope)
        except AzureError as exc:
            raise translate(exc, "storing an idempotent response") from exc

    def release(self, claim: Claim) -> None:
        """Give the key back after a retryable failure, so a retry can claim it at once."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError

        try:
            self._table.delete_entity(
                claim.scope, _row_key(claim.key), etag=claim.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            log.info("idempotency claim on %s was already gone or taken over when released", claim.scope)
        except AzureError as exc:
            raise translate(exc, "releasing an idempotency claim") from exc

    def purge_expired(self, *, limit: int | None = None) -> int:
        """Delete records whose `expiresAt` has passed; returns how many were deleted.

        Rows go in transactions of up to 100 per partition, each delete conditional on the ETag
        the query saw, so a key re-claimed meanwhile is left alone.
        """
        from azure.core.exceptions import AzureError

        now = self._clock()
        deleted = 0
        batches: dict[str, list[TableEntity]] = {}
        try:
            rows = self._table.query_entities(
                "expiresAt lt @now", parameters={"now": now}, select=["PartitionKey", "RowKey"]
            )
            for seen, row in enumerate(rows, start=1):
                batch = batches.setdefault(row["PartitionKey"], [])
                batch.append(row)
                if len(batch) == _MAX_TRANSACTION:
                    deleted += self._delete_rows(batch)
                    batch.clear()
                if limit is not None and seen >= limit:
                    break
            for batch in batches.values():
                if batch:
                    deleted += self._delete_rows(batch)
        except AzureError as exc:
            raise translate(exc, "purging expired idempotency records") from exc
        if deleted:
            log.info("purged %d expired idempotency records", deleted)
        return deleted

    def _delete_rows(self, rows: list[TableEntity]) -> int:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import TableTransactionError

        condition = MatchConditions.IfNotModified
        operations: list[Any] = [
            ("delete", row, {"etag": row.metadata["etag"], "match_condition": condition}) for row in rows
        ]
        try:
            self._table.submit_transaction(operations)
            return len(rows)
        except TableTransactionError:
            pass  # one row changed or vanished since the query: delete the others one by one
        deleted = 0
        for row in rows:
            try:
                self._table.delete_entity(
                    row["PartitionKey"], row["RowKey"], etag=row.metadata["etag"], match_condition=condition
                )
                deleted += 1
            except (ResourceNotFoundError, ResourceModifiedError):
                pass
        return deleted

    # -- helpers ------------------------------------------------------------------------------

    def _decide(self, existing: TableEntity, scope: str, key: str, body_hash: str) -> Claim | StoredResponse | None:
        now = self._clock()
        etag = str(existing.metadata["etag"])
        if _as_datetime(existing.get("expiresAt")) <= now:
            return self._take_over(existing, etag, scope, key, body_hash, taken_over=False)
        if existing.get("bodyHash") != body_hash:
            raise IdempotencyConflict(scope)
        if existing.get("state") == COMPLETED:
            return StoredResponse(status=int(existing["responseStatus"]), body=json.loads(_unchunk(existing)))
        lease_until = _as_datetime(existing.get("leaseUntil"))
        if lease_until > now:
            # Retry-After reflects the work in flight: how long the claim has run, against a typical step.
            age = (now - _as_datetime(existing.get("updatedAt"))).total_seconds()
            raise IdempotencyInProgress(scope, retry_after=retry_after_seconds(age, (lease_until - now).total_seconds()))
        log.warning("taking over an idempotency claim on %s whose lease ran out", scope)
        return self._take_over(existing, etag, scope, key, body_hash, taken_over=True)

    def _try_insert(self, partition: str, row: str, scope: str, key: str, body_hash: str) -> Claim | None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        claim_id = uuid.uuid4().hex
        entity = self._entity(scope, key, body_hash, claim_id, self._clock(), state=PENDING)
        try:
            metadata = self._table.create_entity(entity)
        except ResourceExistsError:
            return None
        except AzureError as exc:
            raise translate(exc, "claiming an idempotency key") from exc
        return Claim(scope, key, body_hash, claim_id, metadata["etag"])

    def _take_over(
        self, existing: TableEntity, etag: str, scope: str, key: str, body_hash: str, *, taken_over: bool
    ) -> Claim | None:
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        claim_id = uuid.uuid4().hex
        entity = self._entity(scope, key, body_hash, claim_id, self._clock(), state=PENDING)
        try:
            metadata = self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None  # someone else moved first: look again
        except AzureError as exc:
            raise translate(exc, "taking over an idempotency key") from exc
        return Claim(scope, key, body_hash, claim_id, metadata["etag"], taken_over=taken_over)

    def _read(self, partition: str, row: str) -> TableEntity | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return self._table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise translate(exc, "reading an idempotency record") from exc

    def _entity(
        self, scope: str, key: str, body_hash: str, claim_id: str, now: datetime, *, state: str
    ) -> dict[str, Any]:
        return {
            "PartitionKey": scope,
            "RowKey": _row_key(key),
            "key": key,
            "bodyHash": body_hash,
            "state": state,
            "claimId": claim_id,
            "updatedAt": now,
            "leaseUntil": now + self.lease,
            "expiresAt": now + self.retention,
        }


def _check_scope(scope: str) -> None:
    if not scope or len(scope) > 200 or not set(scope) <= _SCOPE_CHARS:
        raise ValueError("an idempotency scope is 1-200 characters of letters, digits and - _ . :")


def _row_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def _chunks(text: str) -> dict[str, str]:
    parts = [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)] or [""]
    if len(parts) > _MAX_CHUNKS:
        raise StorageError("the response is too large to store as an idempotent response")
    return {f"responseBody{i}": part for i, part in enumerate(parts)}


def _unchunk(entity: TableEntity) -> str:
    parts = []
    index = 0
    while f"responseBody{index}" in entity:
        parts.append(entity[f"responseBody{index}"])
        index += 1
    return "".join(parts)
