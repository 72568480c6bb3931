"""One structured log line per step invocation, for an operator (README "Logs").

Every journey step, whether it came over HTTP (and later from a `journey-steps` batch or a
campaign-export record), ends with one line from `log_step`:

    step {"function": "CreateUpdateLead", "status": 200, "outcome": "updated", "reason": null,
          "code": null, "entity": "lead", "recordId": "...", "dynamicsRequests": 2, ...}

`step ` and a JSON object, so a person reads it in a terminal and Application Insights parses it
(`parse_json(substring(message, indexof(message, "{")))`). The same fields ride on the record as
`extra={"step": {...}}` for handlers that export attributes. What it holds: the function, the HTTP
status, the outcome or the error `code` (a 422 with its sentence, which names the list and why; a
400 with the locations of the bad fields), the entity and record ids (which record an update
touched), the Owner rule of a created record (`ownerRule`, `ownerReason`), `dynamicsRequests`, the duration, the idempotent and dry-run flags, the request id, and
the person by platform id and masked e-mail. Never a full address, a name or a field value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.http import ProblemError, current_request_id
from shared.masking import mask_address
from shared.steps.models import ListRequest, StepRequest

__all__ = ["StepLogLine", "error_line", "log_step", "result_line"]

log = logging.getLogger(__name__)

MAX_ERROR_LOCATIONS = 20


@dataclass(frozen=True)
class StepLogLine:
    """What one step invocation did. `None` fields are written as `null`, except the batch ones."""

    function: str
    status: int
    duration_ms: int
    outcome: str | None = None
    reason: str | None = None
    code: str | None = None
    detail: str | None = None  # errors only: the problem's sentence (a 422 names the list and why)
    errors: tuple[str, ...] | None = None  # a 400: the bad fields' locations, e.g. "person.email"
    entity: str | None = None
    record_id: str | None = None
    activity_id: str | None = None
    dynamics_requests: int | None = None
    idempotent: bool = False
    dry_run: bool = False
    person_id: str | None = None
    person_email: str | None = None  # masked
    list_ref: Mapping[str, str] | None = None
    owner_rule: str | None = None  # only when a record was (or would be) created
    owner_reason: str | None = None
    request_id: str | None = None
    batch_id: str | None = None  # for steps of a batch (omitted otherwise)
    step_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "function": self.function,
            "status": self.status,
            "outcome": self.outcome,
            "reason": self.reason,
            "code": self.code,
            "entity": self.entity,
            "recordId": self.record_id,
            "activityId": self.activity_id,
            "dynamicsRequests": self.dynamics_requests,
            "durationMs": self.duration_ms,
            "idempotent": self.idempotent,
            "dryRun": self.dry_run,
            "personId": self.person_id,
            "email": self.person_email,
            "requestId": self.request_id,
        }
        if self.list_ref is not None:
            line["list"] = dict(self.list_ref)
        if self.owner_rule is not None:
            line["ownerRule"] = self.owner_rule
            line["ownerReason"] = self.owner_reason
        if self.detail is not None:
            line["detail"] = self.detail
        if self.errors is not None:
            line["errors"] = list(self.errors)
        if self.batch_id is not None:
            line["batchId"] = self.batch_id
            line["stepId"] = self.step_id
        return line


def _request_fields(request: StepRequest | None) -> dict[str, Any]:
    if request is None:
        return {}
    person = request.person
    fields: dict[str, Any] = {
        "dry_run": request.dry_run,
        "person_id": person.id if isinstance(person.id, str) else None,
        "person_email": mask_address(person.email) if person.email else None,
    }
    if isinstance(request, ListRequest):
        ref = request.list
        fields["list_ref"] = {"id": str(ref.id)} if ref.id is not None else {"name": str(ref.name)}
    return fields


def result_line(function: str, request: StepRequest | None, body: Mapping[str, Any], duration_ms: int, *,
                batch_id: str | None = None, step_id: str | None = None) -> StepLogLine:
    """The line of a step that answered 200 with the step result `body`."""
    return StepLogLine(
        function=function, status=200, duration_ms=duration_ms, outcome=body.get("outcome"),
        reason=body.get("reason"), entity=body.get("entity"), record_id=body.get("recordId"),
        activity_id=body.get("activityId"), dynamics_requests=body.get("dynamicsRequests"),
        owner_rule=body.get("ownerRule"), owner_reason=body.get("ownerReason"),
        idempotent=bool(body.get("idempotent")), request_id=current_request_id(),
        batch_id=batch_id, step_id=step_id, **{**_request_fields(request), "dry_run": bool(body.get("dryRun"))},
    )


def error_line(function: str, request: StepRequest | None, problem: ProblemError, duration_ms: int,
               dynamics_requests: int | None, *, batch_id: str | None = None,
               step_id: str | None = None) -> StepLogLine:
    """The line of a step that failed with `problem` (see `shared.http.as_problem`)."""
    errors = None
    if problem.errors:
        errors = tuple(".".join(str(part) for part in item.get("loc", ())) for item in problem.errors)
        errors = errors[:MAX_ERROR_LOCATIONS]
    return StepLogLine(
        function=function, status=problem.status, duration_ms=duration_ms, code=problem.code,
        detail=problem.detail, errors=errors, dynamics_requests=dynamics_requests, request_id=current_request_id(),
        batch_id=batch_id, step_id=step_id, **_request_fields(request),
    )


def log_step(line: StepLogLine) -> None:
    """Write the line: INFO for answers up to 4xx, WARNING for 5xx (ERROR for a 500, a bug)."""
    level = logging.INFO if line.status < 500 else logging.ERROR if line.status == 500 else logging.WARNING
    fields = line.to_dict()
    log.log(level, "step %s", json.dumps(fields, ensure_ascii=False), extra={"step": fields})
