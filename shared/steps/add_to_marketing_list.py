"""Add Lead / Contact to Marketing List (`POST /api/journey/add-to-marketing-list`, docs/STEPS.md).

One round trip finds the list (by id or by name) and the person's record of the target kind,
with the record's membership of that list expanded; then at most one `AddMemberList` call.
The list is checked first: a list that cannot take this member is a 422 with a `code`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.dynamics.query import Expand, Filter, Query
from shared.resolution import ENTITIES
from shared.steps.config import StepConfig
from shared.steps.lookups import Found, Lookups, person_lookup
from shared.steps.models import ListRequest
from shared.steps.person import check_person
from shared.steps.result import Action, Attempt, Plan, StepRefused, StepResult
from shared.steps.wording import (
    NO_MATCH_REASON,
    duplicates_note,
    no_fallback,
    no_record,
    possessive,
    was,
    who,
)

__all__ = ["ID_NAMESPACE", "LIST_SELECT", "MEMBER_TYPE", "SCOPE", "check_list", "decide", "prepare"]

SCOPE = "AddToMarketingList"
ID_NAMESPACE = None  # AddMemberList creates no record whose id the step chooses

# `createdfromcode`: the kind of member a list holds.
MEMBER_TYPE: Mapping[str, int] = {"account": 1, "contact": 2, "lead": 4}
_MEMBER_LABEL = {1: "Accounts", 2: "Contacts", 4: "Leads"}
_MEMBERSHIP = {"lead": "listlead_association", "contact": "listcontact_association"}
LIST_SELECT = ("listid", "listname", "type", "lockstatus", "statecode", "createdfromcode")


def _list_predicate(request: ListRequest) -> Filter:
    if request.list.id is not None:
        return Filter.eq("listid", request.list.id)
    assert request.list.name is not None
    return Filter.eq("listname", request.list.name)


def prepare(request: ListRequest, config: StepConfig) -> Lookups:
    """The list, and the person as the target kind only, with their membership of that list."""
    values = check_person(request.person, config, [request.target])
    predicate = _list_predicate(request)
    membership = Expand(_MEMBERSHIP[request.target], select=["listid"], filter=predicate)
    return Lookups(
        people=(person_lookup(request.target, config, values, expand=[membership]),),
        others={"list": ("lists", Query(select=list(LIST_SELECT), filter=predicate))},
    )


def _quoted(name: str) -> str:
    return f"\u201c{name}\u201d"


def _list_words(request: ListRequest, row: Mapping[str, Any] | None = None) -> str:
    if row is not None and row.get("listname"):
        return f"the marketing list {_quoted(str(row['listname']))}"
    if request.list.name is not None:
        return f"the marketing list {_quoted(request.list.name)}"
    return f"the marketing list with id {request.list.id}"


def check_list(request: ListRequest, rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The one list the request names, if it can take a member of the target kind; else `StepRefused`.

    By name, an active list wins over inactive ones of the same name (a renamed successor is
    usual); several active lists of that name are ambiguous.
    """
    if not rows:
        words = _list_words(request)
        raise StepRefused("listNotFound", f"{words[0].upper()}{words[1:]} does not exist in Dynamics.",
                          title="Marketing list not found")
    if len(rows) > 1:
        active = [row for row in rows if row.get("statecode", 0) == 0]
        if len(active) > 1:
            raise StepRefused(
                "listNameAmbiguous",
                f"{len(active)} active marketing lists are named {_quoted(str(request.list.name))}; "
                "give the list's id instead.",
                title="Marketing list name is ambiguous",
            )
        rows = active or rows[:1]
    row = rows[0]
    words = _list_words(request, row)
    sentence = f"{words[0].upper()}{words[1:]}"
    if row.get("statecode", 0) != 0:
        raise StepRefused("listInactive", f"{sentence} is inactive, so no members can be added.",
                          title="Marketing list is inactive")
    if row.get("type") is True:
        raise StepRefused("listIsDynamic", f"{sentence} is dynamic: its members come from its query, "
                          "so none can be added by hand.", title="Marketing list is dynamic")
    if row.get("lockstatus") is True:
        raise StepRefused("listLocked", f"{sentence} is locked, so no members can be added.",
                          title="Marketing list is locked")
    wanted = MEMBER_TYPE[request.target]
    if row.get("createdfromcode") != wanted:
        holds = _MEMBER_LABEL.get(row.get("createdfromcode"), "another kind of member")  # type: ignore[arg-type]
        raise StepRefused(
            "listMemberTypeMismatch",
            f"{sentence} holds {holds}, not {ENTITIES[request.target].label}s.",
            title="Marketing list holds another member type",
        )
    return row


def decide(
    request: ListRequest,
    config: StepConfig,
    lookups: Lookups,
    found: Found,
    attempt: Attempt | None = None,
) -> Plan:
    """The plan for `request` given the rows found; raises `StepRefused` for an unusable list.

    Membership has no id the step could choose, and does not depend on the time."""
    dry_run = (attempt or Attempt()).dry_run
    row = check_list(request, found.flat("list"))
    list_id = str(row["listid"]).lower()
    words = _list_words(request, row)
    name = who(request.person)
    label = ENTITIES[request.target].label
    match = lookups.match(request.target, found)
    if match is None:
        detail = (f"{no_record(name, request.target)}, so nobody {was(dry_run)} added to {words} "
                  f"{no_fallback(request.target)}.")
        return Plan(StepResult(outcome="skipped", reason=NO_MATCH_REASON[request.target], detail=detail,
                               dry_run=dry_run))

    memberships = match.record.get(_MEMBERSHIP[request.target]) or []
    owner = possessive(name)
    if any(str(item.get("listid", "")).lower() == list_id for item in memberships):
        detail = f"{owner} {label} is already on {words}, so nothing {was(dry_run)} changed{duplicates_note(match)}."
        return Plan(
            StepResult(outcome="alreadyMember", entity=request.target, record_id=match.record_id,
                       duplicates=match.duplicates, detail=detail, dry_run=dry_run)
        )
    if dry_run:
        detail = f"{owner} {label} would be added to {words}{duplicates_note(match)}; nothing was written."
    else:
        detail = f"Added {owner} {label} to {words}{duplicates_note(match)}."
    return Plan(
        StepResult(outcome="added", entity=request.target, record_id=match.record_id,
                   duplicates=match.duplicates, detail=detail, dry_run=dry_run),
        write=Action("Microsoft.Dynamics.CRM.AddMemberList", "lists", list_id, {"EntityId": match.record_id}),
    )
