"""Does a value fit a Dataverse column? Pure rules over `shared.dynamics.metadata.Column`.

Used wherever the product writes a value whose column the caller chose: a journey step's
`person.fields`, the configuration's fixed and engagement fields. Text lengths count UTF-16
code units, as Dataverse does.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from shared.dynamics.metadata import Column

__all__ = ["value_problem", "write_problem"]

_INTEGER_TYPES = frozenset({"Integer", "BigInt", "Picklist", "State", "Status"})
_NUMBER_TYPES = frozenset({"Decimal", "Double", "Money"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INTEGER_RANGES = {"Integer": (-(2**31), 2**31 - 1), "BigInt": (-(2**63), 2**63 - 1)}


def _utf16_length(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def write_problem(column: Column | None, name: str, table_label: str) -> str | None:
    """Why `name` cannot be written as a plain value on this table, or None when it can."""
    if column is None:
        return f"{table_label} has no column {name!r} in Dynamics"
    if column.is_reference:
        return f"is a {column.type} column; it cannot be set as a plain value"
    if not (column.valid_for_create and column.valid_for_update):
        # The same value may create a record or update one: it must be writable both ways.
        return "is not writable on both create and update in Dynamics"
    return None


def value_problem(column: Column, value: Any) -> str | None:
    """Why `value` does not fit `column` (type, MaxLength), or None when it does. Null always fits."""
    if value is None:
        return None
    kind = column.type
    if column.is_text:
        if not isinstance(value, str):
            return f"must be text ({kind} column)"
        if column.max_length is not None and _utf16_length(value) > column.max_length:
            return f"must be at most {column.max_length} characters (the column's MaxLength)"
        return None
    if kind in _INTEGER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number ({kind} column)"
        low, high = _INTEGER_RANGES.get(kind, _INTEGER_RANGES["Integer"])
        return None if low <= value <= high else f"is out of range for a {kind} column"
    if kind in _NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"must be a number ({kind} column)"
        return None
    if kind == "Boolean":
        return None if isinstance(value, bool) else "must be true or false (Boolean column)"
    if kind == "DateTime":
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                return None
            except ValueError:
                pass
        return "must be an ISO 8601 date or date-time (DateTime column)"
    if kind == "Uniqueidentifier":
        return None if isinstance(value, str) and _GUID.match(value) else "must be a GUID (Uniqueidentifier column)"
    return f"is a {kind or 'untyped'} column; the product does not write it"
