"""Run a journey step: idempotency, dry run, one look-up round trip, at most one write.

Every step goes through `run_step` the same way:

1. `prepare` (pure) turns the request into named look-ups; `InvalidStepInput` -> 400. Before
   the look-ups (after any replay), `person.fields` are checked against the cached columns of
   the table the step writes them to (400 listing each). The column metadata is read only when
   `fields` are given and the worker's cache is cold (one request per 10 minutes), so the
   common path adds no round trip and a replay none at all.
2. Dry run: the look-ups, `decide`, and the plan's result with `"dryRun": true`. No write and
   no idempotency record.
3. With an idempotency key: `IdempotencyStore.begin` either replays the stored response
   (`"idempotent": true`) or gives a claim. New records then get ids derived from the key, so
   an attempt that wrote to Dynamics and died before storing its answer is recognised by the
   next one: a Lead found with the derived id, or a create meeting its own id, means "created".
4. A step that may create a person record (Create/Update Lead) holds the person's locks
   (`shared.store.PersonLocks`, keys from `shared.person_keys`) from before its look-up until
   after its write: a second step for the same person waits, then looks up and finds the record
   the first one created. Busy past a few seconds: `PersonBusy` (409 with `Retry-After`). The
   locks live in Table Storage, so they cost no Dataverse round trip.
5. All look-ups in one `query_batch` round trip, `decide` (pure), then the plan's one write.
6. Only a 200 is stored for replay. Any failure (a 400 from the configuration, a 422 refusal,
   a Dynamics or storage error) releases the claim, so the caller can retry with the same key
   once the cause is fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, Protocol, TypeVar

from shared.dynamics.metadata import MetadataCache, TableColumns
from shared.dynamics.query import Query
from shared.person_keys import PersonKey
from shared.resolution import ENTITIES
from shared.steps import add_activity, add_to_marketing_list, create_update_lead
from shared.steps.config import StepConfig
from shared.steps.lookups import Found, Lookups
from shared.steps.models import ActivityRequest, LeadRequest, ListRequest, StepRequest
from shared.steps.person import ErrorItem, InvalidStepInput, field_errors
from shared.steps.result import Action, Attempt, Create, Plan, StepResult, Update
from shared.store.idempotency import Claim, IdempotencyStore, StoredResponse, body_hash
from shared.store.person_locks import PersonLocks

__all__ = [
    "ADD_ACTIVITY",
    "ADD_TO_MARKETING_LIST",
    "CREATE_UPDATE_LEAD",
    "StepDefinition",
    "act",
    "created",
    "run_step",
]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=StepRequest)

# A write starts only with this much of the person locks' lease left (renewed when less is left):
# enough for one Dataverse write with its retries.
WRITE_LEASE = timedelta(seconds=30)


class StepClient(Protocol):
    """The part of `shared.dynamics.DataverseClient` a step uses (a counted view of it)."""

    @property
    def request_count(self) -> int: ...

    def get_table_columns(self, table: str) -> TableColumns: ...

    def query_batch(self, queries: list[tuple[str, Query | None]]) -> list[list[dict[str, Any]]]: ...

    def create_record(self, entity_set: str, data: Mapping[str, Any], *, record_id: str | None = None) -> str: ...

    def update_record(self, entity_set: str, id: str, data: Mapping[str, Any]) -> None: ...

    def call_action(
        self, name: str, body: Mapping[str, Any] | None = None, *, entity_set: str | None = None,
        record_id: str | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StepDefinition(Generic[R]):
    """One journey step: its idempotency scope, its pure prepare/decide pair, and for a step that
    may create a person record the person's lock keys."""

    scope: str
    id_namespace: str | None  # new records get ids derived from the key in this namespace
    prepare: Callable[[R, StepConfig], Lookups]
    decide: Callable[[R, StepConfig, Lookups, Found, Attempt], Plan]
    lock_keys: Callable[[R, StepConfig], tuple[PersonKey, ...]] | None = None
    person_table: Literal["lead"] | None = None  # the table `person.fields` are written to, if any


CREATE_UPDATE_LEAD: StepDefinition[LeadRequest] = StepDefinition(
    create_update_lead.SCOPE, create_update_lead.ID_NAMESPACE, create_update_lead.prepare, create_update_lead.decide,
    create_update_lead.lock_keys, person_table="lead",
)
ADD_ACTIVITY: StepDefinition[ActivityRequest] = StepDefinition(
    add_activity.SCOPE, add_activity.ID_NAMESPACE, add_activity.prepare, add_activity.decide
)
ADD_TO_MARKETING_LIST: StepDefinition[ListRequest] = StepDefinition(
    add_to_marketing_list.SCOPE, add_to_marketing_list.ID_NAMESPACE, add_to_marketing_list.prepare,
    add_to_marketing_list.decide,
)


def _field_errors(
    definition: StepDefinition[R], request: R, client: StepClient, metadata: MetadataCache | None,
    reported: set[tuple[str | int, ...]],
) -> list[ErrorItem]:
    fields = request.person.fields
    if not (definition.person_table and fields and metadata is not None):
        return []
    columns = metadata.columns(client, definition.person_table)
    label = ENTITIES[definition.person_table].label
    return [item for item in field_errors(fields, columns, label) if item[0] not in reported]


def prepare_checked(
    definition: StepDefinition[R], request: R, config: StepConfig, client: StepClient, metadata: MetadataCache | None
) -> Lookups:
    """`prepare`; when it refuses the request, the `fields` problems are listed with its own."""
    try:
        return definition.prepare(request, config)
    except InvalidStepInput as exc:
        reported = {loc for loc, _ in exc.errors}
        raise InvalidStepInput([*exc.errors, *_field_errors(definition, request, client, metadata, reported)]) from None


def check_fields(definition: StepDefinition[R], request: R, client: StepClient, metadata: MetadataCache | None) -> None:
    """`person.fields` against the columns of the table the step writes them to (400 listing each)."""
    errors = _field_errors(definition, request, client, metadata, set())
    if errors:
        raise InvalidStepInput(errors)


def look_up(client: StepClient, lookups: Lookups) -> Found:
    """Every look-up of the step in one `$batch` round trip."""
    requests: list[tuple[str, Query | None]] = list(lookups.requests())
    return lookups.split(client.query_batch(requests) if requests else [])


def created(plan: Plan, new_id: str) -> StepResult:
    """The plan's result once its `Create` made the record `new_id`."""
    if plan.created_id_field == "activity_id":
        return replace(plan.result, activity_id=str(new_id).lower())
    return replace(plan.result, record_id=str(new_id).lower())


def act(client: StepClient, plan: Plan) -> StepResult:
    """Carry out the plan's write (if any) and return the result it makes true."""
    write = plan.write
    if write is None:
        return plan.result
    if isinstance(write, Create):
        # A derived id already there (an earlier attempt with this idempotency key) comes back as done.
        return created(plan, client.create_record(write.entity_set, write.data, record_id=write.record_id))
    if isinstance(write, Update):
        client.update_record(write.entity_set, write.record_id, write.data)
        return plan.result
    if isinstance(write, Action):
        client.call_action(write.name, dict(write.body), entity_set=write.entity_set, record_id=write.record_id)
        return plan.result
    raise TypeError(f"unknown write {write!r}")


def _attempt(
    definition: StepDefinition[R], request: R, config: StepConfig, lookups: Lookups, client: StepClient,
    attempt: Attempt, before_write: Callable[[], None] | None = None,
) -> StepResult:
    found = look_up(client, lookups)
    plan = definition.decide(request, config, lookups, found, attempt)
    if attempt.dry_run:
        result = plan.result
    else:
        if plan.write is not None and before_write is not None:
            before_write()
        result = act(client, plan)
    return replace(result, dynamics_requests=client.request_count, dry_run=attempt.dry_run)


def _locked_attempt(
    definition: StepDefinition[R], request: R, config: StepConfig, lookups: Lookups, client: StepClient,
    attempt: Attempt, locks: PersonLocks | None,
) -> StepResult:
    """`_attempt` holding the person's locks, when the step may create a person record."""
    keys = definition.lock_keys(request, config) if definition.lock_keys is not None and locks is not None else ()
    if locks is None or not keys:
        return _attempt(definition, request, config, lookups, client, attempt)
    held = [locks.acquire(keys)]

    def keep_for_write() -> None:
        # A slow look-up may have used up the lease: renew it, or give up if it was taken over.
        held[0] = locks.keep(held[0], at_least=min(WRITE_LEASE, locks.lease))

    try:
        return _attempt(definition, request, config, lookups, client, attempt, keep_for_write)
    finally:
        locks.release(held[0])


def _release(store: IdempotencyStore, claim: Claim) -> None:
    try:
        store.release(claim)
    except Exception:  # the step's own error matters more; the claim's lease runs out anyway
        log.warning("could not release the idempotency claim on %s", claim.scope, exc_info=True)


def run_step(
    definition: StepDefinition[R],
    request: R,
    raw_body: Any,
    *,
    client: StepClient,
    store: IdempotencyStore | None,
    config: StepConfig,
    locks: PersonLocks | None = None,
    metadata: MetadataCache | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run one step and return the body of its 200 answer.

    `client` must be a fresh counted view (`DataverseClient.counted()`): its `request_count`
    becomes `dynamicsRequests`. `raw_body` is the parsed JSON as sent, hashed for idempotency.
    `locks` serialises steps that may create a person record (none in a dry run).
    Raises `InvalidStepInput` (400), `StepRefused` (422), the store's idempotency errors and
    `PersonBusy` (409), and the client's errors (502/503).
    """
    now = now or datetime.now(UTC)
    lookups = prepare_checked(definition, request, config, client, metadata)
    if request.dry_run:
        check_fields(definition, request, client, metadata)
        return _attempt(definition, request, config, lookups, client, Attempt(dry_run=True, now=now)).to_body()
    key = request.idempotency_key
    if key is None or store is None:
        if key is not None:
            log.warning("no idempotency store configured; the key of %s is ignored", definition.scope)
        check_fields(definition, request, client, metadata)
        return _locked_attempt(definition, request, config, lookups, client, Attempt(now=now), locks).to_body()

    begun = store.begin(definition.scope, key, body_hash(raw_body))
    if isinstance(begun, StoredResponse):
        replayed = dict(begun.body)
        replayed["idempotent"] = True
        return replayed
    claim: Claim = begun
    new_id = claim.derived_id(definition.id_namespace) if definition.id_namespace else None
    try:
        # After the replay check: a stored answer never waits on Dynamics, not even for metadata.
        check_fields(definition, request, client, metadata)
        body = _locked_attempt(definition, request, config, lookups, client, Attempt(new_id, now=now), locks).to_body()
    except Exception:
        _release(store, claim)
        raise
    store.complete(claim, 200, body)
    return body
