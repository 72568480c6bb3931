"""Stored rows to Web API JSON: `@odata.etag`, `_x_value` lookups, annotations, `$select`, `$expand`."""

from __future__ import annotations

from typing import Any

from .annotations import ASSOCIATED_NAV, FORMATTED, LOOKUP_NAME, AnnotationFilter
from .filter_eval import FilterEvaluator
from .query import Expand
from .relations import nav_for_reference, related_rows
from .schema import Attribute, Schema, Table
from .sorting import sort_rows
from .store import Store
from .values import LookupRef, parse_datetime


def etag(row: dict[str, Any]) -> str:
    return f'W/"{row.get("versionnumber", 0)}"'


def context_fragment(table: Table, select: list[str] | None, expand: list[Expand]) -> str:
    parts = list(select or [])
    for item in expand:
        inner = ",".join(item.select or [])
        parts.append(f"{item.nav}({inner})")
    return f"{table.entity_set}({','.join(parts)})" if parts else table.entity_set


class Renderer:
    def __init__(self, schema: Schema, store: Store, service_root: str, annotations: AnnotationFilter,
                 evaluator: FilterEvaluator) -> None:
        self.schema = schema
        self.store = store
        self.root = service_root
        self.annotations = annotations
        self.evaluator = evaluator

    def entity_url(self, table: Table, record_id: str) -> str:
        return f"{self.root}{table.entity_set}({record_id})"

    def row(self, table: Table, row: dict[str, Any], select: list[str] | None = None,
            expand: list[Expand] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.etag": etag(row)}
        names = self._columns(table, row, select)
        for name in names:
            attr = table.attribute_by_read_name(name)
            if attr is None:
                out[name] = row.get(name)
                continue
            self._put(out, table, attr, row.get(attr.name))
        for item in expand or []:
            out[item.nav] = self._expand(table, row, item)
        return out

    def _columns(self, table: Table, row: dict[str, Any], select: list[str] | None) -> list[str]:
        if select is None:
            names = [a.read_name for a in table.attributes.values()]
            if table.free_form:
                names += [k for k in row if k not in table.attributes]
        else:
            names = list(select)
            # Dataverse adds the currency to any selected money column (reference 3.2).
            money = any((a := table.attribute_by_read_name(n)) is not None and a.type == "money" for n in names)
            if money and "_transactioncurrencyid_value" not in names:
                names.append("_transactioncurrencyid_value")
        if table.primary_key not in names:
            names.append(table.primary_key)
        return names

    def _put(self, out: dict[str, Any], table: Table, attr: Attribute, value: Any) -> None:
        name = attr.read_name
        if attr.type == "lookup":
            if isinstance(value, LookupRef):
                if self.annotations.wants(FORMATTED):
                    related = self.store.get(value.table, value.id)
                    target = self.schema.tables.get(value.table)
                    if related is not None and target is not None:
                        out[f"{name}@{FORMATTED}"] = related.get(target.primary_name)
                if self.annotations.wants(ASSOCIATED_NAV):
                    nav = nav_for_reference(table, attr.name, value.table)
                    if nav is not None:
                        out[f"{name}@{ASSOCIATED_NAV}"] = nav
                if self.annotations.wants(LOOKUP_NAME):
                    out[f"{name}@{LOOKUP_NAME}"] = value.table
                out[name] = value.id
            else:
                out[name] = None
            return
        if value is not None and self.annotations.wants(FORMATTED):
            formatted = _formatted(attr, value)
            if formatted is not None:
                out[f"{name}@{FORMATTED}"] = formatted
        out[name] = value

    def _expand(self, table: Table, row: dict[str, Any], item: Expand) -> Any:
        nav = table.navs.get(item.nav)
        if nav is not None:
            ref = row.get(nav.attribute)
            if not isinstance(ref, LookupRef) or ref.table not in nav.targets:
                return None
            related = self.store.get(ref.table, ref.id)
            if related is None:
                return None
            return self.row(self.schema.table(ref.table), related, item.select, item.expand)
        collection = table.collections[item.nav]
        target = self.schema.table(collection.target)
        rows = related_rows(self.schema, self.store, table, row, collection)
        if item.filter is not None:
            rows = [r for r in rows if self.evaluator.matches(item.filter, target, r)]
        rows = sort_rows(self.schema, self.store, target, rows, item.orderby)
        if item.top is not None:
            rows = rows[: item.top]
        return [self.row(target, r, item.select, item.expand) for r in rows]


def _formatted(attr: Attribute, value: Any) -> str | None:
    if attr.type in ("picklist", "state", "status") and attr.options:
        return attr.options.get(int(value)) if isinstance(value, int) else None
    if attr.type == "bool":
        return "Yes" if value else "No"
    if attr.type in ("int", "bigint"):
        return f"{value:,}" if isinstance(value, int) else None
    if attr.type == "money" and isinstance(value, (int, float)):
        return f"${value:,.2f}"
    if attr.type == "datetime" and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is None:
            return None
        hour = moment.hour % 12 or 12
        return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    return None
