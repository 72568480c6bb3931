"""Pure helpers for the step tests: a small Dynamics held in lists, searched with the resolution rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.resolution import matches
from shared.steps.common import Found, PersonLookup

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


def person_rows(lookup: PersonLookup, records: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    return [[r for r in records if matches(r, criterion)] for criterion in lookup.criteria]


def found(groups: Mapping[str, list[list[Mapping[str, Any]]]]) -> Found:
    return Found(dict(groups))
