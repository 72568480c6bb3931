"""Add Activity (`POST /api/journey/add-activity`, docs/STEPS.md): a Task or a Phone Call.

Smart mode looks for the preferred kind of record and falls back to the other; the strict
modes (`lead`, `contact`) look for that kind only and skip when there is none. The activity
is set regarding the record found.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shared.dynamics.query import bind
from shared.resolution import ENTITIES, Kind, Match
from shared.steps.config import StepConfig
from shared.steps.lookups import Found, Lookups, person_lookup
from shared.steps.models import ActivityRequest, ActivitySpec
from shared.steps.person import check_person
from shared.steps.result import Attempt, Create, Plan, StepResult
from shared.steps.wording import (
    NO_MATCH_REASON,
    duplicates_note,
    no_fallback,
    no_record,
    possessive,
    was,
    who,
)

__all__ = ["ID_NAMESPACE", "SCOPE", "decide", "due_at", "prepare", "search_order"]

SCOPE = "AddActivity"
ID_NAMESPACE = "activity"

# Due "on a date" means the end of an ordinary working day, in UTC (17:00; openapi.yaml says so).
DUE_TIME_OF_DAY = time(17, 0, tzinfo=UTC)
PRIORITY_CODES: Mapping[str, int] = {"low": 0, "normal": 1, "high": 2}
_LABELS = {"task": "Task", "phonecall": "Phone Call"}
_ENTITY_SETS = {"task": "tasks", "phonecall": "phonecalls"}


def search_order(request: ActivityRequest) -> tuple[Kind, ...]:
    """The kinds of record to look for, in order of preference."""
    if request.mode == "lead":
        return ("lead",)
    if request.mode == "contact":
        return ("contact",)
    return ("lead", "contact") if request.prefer == "lead" else ("contact", "lead")


def prepare(request: ActivityRequest, config: StepConfig) -> Lookups:
    """The person as each kind this mode may use (a phone call also reads their stored phone)."""
    kinds = search_order(request)
    values = check_person(request.person, config, kinds)
    select = [config.phone_attribute] if request.activity.type == "phonecall" and config.phone_attribute else []
    return Lookups(
        people=tuple(person_lookup(kind, config, values, select=select) for kind in kinds),
        owner=config.owner_candidates(request.owner_user_id),
    )


def due_at(activity: ActivitySpec, now: datetime) -> datetime | None:
    """`scheduledend`: a date is due at 17:00 UTC that day, a date-time is taken in UTC,
    `dueInDays` is `now` plus that many days; none given: no due date."""
    if isinstance(activity.due_date, datetime):
        return activity.due_date.astimezone(UTC)
    if isinstance(activity.due_date, date):
        return datetime.combine(activity.due_date, DUE_TIME_OF_DAY)
    if activity.due_in_days is not None:
        return (now.astimezone(UTC) + timedelta(days=activity.due_in_days)).replace(microsecond=0)
    return None


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _activity_data(request: ActivityRequest, config: StepConfig, match: Match, now: datetime) -> dict[str, Any]:
    activity = request.activity
    data: dict[str, Any] = {"subject": activity.subject, "prioritycode": PRIORITY_CODES[activity.priority]}
    if activity.description is not None:
        data["description"] = activity.description
    due = due_at(activity, now)
    if due is not None:
        data["scheduledend"] = _utc_text(due)
    if activity.type == "phonecall":
        data["directioncode"] = (activity.direction or "outgoing") == "outgoing"
        number = activity.phone_number or request.person.phone
        if number is None and config.phone_attribute:
            stored = match.record.get(config.phone_attribute)
            number = stored.strip() or None if isinstance(stored, str) else None
        if number is not None:
            data["phonenumber"] = number
    spec = ENTITIES[match.kind]
    data[f"regardingobjectid_{match.kind}_{activity.type}@odata.bind"] = bind(spec.entity_set, match.record_id)
    return data


def decide(
    request: ActivityRequest,
    config: StepConfig,
    lookups: Lookups,
    found: Found,
    attempt: Attempt | None = None,
) -> Plan:
    """The plan for `request` given the rows found."""
    attempt = attempt or Attempt()
    dry_run = attempt.dry_run
    name = who(request.person)
    label = _LABELS[request.activity.type]
    preferred = lookups.kinds[0]
    match = lookups.first_match(found)

    if match is None:
        if request.mode == "smart":
            detail = (f"{name} is neither an open Lead nor an active Contact in Dynamics, "
                      f"so no {label} {was(dry_run)} logged.")
            return Plan(StepResult(outcome="skipped", reason="noMatch", detail=detail, dry_run=dry_run))
        detail = f"{no_record(name, preferred)}, so no {label} {was(dry_run)} logged {no_fallback(preferred)}."
        return Plan(StepResult(outcome="skipped", reason=NO_MATCH_REASON[preferred], detail=detail, dry_run=dry_run))

    owner = lookups.owner_decision(found)
    data = _activity_data(request, config, match, attempt.now) | owner.bind()
    kind_label = ENTITIES[match.kind].label
    fallback = ""
    if match.kind != preferred:
        fallback = f" (no {ENTITIES[preferred].label} was found, so the {kind_label} was used)"
    where = f"{possessive(name)} {kind_label}{fallback}{duplicates_note(match)}"
    subject = f"\u201c{request.activity.subject}\u201d"
    if dry_run:
        detail = f"A {label} {subject} would be logged on {where}; nothing was written."
    else:
        detail = f"Logged a {label} {subject} on {where}."
    return Plan(
        StepResult(
            outcome="activityLogged", entity=match.kind, record_id=match.record_id, duplicates=match.duplicates,
            detail=detail, dry_run=dry_run, **StepResult.owned(owner),
        ),
        write=Create(_ENTITY_SETS[request.activity.type], data, record_id=attempt.record_id),
        created_id_field="activity_id",
    )
