"""What a journey step answers (the step result: docs/STEPS.md, openapi.yaml `StepResult`), and how it refuses.

Decisions are data: a step's pure `decide` returns a `Plan` (the result to report and at most
one write), so the HTTP path and a bulk path can act on the same decision in their own way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "Action",
    "Attempt",
    "Create",
    "Outcome",
    "Plan",
    "Reason",
    "StepRefused",
    "StepResult",
    "Update",
    "Write",
]

Outcome = Literal["created", "updated", "skipped", "activityLogged", "added", "alreadyMember"]
Reason = Literal["existsAsContact", "noMatchingLead", "noMatchingContact", "noMatch"]


@dataclass(frozen=True)
class StepResult:
    """The body of a step's 200 answer. Every field is always present in `to_body()`."""

    outcome: Outcome
    detail: str
    entity: Literal["lead", "contact"] | None = None
    record_id: str | None = None
    activity_id: str | None = None
    reason: Reason | None = None
    linked_contact_id: str | None = None
    linked_account_id: str | None = None
    duplicates: int = 0
    dynamics_requests: int = 0
    idempotent: bool = False
    dry_run: bool = False

    def to_body(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "entity": self.entity,
            "recordId": self.record_id,
            "activityId": self.activity_id,
            "reason": self.reason,
            "detail": self.detail,
            "linkedContactId": self.linked_contact_id,
            "linkedAccountId": self.linked_account_id,
            "duplicates": self.duplicates,
            "dynamicsRequests": self.dynamics_requests,
            "idempotent": self.idempotent,
            "dryRun": self.dry_run,
        }


class StepRefused(Exception):
    """The request is valid but Dynamics' configuration makes it impossible (HTTP 422).

    `code` is the machine-readable reason (`listNotFound`, ...); `detail` a sentence for a marketer.
    """

    status = 422

    def __init__(self, code: str, detail: str, *, title: str = "The step cannot be carried out") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.title = title


@dataclass(frozen=True)
class Attempt:
    """What a decision may depend on besides the request and the rows found: the id a new record
    must get (derived from the idempotency key), whether this is a dry run, and the time."""

    new_id: str | None = None
    dry_run: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def record_id(self) -> str | None:
        """The id for a record this attempt creates (GUIDs compare lowercase)."""
        return self.new_id.lower() if self.new_id else None


@dataclass(frozen=True)
class Create:
    """Create a record; `record_id` is chosen by the caller when an idempotency key is given."""

    entity_set: str
    data: Mapping[str, Any]
    record_id: str | None = None


@dataclass(frozen=True)
class Update:
    """Update an existing record (never creates one)."""

    entity_set: str
    record_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Action:
    """Call a bound action, e.g. `AddMemberList` on a marketing list."""

    name: str
    entity_set: str
    record_id: str
    body: Mapping[str, Any] = field(default_factory=dict)


Write = Create | Update | Action


@dataclass(frozen=True)
class Plan:
    """A step's decision: the result to report, and the one write (if any) that makes it true.

    When `write` is a `Create`, the result's `record_id` (or `activity_id`, per `created_id_field`)
    is filled with the new record's id once it exists.
    """

    result: StepResult
    write: Write | None = None
    created_id_field: Literal["record_id", "activity_id"] = "record_id"
