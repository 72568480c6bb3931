"""Following relationships between stored rows: collection navigation properties and list membership."""

from __future__ import annotations

from typing import Any

from .schema import CollectionNav, Schema, Table
from .store import Store
from .values import LookupRef


def related_rows(schema: Schema, store: Store, table: Table, row: dict[str, Any], nav: CollectionNav) -> list[dict[str, Any]]:
    parent_id = row[table.primary_key]
    if nav.kind == "one_to_many":
        ref = LookupRef(table.logical_name, parent_id)
        return [r for r in store.scan(nav.target) if r.get(nav.attribute) == ref]
    if nav.kind == "list_members":
        rows: list[dict[str, Any]] = []
        for member in members_of_list(store, parent_id):
            entity = member.get("entityid")
            if isinstance(entity, LookupRef) and entity.table == nav.target:
                found = store.get(entity.table, entity.id)
                if found is not None:
                    rows.append(found)
        return rows
    if nav.kind == "member_lists":
        ref = LookupRef(table.logical_name, parent_id)
        lists: list[dict[str, Any]] = []
        for member in store.scan("listmember"):
            list_ref = member.get("listid")
            if member.get("entityid") == ref and isinstance(list_ref, LookupRef):
                found = store.get("list", list_ref.id)
                if found is not None:
                    lists.append(found)
        return lists
    return []


def members_of_list(store: Store, list_id: str) -> list[dict[str, Any]]:
    ref = LookupRef("list", list_id)
    return [m for m in store.scan("listmember") if m.get("listid") == ref]


def find_membership(store: Store, list_id: str, member: LookupRef) -> dict[str, Any] | None:
    for row in members_of_list(store, list_id):
        if row.get("entityid") == member:
            return row
    return None


def nav_for_reference(table: Table, attribute: str, target: str) -> str | None:
    """The navigation property a lookup value was (or would be) written through."""
    for nav in table.navs.values():
        if nav.attribute == attribute and target in nav.targets:
            return nav.name
    return None


def sql_guid_key(value: str) -> tuple[str, ...]:
    """Sort key that orders GUIDs as SQL Server orders uniqueidentifier columns."""
    parts = value.lower().split("-")
    if len(parts) != 5:
        return (value.lower(),)
    a, b, c, d, e = parts
    return (e, d, c[2:4] + c[0:2], b[2:4] + b[0:2], a[6:8] + a[4:6] + a[2:4] + a[0:2])
