"""Per-person locks in Table Storage: one writer at a time per person, across every function
instance (docs/STEPS.md "One person, one record").

A step that may create a person record holds the person's locks around look-up, decide and
write, so a second step for the same person looks up only after the first one's record exists.
The lock cannot live in process memory: Azure runs the app on several instances at once.

One table row per lock key (`shared.person_keys`): PartitionKey the table (`lead`), RowKey the
SHA-256 of the key's identity (the person's values never reach storage), and a bounded lease:

1. Acquire: insert the row; Table Storage refuses a second insert of a key (409), so of several
   writers exactly one wins. Keys of one partition go in one transaction (all or nothing, one
   request for up to 100 keys); when it fails, key by key.
2. A row whose `expiresAt` has passed belongs to a holder that died (or ran past its lease): it
   is taken over with an ETag-conditional replace, so of several takers exactly one wins. A row
   that cannot be read as a lease, or that promises more than a lease ever holds, is treated the
   same way: a stuck row costs a wait of at most one lease, never an error.
3. Release: an ETag-conditional delete, so a holder that outlived its lease never deletes the
   lock of the writer that took over.

A writer takes all its keys in sorted order or none (what it took is released when one key is
held), so writers never wait on each other in a cycle. `acquire` polls with backoff for a few
seconds, then raises `PersonBusy` with a `retry_after`; `acquire_many` is the bulk form (a batch
locks the persons of one write chunk, and defers those it cannot lock).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.store.errors import PersonBusy, translate
from shared.store.retry_after import retry_after_seconds

if TYPE_CHECKING:
    from azure.data.tables import TableClient

# The table SDK is imported by the methods that call it, as in `shared.store.idempotency`: a
# function that never takes a lock (Health, Config, a dry run) never loads it.

__all__ = ["DEFAULT_LEASE", "DEFAULT_WAIT_SECONDS", "HeldLocks", "ManyLocks", "PersonLocks"]

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=60)
# How long `acquire` waits for a held lock before answering busy: a few steps' time.
DEFAULT_WAIT_SECONDS = 5.0
_FIRST_POLL = 0.05
_MAX_POLL = 0.25  # short: a newly arriving writer tries at once, so a waiter must look often
_MAX_TRANSACTION = 100  # operations per table transaction
# A live lease never ends further ahead than the lease plus this much clock difference between instances.
_CLOCK_SLACK = timedelta(seconds=5)

G = TypeVar("G", bound=Hashable)
Key = tuple[str, str]  # (table, identity), e.g. a `shared.person_keys.PersonKey`
_Address = tuple[str, str]  # (PartitionKey, RowKey)


@dataclass(frozen=True)
class HeldLocks:
    """Locks one writer holds; hand them back to `release` (or `renew` before a late write)."""

    owner: str
    rows: tuple[tuple[str, str, str], ...]  # (PartitionKey, RowKey, ETag)
    acquired_at: datetime
    expires_at: datetime

    def remaining(self, now: datetime) -> timedelta:
        return self.expires_at - now


@dataclass(frozen=True)
class ManyLocks(Generic[G]):
    """What `acquire_many` got: the groups now held, and for each busy group its `Retry-After`."""

    held: dict[G, HeldLocks] = field(default_factory=dict)
    busy: dict[G, int] = field(default_factory=dict)


class PersonLocks:
    """Per-person locks in one table. Thread-safe; share one per worker."""

    def __init__(
        self,
        table: TableClient | Callable[[], TableClient],
        *,
        lease: timedelta = DEFAULT_LEASE,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`table` is a TableClient, or a callable giving one (so the table is created on first use)."""
        if lease <= timedelta(0) or wait_seconds < 0:
            raise ValueError("a lock lease must be positive and a wait not negative")
        self._table_source = table
        self._table_client: TableClient | None = None if callable(table) else table
        self.lease = lease
        self.wait_seconds = wait_seconds
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def _table(self) -> TableClient:
        if self._table_client is None:
            source = self._table_source
            assert callable(source)
            self._table_client = source()
        return self._table_client

    # -- the protocol -------------------------------------------------------------------------

    def acquire(self, keys: Iterable[Key], *, wait_seconds: float | None = None) -> HeldLocks:
        """Hold every key, waiting up to `wait_seconds` (default: the store's) while one is held.

        Raises `PersonBusy` (with `retry_after`) when the keys could not all be held in time.
        """
        keys = tuple(keys)  # tried again after each wait
        budget = self.wait_seconds if wait_seconds is None else wait_seconds
        deadline = self._monotonic() + budget
        poll = _FIRST_POLL
        while True:
            got = self.acquire_many({0: keys})
            if 0 in got.held:
                return got.held[0]
            left = deadline - self._monotonic()
            if left <= 0:
                raise PersonBusy(got.busy[0])
            # Jitter, so writers that met the same holder do not all come back at once.
            self._sleep(min(left, poll * (0.5 + random.random() / 2)))
            poll = min(_MAX_POLL, poll * 2)

    def acquire_many(self, groups: Mapping[G, Iterable[Key]]) -> ManyLocks[G]:
        """One try for each group (a person's keys): each is held whole or not at all; no waiting.

        A key named by two groups goes to the first; the second is busy until it is released.
        """
        now = self._clock()
        owner = uuid.uuid4().hex
        wanted: dict[G, list[_Address]] = {}
        first_claim: dict[_Address, G] = {}
        result: ManyLocks[G] = ManyLocks()
        for group, keys in groups.items():
            addresses = sorted({_address(key) for key in keys})
            if any(first_claim.get(address, group) != group for address in addresses):
                result.busy[group] = 1
                continue
            for address in addresses:
                first_claim.setdefault(address, group)
            wanted[group] = addresses
        taken, blocked = self._take(sorted(first_claim), owner, now)
        expires = now + self.lease
        loose: list[tuple[str, str, str]] = []
        for group, addresses in wanted.items():
            rows = tuple((p, r, taken[(p, r)]) for p, r in addresses if (p, r) in taken)
            if len(rows) == len(addresses):
                result.held[group] = HeldLocks(owner, rows, now, expires)
            else:
                result.busy[group] = max(blocked.get(address, 1) for address in addresses if address not in taken)
                loose.extend(rows)
        if loose:
            self._delete(loose)
        return result

    def renew(self, held: HeldLocks) -> HeldLocks:
        """A fresh lease on every key, if `held` still holds them all; else `PersonBusy`.

        A writer whose look-up ran long calls this before it writes: a lease that ran out may
        have been taken over, and then the look-up is stale.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        now = self._clock()
        renewed: list[tuple[str, str, str]] = []
        for index, (partition, row, etag) in enumerate(held.rows):
            entity = self._entity(partition, row, held.owner, now)
            try:
                metadata = self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                log.warning("a person lock ran out before the write and was taken over; the step is retried")
                self._delete(renewed + list(held.rows[index + 1 :]))
                raise PersonBusy(1) from None
            except AzureError as exc:
                raise translate(exc, "renewing a person lock") from exc
            renewed.append((partition, row, str(metadata["etag"])))
        return HeldLocks(held.owner, tuple(renewed), now, now + self.lease)

    def keep(self, held: HeldLocks, *, at_least: timedelta) -> HeldLocks:
        """`held` while its lease has `at_least` left, else `renew(held)`: a free check when the
        look-up was quick, one storage request when it was slow."""
        if held.remaining(self._clock()) >= at_least:
            return held
        return self.renew(held)

    def release(self, held: HeldLocks) -> None:
        """Give the keys back. Never raises: a lock that cannot be deleted runs out with its lease."""
        try:
            self._delete(list(held.rows))
        except Exception:  # the step's answer matters more than the lock row
            log.warning("could not release a person lock; it runs out with its lease", exc_info=True)

    def purge_expired(self) -> int:
        """Delete the rows of holders that died (their lease has passed); returns how many."""
        from azure.core.exceptions import AzureError

        now = self._clock()
        try:
            rows = [
                (row["PartitionKey"], row["RowKey"], str(row.metadata["etag"]))
                for row in self._table.query_entities("expiresAt lt @now", parameters={"now": now})
            ]
        except AzureError as exc:
            raise translate(exc, "purging expired person locks") from exc
        return self._delete(rows)

    # -- helpers ------------------------------------------------------------------------------

    def _take(
        self, addresses: list[_Address], owner: str, now: datetime
    ) -> tuple[dict[_Address, str], dict[_Address, int]]:
        """Insert every address (a transaction per partition chunk, key by key when one fails):
        the ETags of those taken, the `Retry-After` of those held by someone else."""
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        taken: dict[_Address, str] = {}
        blocked: dict[_Address, int] = {}
        for chunk in _chunks(addresses, lambda address: address[0]):
            operations: list[Any] = [("create", self._entity(p, r, owner, now)) for p, r in chunk]
            try:
                answers = self._table.submit_transaction(operations) if len(chunk) > 1 else None
            except TableTransactionError:
                answers = None  # a key is held (or was left by a dead holder): key by key below
            except AzureError as exc:
                raise translate(exc, "taking person locks") from exc
            if answers is not None:
                taken.update((address, str(answer["etag"])) for address, answer in zip(chunk, answers, strict=True))
                continue
            for address in chunk:
                outcome = self._take_one(address, owner, now)
                if isinstance(outcome, str):
                    taken[address] = outcome
                else:
                    blocked[address] = outcome
        return taken, blocked

    def _take_one(self, address: _Address, owner: str, now: datetime) -> str | int:
        """The ETag of the row once taken, or the `Retry-After` of the live holder."""
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            AzureError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.data.tables import UpdateMode

        partition, row = address
        entity = self._entity(partition, row, owner, now)
        # Each pass either decides or loses a race to another writer; a few passes suffice.
        for _ in range(3):
            try:
                return str(self._table.create_entity(entity)["etag"])
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise translate(exc, "taking a person lock") from exc
            try:
                existing = self._table.get_entity(partition, row)
            except ResourceNotFoundError:
                continue  # released in between: insert again
            except AzureError as exc:
                raise translate(exc, "reading a person lock") from exc
            expires = _as_datetime(existing.get("expiresAt"))
            if expires is not None and now < expires <= now + self.lease + _CLOCK_SLACK:
                acquired = _as_datetime(existing.get("acquiredAt"))
                age = (now - acquired).total_seconds() if acquired is not None else 0.0
                return retry_after_seconds(age, (expires - now).total_seconds())
            log.warning("taking over a person lock whose lease ran out or cannot be read")
            try:
                metadata = self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=existing.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue  # another writer moved first: look again
            except AzureError as exc:
                raise translate(exc, "taking over a person lock") from exc
            return str(metadata["etag"])
        return 1

    def _delete(self, rows: list[tuple[str, str, str]]) -> int:
        """ETag-conditional deletes, a transaction per partition chunk; rows changed or gone are left."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import TableTransactionError

        condition = MatchConditions.IfNotModified
        deleted = 0
        for chunk in _chunks([((p, r), etag) for p, r, etag in rows], lambda item: item[0][0]):
            if len(chunk) > 1:
                operations: list[Any] = [
                    ("delete", {"PartitionKey": p, "RowKey": r}, {"etag": etag, "match_condition": condition})
                    for (p, r), etag in chunk
                ]
                try:
                    self._table.submit_transaction(operations)
                    deleted += len(chunk)
                    continue
                except TableTransactionError:
                    pass  # one row was taken over or is gone: the others one by one
                except AzureError as exc:
                    raise translate(exc, "releasing person locks") from exc
            for (partition, row), etag in chunk:
                try:
                    self._table.delete_entity(partition, row, etag=etag, match_condition=condition)
                    deleted += 1
                except (ResourceModifiedError, ResourceNotFoundError):
                    pass
                except AzureError as exc:
                    raise translate(exc, "releasing a person lock") from exc
        return deleted

    def _entity(self, partition: str, row: str, owner: str, now: datetime) -> dict[str, Any]:
        return {"PartitionKey": partition, "RowKey": row, "owner": owner, "acquiredAt": now,
                "expiresAt": now + self.lease}


T = TypeVar("T")


def _chunks(items: list[T], partition_of: Callable[[T], str]) -> list[list[T]]:
    """Runs of at most 100 items of one partition (a table transaction's limit), in order."""
    chunks: list[list[T]] = []
    current_partition: str | None = None
    for item in items:
        partition = partition_of(item)
        if not chunks or partition != current_partition or len(chunks[-1]) == _MAX_TRANSACTION:
            chunks.append([])
            current_partition = partition
        chunks[-1].append(item)
    return chunks


def _address(key: Key) -> _Address:
    table, identity = key
    if not table.isalnum():
        raise ValueError("a lock table is letters and digits")
    return table, hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
