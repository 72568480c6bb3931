"""`$orderby` over stored rows, with Dataverse's ordering rules (nulls first ascending, strings
case-insensitive, lookups by the related row's primary name, GUIDs as SQL Server orders them)."""

from __future__ import annotations

from typing import Any

from .relations import sql_guid_key
from .schema import Schema, Table
from .store import Store
from .values import LookupRef


def sort_rows(schema: Schema, store: Store, table: Table, rows: list[dict[str, Any]],
              order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Sorted copy; always ends with the primary key so the order is total."""
    keys = list(order)
    if not any(name == table.primary_key for name, _ in keys):
        keys.append((table.primary_key, False))
    result = list(rows)
    for name, descending in reversed(keys):

        def sort_key(row: dict[str, Any], column: str = name) -> tuple[int, Any]:
            return _key(schema, store, table, row, column)

        result.sort(key=sort_key, reverse=descending)
    return result


def _key(schema: Schema, store: Store, table: Table, row: dict[str, Any], name: str) -> tuple[int, Any]:
    attr = table.attribute_by_read_name(name)
    value = row.get(attr.name if attr else name)
    if value is None:
        return (0, "")
    if isinstance(value, LookupRef):
        target = schema.tables.get(value.table)
        related = store.get(value.table, value.id) if target else None
        label = related.get(target.primary_name) if related and target else None
        return (1, (str(label or "").casefold(), sql_guid_key(value.id)))
    if attr is not None and attr.type == "guid" and isinstance(value, str):
        return (1, sql_guid_key(value))
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, bool):
        return (1, int(value))
    return (1, value)
