"""What a kind's pull reads: the columns (`$select`) and the criteria as a `$filter`, built only
with the client's query builder. Pure: column types come from Dynamics' metadata."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.config import Criterion, SyncSettings
from shared.dynamics import Filter

REFERENCE_TYPES = frozenset({"Lookup", "Customer", "Owner"})
ENTITY_SETS = {"lead": "leads", "contact": "contacts"}
KEYS = {"lead": "leadid", "contact": "contactid"}
SYSTEM_COLUMNS = ("versionnumber", "modifiedon", "statecode", "merged", "_masterid_value")


def read_name(column: str, column_type: str | None) -> str:
    """How the Web API names a column in a row (`_x_value` for lookups)."""
    return f"_{column}_value" if column_type in REFERENCE_TYPES else column


@dataclass(frozen=True)
class KindReads:
    """One kind's reads: the selected columns and, per platform field, the column it comes from."""

    kind: str
    entity_set: str
    key: str
    select: tuple[str, ...]
    pulled: Mapping[str, str]  # platform name -> read name (`email` always, every both/toPlatform mapping)
    selection: Filter


def kind_reads(kind: str, settings: SyncSettings, email_column: str | None, types: Mapping[str, str]) -> KindReads:
    pulled: dict[str, str] = {}
    if email_column:
        pulled["email"] = read_name(email_column, types.get(email_column))
    for mapping in settings.mappings(kind):
        if mapping.direction != "toDynamics":
            pulled[mapping.platform] = read_name(mapping.dynamics, types.get(mapping.dynamics))
    select = tuple(dict.fromkeys([KEYS[kind], *SYSTEM_COLUMNS, *pulled.values()]))
    return KindReads(kind, ENTITY_SETS[kind], KEYS[kind], select, pulled,
                     criteria_filter(settings.selection(kind).criteria, types))


def criteria_filter(criteria: list[Criterion], types: Mapping[str, str]) -> Filter:
    """Every criterion AND-ed; `statecode eq 0` unless one names `statecode`; merged rows never."""
    parts = [_condition(c, types.get(c.field)) for c in criteria]
    if not any(c.field == "statecode" for c in criteria):
        parts.append(Filter.eq("statecode", 0))
    parts.append(Filter.ne("merged", True))
    return Filter.and_(*parts)


def _condition(criterion: Criterion, column_type: str | None) -> Filter:
    name = read_name(criterion.field, column_type)
    op, value = criterion.op, criterion.value
    if op == "null":
        return Filter.is_null(name)
    if op == "notNull":
        return Filter.not_null(name)
    if op == "in":
        return Filter.in_(name, [_literal(v, column_type) for v in value])  # type: ignore[union-attr]
    if op == "contains":
        return Filter.contains(name, str(value))
    if op == "startsWith":
        return Filter.startswith(name, str(value))
    if op == "endsWith":
        return Filter.endswith(name, str(value))
    compare = {"eq": Filter.eq, "ne": Filter.ne, "gt": Filter.gt, "ge": Filter.ge, "lt": Filter.lt, "le": Filter.le}
    return compare[op](name, _literal(value, column_type))


def _literal(value: Any, column_type: str | None) -> Any:
    if column_type == "DateTime" and isinstance(value, str):
        moment = dt.datetime.fromisoformat(value)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    if column_type == "Uniqueidentifier" and isinstance(value, str):
        return uuid.UUID(value)
    return value
