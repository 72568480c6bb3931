"""`write_all`: many independent writes in `$batch` change sets, so one bad record sinks none.

Writes are packed into change sets of `change_set_size` (default 100), sent with
`odata.continue-on-error` so a failed change set does not stop the next, at most 1,000
operations per round trip, several round trips in flight (`Pacer.concurrency`). A change set
that fails is rolled back by Dataverse as a whole; its failed part, when Dataverse names it by
its `Content-ID`, gets that error and the rest is sent again; when it does not, the change set is
split in halves and both are sent again, down to single writes. A write therefore fails only for
its own reason, after at most a few extra round trips.

Throttling and outages are never a write's failure: a round trip (or a part) refused with 429 or
5xx goes back to the `Pacer`, which waits and slows down, and is sent again, until the deadline
(`DeadlineReached`). Every write must be safe to resend (`BatchRequest.idempotent`): creates
carry a chosen id, updates `If-Match`, actions are idempotent ones; a create that meets its own
id already there ("exists") landed earlier and is reported as done (`WriteOutcome.existed`).
Dataverse answers a create the same way when an *alternate key* matches another row, so every
"exists" is checked: one look-up `$batch` reads the chosen ids back, and a create whose id is not
there fails with Dataverse's own answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.bulk.pacing import Pacer
from shared.dynamics.batch import (
    MAX_BATCH_OPERATIONS,
    BatchRequest,
    BatchResponse,
    ChangeSet,
    ChangeSetOutcome,
)
from shared.dynamics.errors import DataverseError, DataverseUnavailableError, RecordExistsError
from shared.dynamics.query import Filter, Query
from shared.dynamics.tables import primary_key

__all__ = ["DEFAULT_CHANGE_SET_SIZE", "WriteOutcome", "write_all"]

log = logging.getLogger(__name__)

DEFAULT_CHANGE_SET_SIZE = 100


# Chosen ids read back per `In` look-up (GUIDs: far below the URL limits).
_CONFIRM_CHUNK = 100


class _Client(Protocol):
    def execute_change_sets(self, change_sets: Sequence[ChangeSet]) -> list[ChangeSetOutcome]: ...

    def query_batch(self, queries: Sequence[tuple[str, Query | None]], *,
                    all_pages: bool = False) -> list[list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class WriteOutcome:
    """What became of one write: its response, or the error that is its own fault."""

    response: BatchResponse | None = None
    error: DataverseError | None = None
    existed: bool = False  # a create whose chosen id was already there: an earlier attempt landed
    refusal: DataverseError | None = field(default=None, compare=False, repr=False)
    """While `existed` is unconfirmed: Dataverse's "exists" answer, the error if the id is not there."""

    @property
    def ok(self) -> bool:
        return self.error is None


def write_all(
    client: _Client,
    writes: Sequence[BatchRequest],
    pacer: Pacer,
    *,
    change_set_size: int = DEFAULT_CHANGE_SET_SIZE,
    after_round_trip: Callable[[], None] | None = None,
) -> list[WriteOutcome]:
    """Apply `writes` (independent of each other) and return one outcome per write, in order.

    Raises `DeadlineReached` when throttling or an outage outlasts the pacer's deadline; writes
    sent by then may have landed, and resending them later is safe. `after_round_trip` is
    called after each group of round trips (tests use it to crash between change sets).
    """
    for write in writes:
        if not write.idempotent:
            raise ValueError(f"{write.method} {write.path}: a bulk write must be safe to resend")
    outcomes: dict[int, WriteOutcome] = {}
    waiting: list[list[int]] = [
        list(range(start, min(start + change_set_size, len(writes))))
        for start in range(0, len(writes), change_set_size)
    ]
    while waiting:
        pacer.check()
        waiting = _round(client, writes, waiting, outcomes, pacer, after_round_trip)
    _confirm_existing(client, writes, outcomes, pacer)
    return [outcomes[i] for i in range(len(writes))]


def _confirm_existing(client: _Client, writes: Sequence[BatchRequest], outcomes: dict[int, WriteOutcome],
                      pacer: Pacer) -> None:
    """Keep `existed` only for creates whose chosen id is really there (see the module notes)."""
    existed = [i for i, outcome in outcomes.items() if outcome.existed]
    if not existed:
        return
    by_set: dict[str, list[int]] = {}
    for index in existed:
        by_set.setdefault(writes[index].path, []).append(index)
    queries: list[tuple[str, Query | None]] = []
    for entity_set, indexes in by_set.items():
        key = primary_key(entity_set)
        for start in range(0, len(indexes), _CONFIRM_CHUNK):
            ids = [writes[i].body[key] for i in indexes[start : start + _CONFIRM_CHUNK]]
            queries.append((entity_set, Query(select=[key], filter=Filter.in_(key, ids))))
    answers = pacer.call(lambda: client.query_batch(queries, all_pages=True))
    found = {(entity_set, str(row[primary_key(entity_set)]).lower())
             for (entity_set, _), rows in zip(queries, answers, strict=True) for row in rows}
    for index in existed:
        write = writes[index]
        if (write.path, str(write.body[primary_key(write.path)]).lower()) not in found:
            refusal = outcomes[index].refusal
            assert refusal is not None
            log.info("a create met another key's row (an alternate key), not its own id")
            outcomes[index] = WriteOutcome(error=refusal)


def _round(
    client: _Client, writes: Sequence[BatchRequest], groups: list[list[int]], outcomes: dict[int, WriteOutcome],
    pacer: Pacer, after_round_trip: Callable[[], None] | None,
) -> list[list[int]]:
    """Send every group once; return the groups to send again."""
    trips: list[list[list[int]]] = [[]]
    size = 0
    for group in groups:
        if size + len(group) > MAX_BATCH_OPERATIONS:
            trips.append([])
            size = 0
        trips[-1].append(group)
        size += len(group)

    def send(trip: list[list[int]]) -> tuple[list[list[int]], list[ChangeSetOutcome] | DataverseUnavailableError]:
        change_sets = [ChangeSet([_numbered(writes[i], i) for i in group]) for group in trip]
        try:
            return trip, client.execute_change_sets(change_sets)
        except DataverseUnavailableError as exc:
            return trip, exc

    again: list[list[int]] = []
    for start in range(0, len(trips), pacer.concurrency):
        wave = trips[start : start + pacer.concurrency]
        if len(wave) == 1:
            answers = [send(wave[0])]
        else:
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                answers = list(pool.map(send, wave))
        unavailable: DataverseUnavailableError | None = None
        for trip, answer in answers:
            if isinstance(answer, DataverseUnavailableError):
                unavailable = answer
                again.extend(trip)
                continue
            for group, outcome in zip(trip, answer, strict=True):
                retry, refused = _settle(group, outcome, writes, outcomes)
                again.extend(retry)
                unavailable = refused or unavailable
        if after_round_trip is not None:
            after_round_trip()
        if unavailable is not None:
            pacer.failed(unavailable)
        else:
            pacer.succeeded()
    return again


def _numbered(write: BatchRequest, index: int) -> BatchRequest:
    """The write with Content-ID `index + 1`, so a failed change set's answer names the write."""
    return BatchRequest(write.method, write.path, write.body, write.headers, str(index + 1), write.safe_to_resend)


def _error_of(outcome: ChangeSetOutcome) -> DataverseError:
    assert outcome.failure is not None
    error = outcome.failure.error()
    assert error is not None
    return error


def _settle(
    group: list[int], outcome: ChangeSetOutcome, writes: Sequence[BatchRequest], outcomes: dict[int, WriteOutcome],
) -> tuple[list[list[int]], DataverseUnavailableError | None]:
    """Record what a change set's answer settles; return the groups to send again, and the
    throttling or outage that refused this one (it is sent again whole)."""
    if outcome.ok:
        for index, response in zip(group, outcome.responses, strict=True):
            outcomes[index] = WriteOutcome(response=response)
        return [], None
    error = _error_of(outcome)
    if isinstance(error, DataverseUnavailableError):
        return [group], error
    failed = _failed_index(group, outcome)
    if failed is None and len(group) == 1:
        failed = group[0]
    if failed is None:
        middle = len(group) // 2
        log.info("change set of %d failed without naming its part; splitting it", len(group))
        return [group[:middle], group[middle:]], None
    write = writes[failed]
    if isinstance(error, RecordExistsError) and write.method == "POST" and write.safe_to_resend:
        outcomes[failed] = WriteOutcome(existed=True, refusal=error)
    else:
        outcomes[failed] = WriteOutcome(error=error)
    rest = [i for i in group if i != failed]
    return ([rest] if rest else []), None


def _failed_index(group: list[int], outcome: ChangeSetOutcome) -> int | None:
    content_id = outcome.failure.content_id if outcome.failure is not None else None
    if content_id and content_id.isdigit() and int(content_id) - 1 in group:
        return int(content_id) - 1
    return None
