"""System query options: parsing `$select`, `$filter`, `$orderby`, `$top`, `$count`, `$expand`
and checking them against a table. Evaluation of filters lives in `filter_eval`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ODataError, bad_request, not_implemented, property_not_found
from .filter_parser import parse_filter
from .protocol import split_top_level
from .schema import Schema, Table

MAX_EXPANDS = 15
_KNOWN = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken", "$deltatoken",
          "$apply", "$skip", "$search", "$format", "$id", "$levels", "$compute", "$index", "$schemaversion"}


@dataclass
class Expand:
    nav: str
    select: list[str] | None = None
    filter: Any = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)
    top: int | None = None
    expand: list[Expand] = field(default_factory=list)


@dataclass
class QueryOptions:
    select: list[str] | None = None
    filter: Any = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (read name, descending)
    top: int | None = None
    count: bool = False
    expand: list[Expand] = field(default_factory=list)
    skiptoken: str | None = None
    deltatoken: str | None = None
    present: set[str] = field(default_factory=set)


def parse_options(params: dict[str, str]) -> QueryOptions:
    aliases = {k: v for k, v in params.items() if k.startswith("@")}
    options = QueryOptions()
    for name, value in params.items():
        if name in ("fetchXml", "sql", "savedQuery", "userQuery"):
            raise not_implemented(f"The '{name}' query parameter")
        if name.startswith("@") or not name.startswith("$"):
            continue
        if name not in _KNOWN:
            raise bad_request(f"The query parameter {name} is not supported", "0x80060888")
        options.present.add(name)
        if name == "$skip":
            raise bad_request("The query parameter $skip is not supported", "0x80060888")
        if name in ("$search", "$format", "$compute", "$index", "$levels"):
            raise bad_request(f"The query parameter {name} is not supported", "0x80060888")
        if name == "$apply":
            raise not_implemented("The $apply query option (aggregation)")
        if name == "$select":
            options.select = _parse_select(value)
        elif name == "$filter":
            options.filter = parse_filter(value, aliases)
        elif name == "$orderby":
            options.orderby = _parse_orderby(value, aliases)
        elif name == "$top":
            options.top = _parse_top(value)
        elif name == "$count":
            if value not in ("true", "false"):
                raise bad_request(f"'{value}' is not a valid count option.", "0x80060888")
            options.count = value == "true"
        elif name == "$expand":
            options.expand = parse_expand(value)
            if _count_expands(options.expand) > MAX_EXPANDS:
                raise bad_request(f"Number of $expand options exceeded the maximum of {MAX_EXPANDS}.", "0x80060888")
        elif name == "$skiptoken":
            options.skiptoken = value
        elif name == "$deltatoken":
            options.deltatoken = value
    return options


def _parse_select(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise bad_request("The $select query option is empty.", "0x80060888")
    return names


def _parse_top(value: str) -> int:
    try:
        top = int(value)
    except ValueError as exc:
        raise bad_request(f"Invalid value '{value}' for $top query option found.", "0x80060888") from exc
    if top < 0:
        raise bad_request(f"Invalid value '{value}' for $top query option found.", "0x80060888")
    return top


def _parse_orderby(value: str, aliases: dict[str, str]) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in (p.strip() for p in split_top_level(value, ",") if p.strip()):
        words = part.split()
        name = words[0]
        if name.startswith("@"):
            name = aliases.get(name, "").strip()
        direction = words[1].lower() if len(words) > 1 else "asc"
        if direction not in ("asc", "desc") or len(words) > 2 or not name:
            raise bad_request(f"Syntax error in $orderby: '{part}'.", "0x80060888")
        order.append((name, direction == "desc"))
    return order


def parse_expand(value: str) -> list[Expand]:
    items: list[Expand] = []
    for part in split_top_level(value, ","):
        part = part.strip()
        if not part:
            continue
        if "(" in part:
            if not part.endswith(")"):
                raise bad_request(f"Syntax error in $expand: '{part}'.", "0x80060888")
            nav, inner = part[: part.index("(")].strip(), part[part.index("(") + 1: -1]
        else:
            nav, inner = part, ""
        if nav.endswith("/$ref"):
            raise not_implemented("$expand with $ref")
        item = Expand(nav)
        for option in split_top_level(inner, ";"):
            option = option.strip()
            if not option:
                continue
            name, _, text = option.partition("=")
            name = name.strip()
            if name == "$select":
                item.select = _parse_select(text)
            elif name == "$filter":
                item.filter = parse_filter(text)
            elif name == "$orderby":
                item.orderby = _parse_orderby(text, {})
            elif name == "$top":
                item.top = _parse_top(text)
            elif name == "$expand":
                item.expand = parse_expand(text)
            else:
                raise bad_request(f"The query option {name} is not supported inside $expand.", "0x80060888")
        items.append(item)
    return items


def _count_expands(items: list[Expand]) -> int:
    return sum(1 + _count_expands(i.expand) for i in items)


def check_select(table: Table, names: list[str] | None) -> None:
    for name in names or []:
        if table.attribute_by_read_name(name) is None and not table.free_form:
            raise property_not_found(name, table.logical_name)


def check_orderby(table: Table, order: list[tuple[str, bool]]) -> None:
    for name, _ in order:
        if table.attribute_by_read_name(name) is None and not table.free_form:
            raise property_not_found(name, table.logical_name)


def check_expand(schema: Schema, table: Table, items: list[Expand]) -> None:
    for item in items:
        target = expand_target(schema, table, item.nav)
        check_select(target, item.select)
        check_orderby(target, item.orderby)
        if item.nav in table.collections and item.expand:
            kind = table.collections[item.nav].kind
            if kind != "one_to_many":
                raise bad_request("Nested $expand is not supported for many-to-many relationships.", "0x80060888")
        check_expand(schema, target, item.expand)


def expand_target(schema: Schema, table: Table, nav_name: str) -> Table:
    nav = table.navs.get(nav_name)
    if nav is not None:
        if len(nav.targets) != 1:
            # ownerid: the only multi-target navigation property; Dataverse expands it as the owner
            # principal, which the emulator does not model.
            raise not_implemented(f"$expand of the polymorphic navigation property '{nav_name}'")
        return schema.table(nav.targets[0])
    collection = table.collections.get(nav_name)
    if collection is not None:
        return schema.table(collection.target)
    raise property_not_found(nav_name, table.logical_name)


def unsupported_with_tracking(options: QueryOptions) -> None:
    for name in ("$filter", "$orderby", "$expand", "$top"):
        if name in options.present:
            raise ODataError(400, "0x80060888",
                             f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.')
