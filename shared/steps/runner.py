"""Run a journey step: idempotency, dry run, one look-up round trip, at most one write.

Every step goes through `run_step` the same way:

1. `prepare` (pure) turns the request into named look-ups; `InvalidStepInput` -> 400.
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
from typing import Any, Generic, Protocol, TypeVar

from shared.dynamics.errors import RecordExistsError
from shared.dynamics.query import Query
from shared.person_keys import PersonKey
from shared.steps import add_activity, add_to_marketing_list, create_update_lead
from shared.steps.common import Found, Lookups, StepConfig
from shared.steps.models import ActivityRequest, LeadRequest, ListRequest, StepRequest
from shared.steps.result import Action, Attempt, Create, Plan, StepResult, Update
from shared.store.idempotency import Claim, IdempotencyStore, StoredResponse, body_hash
from shared.store.person_locks import PersonLocks

__all__ = ["ADD_ACTIVITY", "ADD_TO_MARKETING_LIST", "CREATE_UPDATE_LEAD", "StepDefinition", "act", "run_step"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=StepRequest)

# A write starts only with this much of the person locks' lease left (renewed when less is left):
# enough for one Dataverse write with its retries.
WRITE_LEASE = timedelta(seconds=30)


class StepClient(Protocol):
    """The part of `shared.dynamics.DataverseClient` a step uses (a counted view of it)."""

    @property
    def request_count(self) -> int: ...

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


CREATE_UPDATE_LEAD: StepDefinition[LeadRequest] = StepDefinition(
    create_update_lead.SCOPE, create_update_lead.ID_NAMESPACE, create_update_lead.prepare, create_update_lead.decide,
    create_update_lead.lock_keys,
)
ADD_ACTIVITY: StepDefinition[ActivityRequest] = StepDefinition(
    add_activity.SCOPE, add_activity.ID_NAMESPACE, add_activity.prepare, add_activity.decide
)
ADD_TO_MARKETING_LIST: StepDefinition[ListRequest] = StepDefinition(
    add_to_marketing_list.SCOPE, add_to_marketing_list.ID_NAMESPACE, add_to_marketing_list.prepare,
    add_to_marketing_list.decide,
)


def look_up(client: StepClient, lookups: Lookups) -> Found:
    """Every look-up of the step in one `$batch` round trip."""
    requests: list[tuple[str, Query | None]] = list(lookups.requests())
    return lookups.split(client.query_batch(requests) if requests else [])


def act(client: StepClient, plan: Plan) -> StepResult:
    """Carry out the plan's write (if any) and return the result it makes true."""
    write = plan.write
    if write is None:
        return plan.result
    if isinstance(write, Create):
        try:
            new_id = client.create_record(write.entity_set, write.data, record_id=write.record_id)
        except RecordExistsError:
            if write.record_id is None:
                raise
            # Our own derived id: an earlier attempt with this idempotency key created it.
            log.info("create %s: the record with the derived id already exists", write.entity_set)
            new_id = write.record_id
        if plan.created_id_field == "activity_id":
            return replace(plan.result, activity_id=str(new_id).lower())
        return replace(plan.result, record_id=str(new_id).lower())
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
    lookups = definition.prepare(request, config)
    if request.dry_run:
        return _attempt(definition, request, config, lookups, client, Attempt(dry_run=True, now=now)).to_body()
    key = request.idempotency_key
    if key is None or store is None:
        if key is not None:
            log.warning("no idempotency store configured; the key of %s is ignored", definition.scope)
        return _locked_attempt(definition, request, config, lookups, client, Attempt(now=now), locks).to_body()

    begun = store.begin(definition.scope, key, body_hash(raw_body))
    if isinstance(begun, StoredResponse):
        replayed = dict(begun.body)
        replayed["idempotent"] = True
        return replayed
    claim: Claim = begun
    new_id = claim.derived_id(definition.id_namespace) if definition.id_namespace else None
    try:
        body = _locked_attempt(definition, request, config, lookups, client, Attempt(new_id, now=now), locks).to_body()
    except Exception:
        _release(store, claim)
        raise
    store.complete(claim, 200, body)
    return body
