"""What the client knows of Dataverse's tables without asking: their primary key columns."""

from __future__ import annotations

import re

PRIMARY_KEYS = {
    "leads": "leadid",
    "contacts": "contactid",
    "accounts": "accountid",
    "tasks": "activityid",
    "phonecalls": "activityid",
    "emails": "activityid",
    "appointments": "activityid",
    "activitypointers": "activityid",
    "lists": "listid",
    "listmembers": "listmemberid",
    "systemusers": "systemuserid",
    "teams": "teamid",
    "businessunits": "businessunitid",
    "transactioncurrencies": "transactioncurrencyid",
}

# Columns known to be GUIDs: a GUID string compared with one of these is written unquoted.
GUID_COLUMNS = frozenset(PRIMARY_KEYS.values())

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def primary_key(entity_set: str) -> str:
    """The primary key column of an entity set (`leads` -> `leadid`, `tasks` -> `activityid`)."""
    if not isinstance(entity_set, str) or not _IDENTIFIER.match(entity_set):
        raise ValueError(f"not a valid identifier: {entity_set!r}")
    if entity_set in PRIMARY_KEYS:
        return PRIMARY_KEYS[entity_set]
    singular = entity_set[:-3] + "y" if entity_set.endswith("ies") else entity_set.removesuffix("s")
    return singular + "id"
