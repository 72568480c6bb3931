"""Checks of the sync settings that need Dynamics' column metadata, and what a saved change starts.

Pure functions: the caller reads each kind's columns (one metadata request per table, cached per
worker) and passes them in. `metadata_errors` answers `{"loc", "msg"}` items in the same shape as
the schema errors of a 400, so one problem lists them all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shared.config import ORDER_OPS, SYNC_KINDS, TEXT_OPS, Criterion, SyncSettings

TEXT = frozenset({"String", "Memo"})
INTEGER = frozenset({"Integer", "BigInt", "Picklist", "State", "Status"})
NUMBER = frozenset({"Decimal", "Double", "Money"})
REFERENCE = frozenset({"Lookup", "Customer", "Owner", "Uniqueidentifier"})
# Types whose values order meaningfully: choices are integers but their order means nothing.
ORDERED = frozenset({"Integer", "BigInt", "DateTime"}) | NUMBER
FILTERABLE = TEXT | INTEGER | NUMBER | REFERENCE | {"Boolean", "DateTime"}
# Columns written as plain JSON values; lookups need `@odata.bind` and a platform value has no table.
PLAIN_WRITABLE = TEXT | INTEGER | NUMBER | {"Boolean", "DateTime"}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class ColumnInfo(Protocol):
    """What the checks read of a column (Dataverse `AttributeType` names: String, Picklist, ...)."""

    @property
    def type(self) -> str: ...
    @property
    def valid_for_create(self) -> bool: ...
    @property
    def valid_for_update(self) -> bool: ...


Columns = Mapping[str, ColumnInfo]


def metadata_errors(settings: SyncSettings, columns: Mapping[str, Columns]) -> list[dict[str, Any]]:
    """Every criterion and mapping that does not fit its kind's columns (`columns["lead"]`, ...)."""
    found: list[dict[str, Any]] = []
    for kind in SYNC_KINDS:
        table = columns[kind]
        for index, criterion in enumerate(settings.selection(kind).criteria):
            loc: list[str | int] = ["dataConfiguration", kind, "criteria", index]
            found.extend({"loc": [*loc, part], "msg": msg} for part, msg in _criterion_errors(kind, criterion, table))
        for index, mapping in enumerate(settings.mappings(kind)):
            column = table.get(mapping.dynamics)
            loc = ["fieldMappings", kind, index, "dynamics"]
            if column is None:
                found.append({"loc": loc, "msg": f"{kind} has no column {mapping.dynamics!r}"})
            elif mapping.direction != "toPlatform" and not _writable(column):
                found.append({"loc": loc, "msg": f"{kind}.{mapping.dynamics} ({column.type}) cannot be written "
                                                 f"by the sync, so direction {mapping.direction!r} is not possible"})
    return found


def _writable(column: ColumnInfo) -> bool:
    return column.type in PLAIN_WRITABLE and column.valid_for_create and column.valid_for_update


def _criterion_errors(kind: str, criterion: Criterion, table: Columns) -> list[tuple[str, str]]:
    column = table.get(criterion.field)
    if column is None:
        return [("field", f"{kind} has no column {criterion.field!r}")]
    kind_type = column.type
    if kind_type not in FILTERABLE:
        return [("field", f"{kind}.{criterion.field} ({kind_type}) cannot be used in criteria")]
    op = criterion.op
    if op in TEXT_OPS and kind_type not in TEXT:
        return [("op", f"{op!r} needs a String or Memo column; {criterion.field} is {kind_type}")]
    if op in ORDER_OPS and kind_type not in ORDERED:
        return [("op", f"{op!r} needs a number or date column; {criterion.field} is {kind_type}")]
    if op in ("null", "notNull"):
        return []
    values = criterion.value if isinstance(criterion.value, list) else [criterion.value]
    for value in values:
        expected = _mismatch(kind_type, value)
        if expected is not None:
            return [("value", f"{criterion.field} is {kind_type}: {'each value' if op == 'in' else 'the value'} "
                              f"must be {expected}")]
    return []


def _mismatch(column_type: str, value: Any) -> str | None:
    """What the value should have been, or None when it fits the column type."""
    if column_type in TEXT:
        return None if isinstance(value, str) else "a string"
    if column_type in INTEGER:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer (no labels)"
    if column_type in NUMBER:
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"
    if column_type == "Boolean":
        return None if isinstance(value, bool) else "a boolean"
    if column_type == "DateTime":
        return None if isinstance(value, str) and _is_iso_datetime(value) else "an ISO 8601 date or date-time"
    return None if isinstance(value, str) and _GUID.match(value) else "a GUID string"


def _is_iso_datetime(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class InitialSyncRequest:
    """What a saved settings change starts: an initial sync of every enabled kind, from scratch
    (`everything`), or of the listed kinds."""

    everything: bool = False
    kinds: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return self.everything or bool(self.kinds)


def initial_sync_started(before: SyncSettings, after: SyncSettings) -> InitialSyncRequest:
    """`globalSync` false->true: every enabled kind from scratch. With `globalSync` on, a kind that
    is enabled, changes its criteria or gains a `both`/`toPlatform` mapping starts its own."""
    if not after.global_sync:
        return InitialSyncRequest()
    if not before.global_sync:
        return InitialSyncRequest(everything=True)
    kinds: set[str] = set()
    for kind in SYNC_KINDS:
        old, new = before.selection(kind), after.selection(kind)
        if not new.enabled:
            continue
        pulled_before = {(m.platform, m.dynamics) for m in before.mappings(kind) if m.direction != "toDynamics"}
        pulled_after = {(m.platform, m.dynamics) for m in after.mappings(kind) if m.direction != "toDynamics"}
        if not old.enabled or old.criteria != new.criteria or pulled_after - pulled_before:
            kinds.add(kind)
    return InitialSyncRequest(kinds=frozenset(kinds))
