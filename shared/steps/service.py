"""The three journey-step use-cases as the function entry points call them.

Each takes the worker's dependencies, the validated request and the parsed JSON body, runs the
step (`shared.steps.runner`), and returns the body of the 200 answer. A configuration that makes
the person unusable is a 400, a list that cannot take the member a 422, and a record that
vanished between the look-up and the write a 503 (a retry decides afresh), all raised as
`ProblemError`; other Dynamics and storage errors pass through to the HTTP layer, which maps them.
Every invocation, answered or failed, ends with one structured log line (`shared.steps.step_log`).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shared.dynamics.errors import RecordNotFoundError
from shared.http import ProblemError, as_problem
from shared.steps.config import StepConfig
from shared.steps.models import ActivityRequest, LeadRequest, ListRequest, StepRequest
from shared.steps.person import InvalidStepInput
from shared.steps.result import StepRefused
from shared.steps.runner import (
    ADD_ACTIVITY,
    ADD_TO_MARKETING_LIST,
    CREATE_UPDATE_LEAD,
    StepDefinition,
    run_step,
)
from shared.steps.step_log import error_line, log_step, result_line

if TYPE_CHECKING:
    from shared.app import Dependencies
    from shared.dynamics import DataverseClient

__all__ = ["add_activity", "add_to_marketing_list", "create_update_lead", "run", "step_problem"]

R = TypeVar("R", bound=StepRequest)


def run(
    deps: Dependencies, definition: StepDefinition[R], request: R, raw_body: Any, *, now: datetime | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    client = deps.dynamics.counted()
    try:
        body = _run(deps, definition, request, raw_body, client, now)
    except Exception as exc:
        log_step(error_line(definition.scope, request, as_problem(exc), _since(started), client.request_count))
        raise
    log_step(result_line(definition.scope, request, body, _since(started)))
    return body


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _run(
    deps: Dependencies, definition: StepDefinition[R], request: R, raw_body: Any, client: DataverseClient,
    now: datetime | None,
) -> dict[str, Any]:
    document, _etag = deps.config_store.get()
    config = StepConfig.from_document(document)
    try:
        return run_step(
            definition, request, raw_body, client=client, store=deps.idempotency, config=config,
            locks=deps.person_locks, metadata=deps.metadata, now=now,
        )
    except (InvalidStepInput, StepRefused, RecordNotFoundError) as exc:
        raise step_problem(exc) from None


def step_problem(exc: InvalidStepInput | StepRefused | RecordNotFoundError) -> ProblemError:
    """The problem a step answers for what its decision or write ran into (HTTP and batch alike)."""
    if isinstance(exc, InvalidStepInput):
        errors = [{"loc": list(loc), "msg": msg} for loc, msg in exc.errors]
        count = len(errors)
        return ProblemError(400, "Invalid request", f"The request has {count} invalid field{'s' if count != 1 else ''}.",
                            errors=errors)
    if isinstance(exc, StepRefused):
        return ProblemError(exc.status, exc.title, exc.detail, code=exc.code)
    # The record found a moment ago (the Lead, the list, the member) was deleted or merged
    # before the write: a retry looks again and decides afresh, so this is not a 502.
    return ProblemError(503, "Dynamics changed during the step",
                        "A record the step had just found was deleted or merged in Dynamics before it "
                        "could be written; retry the step.", code="dynamicsChanged",
                        headers={"Retry-After": "1"})


def create_update_lead(deps: Dependencies, request: LeadRequest, raw_body: Any) -> dict[str, Any]:
    return run(deps, CREATE_UPDATE_LEAD, request, raw_body)


def add_activity(deps: Dependencies, request: ActivityRequest, raw_body: Any) -> dict[str, Any]:
    return run(deps, ADD_ACTIVITY, request, raw_body)


def add_to_marketing_list(deps: Dependencies, request: ListRequest, raw_body: Any) -> dict[str, Any]:
    return run(deps, ADD_TO_MARKETING_LIST, request, raw_body)
