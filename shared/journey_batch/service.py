"""JourneyBatch: run the steps of a `journey-steps` message in bulk, exactly once.

One delivery:

1. Read the message (`message`); unreadable -> `UnreadableMessage` (the delivery fails); a bad
   envelope -> the batch is `rejected` and a summary sent.
2. Merge the steps into the stored batch (`shared.store.batches`): new `stepId`s are appended
   as pending entries, a known `stepId` with another body is a conflict, final entries are
   never run again.
3. Run the pending steps in *waves*: a wave holds the next pending step of each person, so a
   person's steps keep message order while different people go together. Per wave: every
   step's `prepare` (the HTTP step's, unchanged), one bulk look-up (`shared.bulk.BulkLookup`),
   every step's `decide` (the HTTP step's, unchanged), the writes in `$batch` change sets
   (`shared.bulk.write_all`), and the wave's entries stored. The next wave looks its people up
   again, so it sees what the previous wave wrote.
4. When every entry of the batch is final: status `completed` and the summary on
   `journey-results` (again on every redelivery).

Exactly once: a record a step creates gets an id derived from `(batchId, stepId)` (or from the
step's own idempotency key), so a redelivery after a crash finds it (`created`,
`activityLogged`), a membership is found as `alreadyMember`, and an update is the same update.
Throttling and outages never become entries: the bulk layer waits them out, and past the
delivery's time slice the message is re-enqueued (a hand-over) with the finished entries kept.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.bulk import BulkLookup, DeadlineReached, LookupHandle, Pacer, write_all
from shared.bulk.jobs import JobMeta
from shared.dynamics.batch import BatchRequest
from shared.dynamics.client import IDEMPOTENT_ACTIONS
from shared.dynamics.errors import RecordNotFoundError
from shared.dynamics.metadata import MetadataCache
from shared.http import problem_document
from shared.journey_batch.message import (
    Envelope,
    Slot,
    envelope_problems,
    read_envelope,
    read_steps,
    read_steps_blob,
    rejection,
    steps_problems,
)
from shared.journey_batch.names import OUTCOMES
from shared.resolution import ENTITIES, person_attributes
from shared.steps.config import StepConfig
from shared.steps.lookups import ACTIVE_ONLY, Found, Lookups
from shared.steps.models import StepRequest
from shared.steps.person import InvalidStepInput
from shared.steps.result import Action, Attempt, Create, Plan, StepRefused, Update, Write
from shared.steps.runner import WRITE_LEASE, check_fields, created, prepare_checked
from shared.steps.service import step_problem
from shared.store.batches import BatchQueues, BatchRecord, BatchResultsStore, StepRow
from shared.store.errors import IdempotencyConflict, IdempotencyInProgress, PersonBusy
from shared.store.idempotency import Claim, IdempotencyStore, StoredResponse, body_hash, derived_id
from shared.store.person_locks import HeldLocks, PersonLocks

if TYPE_CHECKING:
    from shared.dynamics import DataverseClient

__all__ = ["CRASH_POINTS", "OUTCOMES", "Delivery", "run_delivery"]

log = logging.getLogger(__name__)

ID_SCOPE = "JourneyBatch"
MIN_HAND_OVER_SECONDS = 30
# A record that vanished between a wave's look-up and its write is looked up again in the next
# wave; after this many tries the step gets the HTTP step's 503 `dynamicsChanged` as its entry.
MAX_VANISHED_RETRIES = 3
# A wave whose every step met a person locked by another writer waits this long before the next.
LOCKED_PAUSE = 1.0

# Test-only: `JOURNEY_BATCH_CRASH_AT=<point>` ends the worker process at that point, so tests
# can prove a redelivery after a crash there writes nothing twice (docs/BATCH.md).
CRASH_ENV = "JOURNEY_BATCH_CRASH_AT"
CRASH_POINTS = ("before-writes", "between-change-sets", "after-writes", "before-summary")


def _crash_point(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        log.error("test crash hook: ending the worker process at %s", point)
        os._exit(70)


@dataclass
class Delivery:
    """What one delivery needs, passed in by the entry point (one per invocation)."""

    client: DataverseClient  # a counted view: its request count is the delivery's round trips
    results: BatchResultsStore
    queues: BatchQueues
    idempotency: IdempotencyStore | None
    config: Callable[[], StepConfig]
    locks: PersonLocks | None = None  # held around look-up, decide and write of a person-creating step
    metadata: MetadataCache | None = None  # checks `person.fields` against the columns, as the HTTP steps do
    slice_seconds: float = 480.0
    change_set_size: int = 100
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def run_delivery(delivery: Delivery, body: bytes) -> str:
    """Process one message body; returns the batch's status after this delivery.

    Raises `UnreadableMessage` for a message to fail (and, after five deliveries, poison), and
    store errors when Azure Storage fails (the host redelivers).
    """
    started = delivery.clock()
    envelope = read_envelope(body)
    record = delivery.results.load(envelope.batch_id)
    problems = envelope_problems(envelope)
    steps: Any = envelope.members.get("steps")
    if not problems and envelope.steps_blob is not None:
        steps = read_steps_blob(envelope, delivery.queues.read_steps_blob)
        problems = steps_problems(steps)
    if problems:
        return _reject(delivery, envelope, record, steps, problems)
    run = _Run(delivery, envelope, body.decode("utf-8"), record, read_steps(steps), started)
    return run.go()


def _reject(
    delivery: Delivery, envelope: Envelope, record: BatchRecord | None, steps: Any, problems: list[dict[str, Any]],
) -> str:
    error = rejection(problems)
    if record is not None and record.status != "rejected":
        log.warning("batch %s: a message with a bad envelope for a known batch was dropped (%d problem(s))",
                    envelope.batch_id, len(problems))
        return record.status
    failed = len(steps) if isinstance(steps, list) else 0
    record = BatchRecord(envelope.batch_id, status="rejected", total=failed, failed=failed,
                         counts=dict.fromkeys(OUTCOMES, 0), error=error)
    delivery.results.save_meta(record)
    log.warning("batch %s rejected: %d envelope problem(s)", envelope.batch_id, len(problems))
    delivery.queues.send_summary(_summary(record))
    return "rejected"


def _summary(record: BatchRecord) -> dict[str, Any]:
    return {"batchId": record.batch_id, "status": record.status, "total": record.total,
            "counts": record.counts, "failed": record.failed}


# -- one delivery ---------------------------------------------------------------------------


@dataclass
class _Step:
    """A pending step of this message, on its way through the waves."""

    slot: Slot
    row: StepRow
    request: StepRequest
    person: str
    vanished: int = 0
    # Set per wave:
    lookups: Lookups | None = None
    handles: dict[str, list[LookupHandle]] = field(default_factory=dict)
    new_id: str | None = None
    claim: Claim | None = None
    plan: Plan | None = None


class _Run:
    def __init__(
        self, delivery: Delivery, envelope: Envelope, text: str, record: BatchRecord | None, slots: list[Slot],
        started: float,
    ) -> None:
        self.d = delivery
        self.batch_id = envelope.batch_id
        self.text = text
        self.record = record or BatchRecord(self.batch_id, counts=dict.fromkeys(OUTCOMES, 0))
        if self.record.status == "rejected":
            self.record = BatchRecord(self.batch_id, counts=dict.fromkeys(OUTCOMES, 0))
        self.slots = slots
        self.pacer = Pacer(deadline=started + delivery.slice_seconds, clock=delivery.clock, sleep=delivery.sleep)
        self.meta = JobMeta(delivery.results, self.record, OUTCOMES)
        self.config: StepConfig | None = None
        self.deferred = False  # a step waits for another request holding its idempotency key

    # The whole delivery.

    def go(self) -> str:
        mine = self._merge()
        _crash_point("before-writes")
        pending = [step for step in mine if not step.row.final]
        if pending:
            self.config = self.d.config()
            try:
                self._waves(pending)
            except DeadlineReached as reached:
                return self._hand_over(reached.retry_after)
        if self.deferred:
            return self._hand_over(MIN_HAND_OVER_SECONDS)
        return self._finish()

    def _merge(self) -> list[_Step]:
        """Add this message's steps to the stored batch; return its runnable steps' rows."""
        rows = self.record.steps
        by_id = {row.step_id: row for row in rows if row.step_id is not None and not row.body_hash.startswith("x:")}
        by_hash = {row.body_hash for row in rows}
        new_rows: list[StepRow] = []
        mine: list[_Step] = []
        conflicts = self.record.conflicts
        for slot in self.slots:
            if slot.step_id is not None and slot.addressable:
                existing = by_id.get(slot.step_id)
                if existing is not None:
                    if existing.body_hash != slot.body_hash:
                        self._conflict(conflicts, slot.step_id)
                    elif slot.request is not None:
                        mine.append(self._step(slot, existing))
                    continue
                row = StepRow(len(rows) + len(new_rows), slot.step_id, slot.type, slot.body_hash, _entry(slot))
                by_id[slot.step_id] = row
            else:
                # Not addressable by stepId: known by its place and body, so a redelivery adds it once.
                marker = f"x:{slot.index}:{slot.body_hash}"
                if marker in by_hash:
                    continue
                row = StepRow(len(rows) + len(new_rows), slot.step_id, slot.type, marker, _entry(slot))
                by_hash.add(marker)
            new_rows.append(row)
            if slot.request is not None:
                mine.append(self._step(slot, row))
        if new_rows:
            self.d.results.add_steps(self.batch_id, new_rows)
            rows.extend(new_rows)
        if not all(row.final for row in rows):
            self.record.status = "running"
        self.record.error = None
        self._save()
        return mine

    def _conflict(self, conflicts: list[dict[str, Any]], step_id: str) -> None:
        if any(item.get("stepId") == step_id for item in conflicts):
            return
        error = problem_document(IdempotencyConflict(ID_SCOPE))
        error["detail"] = "This stepId is already in the batch with a different body; the step was not run."
        conflicts.append({"stepId": step_id, "error": error})

    def _step(self, slot: Slot, row: StepRow) -> _Step:
        assert slot.request is not None
        return _Step(slot, row, slot.request, _person_key(slot))

    # Waves.

    def _waves(self, steps: list[_Step]) -> None:
        queues: dict[str, deque[_Step]] = {}
        for step in steps:
            queues.setdefault(step.person, deque()).append(step)
        number = 0
        while queues:
            self.pacer.check()
            wave = [queue[0] for queue in queues.values()]
            number += 1
            retry, deferred = self._wave(wave)
            if len(retry) == len(wave):
                # Every step waits for a person another writer holds: give it a moment.
                self.d.sleep(min(LOCKED_PAUSE, max(0.0, self.pacer.time_left)))
            for person in list(queues):
                queue = queues[person]
                if queue[0] in deferred:
                    queue.clear()  # the person's later steps wait with it, in order
                elif queue[0] not in retry:
                    queue.popleft()
                if not queue:
                    del queues[person]
            log.info("batch %s: wave %d ran %d step(s), %d to look up again", self.batch_id, number, len(wave),
                     len(retry))

    def _wave(self, wave: list[_Step]) -> tuple[list[_Step], list[_Step]]:
        """Run one step of each person; returns the steps to run again (a record vanished) and
        the steps deferred to a later delivery (their idempotency key is in use)."""
        assert self.config is not None
        held, busy = self._lock(wave, self.config)
        try:
            retry, deferred = self._locked_wave([step for step in wave if step not in busy], held)
        except BaseException:
            # Handing over (or failing) mid-wave: give the steps' idempotency keys back, so the
            # next delivery claims them at once (the ids derived from a key do not change).
            for step in wave:
                self._release(step)
            raise
        finally:
            if self.d.locks is not None:
                for locks in held.values():
                    self.d.locks.release(locks)
        return retry + busy, deferred

    def _lock(self, wave: list[_Step], config: StepConfig) -> tuple[dict[int, HeldLocks], list[_Step]]:
        """The person locks of the wave's steps that may create a person record (one table
        transaction for the wave); steps whose person another writer holds wait for a later wave.
        Two messages in flight with the same new person therefore make one Lead (docs/BATCH.md)."""
        locks = self.d.locks
        if locks is None:
            return {}, []
        wanted: dict[int, Sequence[Any]] = {}
        for number, step in enumerate(wave):
            lock_keys = step.slot.step_type.definition.lock_keys
            if lock_keys is not None and not step.request.dry_run:
                keys = lock_keys(step.request, config)
                if keys:
                    wanted[number] = keys
        if not wanted:
            return {}, []
        got = locks.acquire_many(wanted)
        busy = [wave[number] for number in got.busy]
        if busy:
            log.info("batch %s: %d step(s) wait for a person another writer holds", self.batch_id, len(busy))
        return {id(wave[number]): held for number, held in got.held.items()}, busy

    def _keep_locks(self, writing: list[_Step], held: dict[int, HeldLocks]) -> list[_Step]:
        """Renew the locks of steps about to write when a slow wave used up their lease; the
        steps whose lock was taken over meanwhile are looked up again in the next wave."""
        locks = self.d.locks
        lost: list[_Step] = []
        if locks is None:
            return lost
        for step in writing:
            if id(step) not in held:
                continue
            try:
                held[id(step)] = locks.keep(held[id(step)], at_least=min(WRITE_LEASE, locks.lease))
            except PersonBusy:
                del held[id(step)]
                lost.append(step)
        return lost

    def _locked_wave(self, wave: list[_Step], held: dict[int, HeldLocks]) -> tuple[list[_Step], list[_Step]]:
        assert self.config is not None
        config = self.config
        now = self.d.now()
        finished: list[tuple[_Step, dict[str, Any]]] = []
        live: list[_Step] = []
        deferred: list[_Step] = []
        for step in wave:
            entry = self._prepare(step, config)
            if entry is None:
                live.append(step)
            elif not entry:
                deferred.append(step)
            else:
                finished.append((step, entry))
        lookup = BulkLookup()
        for step in live:
            assert step.lookups is not None
            step.handles = _register(lookup, step.lookups)
        if live:
            self.pacer.call(lambda: lookup.run(self.d.client))
        writing: list[_Step] = []
        for step in live:
            entry = self._decide(step, config, lookup, now)
            if entry is None:
                writing.append(step)
            else:
                finished.append((step, entry))
        retry = self._keep_locks(writing, held)
        for step in retry:
            self._release(step)
        writing = [step for step in writing if step not in retry]
        if writing:
            requests = [_batch_request(step) for step in writing]
            outcomes = write_all(self.d.client, requests, self.pacer, change_set_size=self.d.change_set_size,
                                 after_round_trip=lambda: _crash_point("between-change-sets"))
            _crash_point("after-writes")  # written, not yet recorded
            for step, outcome in zip(writing, outcomes, strict=True):
                assert step.plan is not None
                if outcome.ok:
                    write = step.plan.write
                    result = step.plan.result
                    if isinstance(write, Create):
                        new_id = (outcome.response.entity_id if outcome.response is not None else None) \
                            or write.record_id
                        assert new_id is not None
                        result = created(step.plan, new_id)
                    finished.append((step, self._success(step, result.to_body())))
                elif isinstance(outcome.error, RecordNotFoundError) and step.vanished < MAX_VANISHED_RETRIES:
                    step.vanished += 1
                    self._release(step)
                    retry.append(step)
                else:
                    assert outcome.error is not None
                    error = outcome.error
                    if isinstance(error, RecordNotFoundError):
                        finished.append((step, self._failure(step, problem_document(step_problem(error)))))
                    else:
                        finished.append((step, self._failure(step, problem_document(error))))
        self._store(finished)
        return retry, deferred

    def _prepare(self, step: _Step, config: StepConfig) -> dict[str, Any] | None:
        """The step's look-ups and its idempotency claim; an entry when it ends here."""
        definition = step.slot.step_type.definition
        try:
            step.lookups = prepare_checked(definition, step.request, config, self.d.client, self.d.metadata)
        except InvalidStepInput as exc:
            return self._failure(step, problem_document(step_problem(exc)))
        namespace = definition.id_namespace
        step.new_id = derived_id(ID_SCOPE, f"{self.batch_id}\n{step.row.step_id}", namespace) if namespace else None
        key = step.request.idempotency_key
        if key is None or step.request.dry_run or self.d.idempotency is None:
            return self._check_fields(step)
        try:
            begun = self.d.idempotency.begin(definition.scope, key, body_hash(step.slot.body))
        except IdempotencyConflict as exc:
            return self._failure(step, problem_document(exc))
        except IdempotencyInProgress:
            # Another request holds the key (or a crashed delivery did, until its lease ends):
            # this step waits for a later delivery rather than getting a 409 as its final entry.
            self.deferred = True
            step.lookups = None
            return {}
        if isinstance(begun, StoredResponse):
            replayed = dict(begun.body)
            replayed["idempotent"] = True
            return self._entry(step, replayed)
        step.claim = begun
        step.new_id = begun.derived_id(namespace) if namespace else None
        return self._check_fields(step)

    def _check_fields(self, step: _Step) -> dict[str, Any] | None:
        """`person.fields` against the cached columns, after any replay (as the HTTP step does)."""
        definition = step.slot.step_type.definition
        try:
            self.pacer.call(lambda: check_fields(definition, step.request, self.d.client, self.d.metadata))
        except InvalidStepInput as exc:
            return self._failure(step, problem_document(step_problem(exc)))
        return None

    def _decide(self, step: _Step, config: StepConfig, lookup: BulkLookup, now: datetime) -> dict[str, Any] | None:
        assert step.lookups is not None
        found = Found({name: [list(lookup.rows(h)) for h in handles] for name, handles in step.handles.items()})
        definition = step.slot.step_type.definition
        attempt = Attempt(step.new_id, dry_run=step.request.dry_run, now=now)
        try:
            step.plan = definition.decide(step.request, config, step.lookups, found, attempt)
        except StepRefused as exc:
            return self._failure(step, problem_document(step_problem(exc)))
        if step.request.dry_run or step.plan.write is None:
            return self._success(step, replace(step.plan.result, dry_run=step.request.dry_run).to_body())
        return None

    # Entries.

    def _entry(self, step: _Step, body: dict[str, Any]) -> dict[str, Any]:
        return {"stepId": step.row.step_id, "type": step.row.type, **body, "dynamicsRequests": None}

    def _success(self, step: _Step, body: dict[str, Any]) -> dict[str, Any]:
        if step.claim is not None and self.d.idempotency is not None:
            # The HTTP function's key space: a later HTTP call with this key replays this answer.
            self.d.idempotency.complete(step.claim, 200, {**body, "dynamicsRequests": 0})
        return self._entry(step, body)

    def _failure(self, step: _Step, problem: dict[str, Any]) -> dict[str, Any]:
        self._release(step)
        return {"stepId": step.row.step_id, "type": step.row.type, "outcome": "failed", "error": problem}

    def _release(self, step: _Step) -> None:
        if step.claim is not None and self.d.idempotency is not None:
            self.d.idempotency.release(step.claim)
            step.claim = None

    def _store(self, finished: list[tuple[_Step, dict[str, Any]]]) -> None:
        rows = []
        for step, entry in finished:
            step.row.entry = entry
            rows.append(step.row)
        if rows:
            for stored in self.d.results.finish(self.batch_id, rows):
                # Another delivery of this message finished the step first: its entry stands.
                for row in rows:
                    if row.position == stored.position:
                        row.entry, row.etag = stored.entry, stored.etag
        self._save()

    # Pacing, saving, ending.

    def _save(self) -> None:
        self.meta.save(self.d.client.request_count)

    def _hand_over(self, retry_after: float) -> str:
        delay = max(MIN_HAND_OVER_SECONDS, math.ceil(retry_after))
        self._save()
        self.d.queues.hand_over(self.text, delay)
        log.warning("batch %s: handing over to a new delivery in %d s (%d step(s) pending)", self.batch_id, delay,
                    sum(1 for row in self.record.steps if not row.final))
        return self.record.status

    def _finish(self) -> str:
        record = self.record
        if all(row.final for row in record.steps):
            record.status = "completed"
        self._save()
        if record.status == "completed":
            _crash_point("before-summary")
            self.d.queues.send_summary(_summary(record))
            log.info("batch %s completed: %s, %d failed, %d Web API requests", self.batch_id, record.counts,
                     record.failed, record.dynamics_requests)
        return record.status


def _entry(slot: Slot) -> dict[str, Any]:
    if slot.error is not None:
        return {"stepId": slot.step_id, "type": slot.type, "outcome": "failed", "error": slot.error}
    return {"stepId": slot.step_id, "type": slot.type, "outcome": "pending"}


def _person_key(slot: Slot) -> str:
    """Steps with the same key run in message order: the trimmed, lower-cased e-mail, else the
    person's standard and extra fields (a stand-in for the first identifier set they fill)."""
    assert slot.request is not None
    person = slot.request.person
    if person.email:
        return "email:" + person.email.strip().lower()
    values = person_attributes(person.platform_values(), {name: name for name in person.platform_values()},
                               person.fields)
    if values:
        return "values:" + "|".join(f"{k}={str(v).strip().casefold()}" for k, v in sorted(values.items()))
    return f"step:{slot.index}"


def _register(lookup: BulkLookup, lookups: Lookups) -> dict[str, list[LookupHandle]]:
    """The step's look-ups in the bulk look-up, under the group names its `Found` uses."""
    handles: dict[str, list[LookupHandle]] = {
        name: [lookup.query(entity_set, query)] for name, (entity_set, query) in lookups.others.items()
    }
    for person in lookups.people:
        entity_set = ENTITIES[person.kind].entity_set
        handles[person.kind] = [
            lookup.person(entity_set, criterion, select=person.columns, expand=person.expand, also=ACTIVE_ONLY)
            for criterion in person.criteria
        ]
    owner_query = lookups.owner.query() if lookups.owner is not None else None
    if owner_query is not None:
        handles["owner"] = [lookup.query(*owner_query)]
    return handles


def _batch_request(step: _Step) -> BatchRequest:
    assert step.plan is not None and step.plan.write is not None
    return to_batch_request(step.plan.write)


def to_batch_request(write: Write) -> BatchRequest:
    """A plan's write as a `$batch` part that is safe to resend."""
    if isinstance(write, Create):
        return BatchRequest.create(write.entity_set, write.data, record_id=write.record_id or str(uuid.uuid4()))
    if isinstance(write, Update):
        return BatchRequest.update(write.entity_set, write.record_id, write.data)
    if isinstance(write, Action):
        short = write.name.rsplit(".", 1)[-1]
        return BatchRequest.action(write.name, write.body, entity_set=write.entity_set, record_id=write.record_id,
                                   idempotent=short in IDEMPOTENT_ACTIONS)
    raise TypeError(f"unknown write {write!r}")
