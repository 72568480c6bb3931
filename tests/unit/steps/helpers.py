"""Pure helpers for the step tests: a small Dynamics held in lists, searched with the resolution rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.resolution import matches
from shared.steps.lookups import Found, Lookups

LEAD_1 = "00000000-0000-0000-0000-0000000000a1"
LEAD_2 = "00000000-0000-0000-0000-0000000000a2"
CONTACT_1 = "00000000-0000-0000-0000-0000000000c1"
ACCOUNT_1 = "00000000-0000-0000-0000-0000000000b1"
USER_1 = "00000000-0000-0000-0000-0000000000d1"
USER_DEFAULT = "00000000-0000-0000-0000-0000000000d0"
LIST_1 = "00000000-0000-0000-0000-0000000000e1"


def lead(lead_id: str = LEAD_1, email: str = "ada@example.com", **more: Any) -> dict[str, Any]:
    return {"leadid": lead_id, "emailaddress1": email, "statecode": 0, "modifiedon": "2026-01-01T00:00:00Z",
            "_parentcontactid_value": None, "_parentaccountid_value": None, **more}


def contact(contact_id: str = CONTACT_1, email: str = "ada@example.com", *, account: str | None = None,
            **more: Any) -> dict[str, Any]:
    return {"contactid": contact_id, "emailaddress1": email, "statecode": 0, "modifiedon": "2026-01-01T00:00:00Z",
            "_parentcustomerid_value": account,
            "parentcustomerid_account": {"accountid": account} if account else None, **more}


def marketing_list(list_id: str = LIST_1, name: str = "Webinar", **more: Any) -> dict[str, Any]:
    return {"listid": list_id, "listname": name, "type": False, "lockstatus": False, "statecode": 0,
            "createdfromcode": 2, **more}


def found_for(lookups: Lookups, *, leads: Sequence[Mapping[str, Any]] = (),
              contacts: Sequence[Mapping[str, Any]] = (), users: Sequence[Mapping[str, Any]] = (),
              lists: Sequence[Mapping[str, Any]] = ()) -> Found:
    """What a small Dynamics held in lists answers to `lookups`: each person query gets the records
    the resolution rule matches (as Dataverse's `$filter` would), the owner and list queries their rows."""
    records = {"lead": leads, "contact": contacts}
    groups = {person.kind: [[r for r in records[person.kind] if matches(r, criterion)]
                            for criterion in person.criteria] for person in lookups.people}
    named = lookups.groups()
    if "owner" in named:
        groups["owner"] = [list(users)]
    if "list" in named:
        groups["list"] = [list(lists)]
    return Found(groups)
