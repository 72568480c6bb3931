"""Reading a `journey-steps` message: the envelope, the claim check, and each step. Pure.

Three levels of badness, each handled differently (docs/BATCH.md):

- unreadable (`UnreadableMessage`): not base64 UTF-8 JSON, not an object, no valid `batchId`,
  or a claim-check blob that is missing, unreadable or not a JSON array. The delivery fails and
  the host's retries end in `journey-steps-poison`.
- a bad envelope (`envelope_problems`): a valid `batchId` but `steps` missing, not a list, empty
  or over 5,000, or unknown members. No step runs; the batch is `rejected`.
- a bad step (`read_steps`): not an object, no valid `stepId` / `type`, a repeated `stepId`, or a
  body its HTTP function would refuse. That step gets a 400 entry; the others run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.http import problem_document, validation_problem
from shared.journey_batch.names import BATCH_ID, MAX_STEPS
from shared.steps.models import ActivityRequest, LeadRequest, ListRequest, StepRequest
from shared.steps.runner import ADD_ACTIVITY, ADD_TO_MARKETING_LIST, CREATE_UPDATE_LEAD, StepDefinition
from shared.store.idempotency import body_hash

__all__ = [
    "BATCH_ID",
    "MAX_STEPS",
    "STEP_TYPES",
    "Envelope",
    "Slot",
    "UnreadableMessage",
    "envelope_problems",
    "read_claim_check",
    "read_envelope",
    "read_steps",
    "read_steps_blob",
    "rejection",
]

STEP_ID_MAX = 200
_ENVELOPE_MEMBERS = frozenset({"batchId", "steps", "stepsBlob"})


@dataclass(frozen=True)
class StepType:
    definition: StepDefinition[Any]
    model: type[StepRequest]


STEP_TYPES: Mapping[str, StepType] = {
    "createUpdateLead": StepType(CREATE_UPDATE_LEAD, LeadRequest),
    "addActivity": StepType(ADD_ACTIVITY, ActivityRequest),
    "addToMarketingList": StepType(ADD_TO_MARKETING_LIST, ListRequest),
}


class UnreadableMessage(ValueError):
    """The message cannot be read as a batch: the delivery fails (and ends in the poison queue)."""


@dataclass(frozen=True)
class Envelope:
    batch_id: str
    members: Mapping[str, Any]

    @property
    def steps_blob(self) -> str | None:
        value = self.members.get("stepsBlob")
        return value if isinstance(value, str) else None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def read_envelope(body: bytes, id_member: str = "batchId") -> Envelope:
    """The envelope of a message body (already base64-decoded by the host); `id_member` names the
    job id (`batchId`, or a campaign export's `exportId`), kept as `Envelope.batch_id`."""
    try:
        data = _loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnreadableMessage(f"the message is not UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise UnreadableMessage("the message is not a JSON object")
    batch_id = data.get(id_member)
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        raise UnreadableMessage(f"the message has no valid {id_member} (1-200 characters of A-Z a-z 0-9 . _ : -)")
    return Envelope(batch_id, data)


def read_steps_blob(envelope: Envelope, read: Callable[[str], bytes]) -> Any:
    """The steps of a claim-checked message, from the blob `container/name` (`read` fetches it)."""
    reference = envelope.steps_blob
    assert reference is not None
    steps = read_claim_check(reference, read)
    if not isinstance(steps, list):
        raise UnreadableMessage("the claim-check blob is not a JSON array")
    return steps


def read_claim_check(reference: str, read: Callable[[str], bytes]) -> Any:
    """The JSON in the claim-check blob `container/name` (`read` fetches it); `UnreadableMessage`
    when it is missing, unreadable or not UTF-8 JSON."""
    try:
        content = read(reference)
    except LookupError as exc:
        raise UnreadableMessage(str(exc)) from None
    try:
        return _loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise UnreadableMessage("the claim-check blob is not UTF-8 JSON") from None


def envelope_problems(envelope: Envelope) -> list[dict[str, Any]]:
    """What makes the envelope unusable (`errors` of its 400), empty when steps can run."""
    members = envelope.members
    errors: list[dict[str, Any]] = [
        {"loc": [name], "msg": "is not a member of a journey-steps message"}
        for name in sorted(set(members) - _ENVELOPE_MEMBERS)
    ]
    has_steps, has_blob = "steps" in members, "stepsBlob" in members
    if has_steps and has_blob:
        errors.append({"loc": ["stepsBlob"], "msg": "give either steps or stepsBlob, not both"})
    elif not has_steps and not has_blob:
        errors.append({"loc": ["steps"], "msg": "is required (or stepsBlob, for a claim-checked message)"})
    elif has_blob:
        blob = members["stepsBlob"]
        if not isinstance(blob, str) or "/" not in blob.strip("/") or blob.startswith("/"):
            errors.append({"loc": ["stepsBlob"], "msg": "must be 'container/name' of a blob"})
    else:
        errors.extend(steps_problems(members["steps"]))
    return errors


def steps_problems(steps: Any) -> list[dict[str, Any]]:
    if not isinstance(steps, list):
        return [{"loc": ["steps"], "msg": "must be a list of steps"}]
    if not steps:
        return [{"loc": ["steps"], "msg": "must hold at least one step"}]
    if len(steps) > MAX_STEPS:
        return [{"loc": ["steps"], "msg": f"holds {len(steps)} steps; a message holds at most {MAX_STEPS}"}]
    return []


def rejection(errors: list[dict[str, Any]]) -> dict[str, Any]:
    count = len(errors)
    return {
        "type": "about:blank", "title": "Invalid journey-steps message", "status": 400,
        "detail": f"The message has {count} problem{'s' if count != 1 else ''}; no step was run.",
        "errors": errors,
    }


@dataclass(frozen=True)
class Slot:
    """One step of the message: valid (`request` set) or with its 400 (`error` set)."""

    index: int  # position in the message
    step_id: str | None
    type: str | None
    raw: Any
    body: Any  # the HTTP body: the step without stepId and type
    request: StepRequest | None = None
    error: dict[str, Any] | None = None
    addressable: bool = True  # False for a repeated stepId: the first step of that id owns it

    @property
    def step_type(self) -> StepType:
        assert self.type is not None
        return STEP_TYPES[self.type]

    @property
    def body_hash(self) -> str:
        """Hash of the whole step as sent: a known stepId with another hash is a conflict."""
        return body_hash(self.raw)


def _bad_step(errors: list[dict[str, Any]]) -> dict[str, Any]:
    count = len(errors)
    return {
        "type": "about:blank", "title": "Invalid request", "status": 400,
        "detail": f"The step has {count} invalid field{'s' if count != 1 else ''}.", "errors": errors,
    }


def read_steps(steps: list[Any]) -> list[Slot]:
    """Each step validated as its HTTP function validates its body (JSON mode, same model)."""
    slots: list[Slot] = []
    seen: set[str] = set()
    for index, raw in enumerate(steps):
        if not isinstance(raw, dict):
            slots.append(Slot(index, None, None, raw, None,
                              error=_bad_step([{"loc": [], "msg": "a step must be a JSON object"}]),
                              addressable=False))
            continue
        errors: list[dict[str, Any]] = []
        step_id, kind = raw.get("stepId"), raw.get("type")
        if not isinstance(step_id, str) or not 1 <= len(step_id) <= STEP_ID_MAX:
            errors.append({"loc": ["stepId"], "msg": f"is required: a string of 1-{STEP_ID_MAX} characters"})
            step_id = None
        repeated = step_id is not None and step_id in seen
        if repeated:
            errors.append({"loc": ["stepId"], "msg": "repeats the stepId of an earlier step in this message"})
        if not isinstance(kind, str) or kind not in STEP_TYPES:
            errors.append({"loc": ["type"], "msg": f"must be one of {', '.join(STEP_TYPES)}"})
            kind = None
        body = {name: value for name, value in raw.items() if name not in ("stepId", "type")}
        request: StepRequest | None = None
        if kind is not None:
            try:
                request = STEP_TYPES[kind].model.model_validate_json(json.dumps(body, ensure_ascii=False))
            except ValidationError as exc:
                if not errors:
                    problem = problem_document(validation_problem(exc))
                    slots.append(Slot(index, step_id, kind, raw, body, error=problem))
                    if step_id is not None:
                        seen.add(step_id)
                    continue
                errors.extend(problem_document(validation_problem(exc)).get("errors", []))
        if errors:
            slots.append(Slot(index, step_id, kind, raw, body, error=_bad_step(errors),
                              addressable=step_id is not None and not repeated))
        else:
            slots.append(Slot(index, step_id, kind, raw, body, request=request))
        if step_id is not None:
            seen.add(step_id)
    return slots
