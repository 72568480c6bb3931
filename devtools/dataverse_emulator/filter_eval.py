"""Checking and evaluating a parsed `$filter` against rows of a table.

Dataverse semantics: string comparisons are case-insensitive, comparisons with null are
false except `eq null`/`ne null`, `%`, `_`, `[]` and `[^]` act as SQL wildcards inside
contains/startswith/endswith, lookups compare by GUID.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import ODataError, not_implemented, property_not_found
from .filter_parser import BoolOp, Call, Compare, CrmCall, Lambda, Literal, Not, Prop, count_conditions
from .relations import sql_guid_key
from .schema import Attribute, Schema, Table
from .store import Store
from .values import GUID_RE, LookupRef, parse_datetime

MAX_CONDITIONS = 500
MAX_IN_CHARACTERS = 850  # string values of one In/NotIn, commas between them included
_NUMERIC = ("int", "bigint", "decimal", "money", "double", "picklist", "state", "status")
_UNITS = {"Minutes": timedelta(minutes=1), "Hours": timedelta(hours=1), "Days": timedelta(days=1),
          "Weeks": timedelta(weeks=1), "Months": timedelta(days=30), "Years": timedelta(days=365)}
_PERIOD = re.compile(r"^(Last|Next|OlderThan)X(Minutes|Hours|Days|Weeks|Months|Years)$")


def too_many_conditions() -> ODataError:
    return ODataError(400, "0x8004430C", f"Number of conditions in query exceeded maximum limit of {MAX_CONDITIONS}.")


def like_regex(pattern: str, mode: str) -> re.Pattern[str]:
    """SQL Server `LIKE` as a regex: `%` any run, `_` one character, `[abc]`/`[a-c]` a class,
    `[^abc]` its complement; `[%]`, `[_]`, `[[]` match those characters literally."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        end = pattern.find("]", i + 2) if char == "[" else -1
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        elif end != -1:
            content = pattern[i + 1:end]
            negate = content.startswith("^") and len(content) > 1
            body = content[1:] if negate else content
            # Ranges keep their hyphen; every other character is taken literally.
            escaped = "".join(c if c == "-" and 0 < k < len(body) - 1 else re.escape(c) for k, c in enumerate(body))
            parts.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        else:
            parts.append(re.escape(char))
        i += 1
    core = "".join(parts)
    if mode in ("contains", "endswith"):
        core = ".*" + core
    if mode in ("contains", "startswith"):
        core = core + ".*"
    return re.compile(core, re.IGNORECASE | re.DOTALL)


class FilterEvaluator:
    def __init__(self, schema: Schema, store: Store, user_id: str, now: datetime | None = None) -> None:
        self.schema = schema
        self.store = store
        self.user_id = user_id
        self.now = now or datetime.now(UTC)
        # In/NotIn value sets, normalised once per call node: a query is matched against every
        # row, and an In may hold hundreds of values.
        self._in_sets: dict[tuple[int, str | None], frozenset[Any]] = {}

    # -- checking ------------------------------------------------------------------------
    def check(self, node: Any, table: Table) -> None:
        if count_conditions(node) > MAX_CONDITIONS:
            raise too_many_conditions()
        self._check(node, table, {})

    def _check(self, node: Any, table: Table, scopes: dict[str, Table]) -> None:
        if isinstance(node, BoolOp):
            self._check(node.left, table, scopes)
            self._check(node.right, table, scopes)
        elif isinstance(node, Not):
            self._check(node.operand, table, scopes)
        elif isinstance(node, Compare):
            for side in (node.left, node.right):
                if isinstance(side, Prop):
                    self.resolve(side, table, scopes)
                elif isinstance(side, (Compare, BoolOp, Not, Call, CrmCall, Lambda)):
                    self._check(side, table, scopes)
            self._check_types(node, table, scopes)
        elif isinstance(node, Call):
            if len(node.args) != 2 or not isinstance(node.args[0], Prop) or not isinstance(node.args[1], Literal):
                raise ODataError(400, "0x80060888", f"The '{node.name}' function expects a property and a string.")
            self.resolve(node.args[0], table, scopes)
        elif isinstance(node, CrmCall):
            self._check_crm(node, table)
        elif isinstance(node, Lambda):
            target = self._collection_target(node.nav, table)
            if node.body is not None and node.variable is not None:
                self._check(node.body, table, {**scopes, node.variable: target})
        elif isinstance(node, Prop):
            if (attr := self.resolve(node, table, scopes)) is not None and attr.type != "bool":
                raise ODataError(400, "0x80060888", "The $filter expression must evaluate to a single boolean value.")
        elif isinstance(node, Literal) and node.kind != "bool":
            raise ODataError(400, "0x80060888", "The $filter expression must evaluate to a single boolean value.")

    def _check_types(self, node: Compare, table: Table, scopes: dict[str, Table]) -> None:
        prop, literal = (node.left, node.right) if isinstance(node.left, Prop) else (node.right, node.left)
        if not isinstance(prop, Prop) or not isinstance(literal, Literal) or literal.kind == "null":
            return
        attr = self.resolve(prop, table, scopes)
        if attr is None:
            return
        expected = {"string": ("string",), "memo": ("string",), "guid": ("guid", "string"),
                    "lookup": ("guid", "string"), "bool": ("bool",), "datetime": ("datetime", "date"),
                    "date": ("date", "datetime")}.get(attr.type, ("int", "float") if attr.type in _NUMERIC else None)
        if expected is not None and literal.kind not in expected:
            raise ODataError(
                400, "0x80060888",
                f"A binary operator with incompatible types was detected. Found operand types "
                f"'{_edm(attr)}' and '{_literal_edm(literal)}' for operator kind '{node.op}'.",
            )

    def _check_crm(self, node: CrmCall, table: Table) -> None:
        name_node = node.params.get("PropertyName")
        if not isinstance(name_node, Literal) or not isinstance(name_node.value, str):
            raise ODataError(400, "0x80060888", f"Function '{node.name}' requires a PropertyName parameter.")
        self.resolve(Prop(tuple(name_node.value.split("/"))), table, {})
        if node.name in ("In", "NotIn", "Between", "NotBetween", "ContainValues", "DoesNotContainValues"):
            values = node.params.get("PropertyValues")
            if not isinstance(values, Literal) or values.kind != "list":
                raise ODataError(400, "0x80060888", f"Function '{node.name}' requires a PropertyValues array.")
            strings = [v for v in values.value if isinstance(v, str)]
            if node.name in ("In", "NotIn") and strings and len(",".join(strings)) > MAX_IN_CHARACTERS:
                raise ODataError(400, "0x80040203", f"The string values of 'Microsoft.Dynamics.CRM.{node.name}' "
                                                    f"exceed the limit of {MAX_IN_CHARACTERS} characters.")
        elif not (node.name in ("On", "OnOrAfter", "OnOrBefore", "Today", "Yesterday", "Tomorrow",
                                "EqualUserId", "NotEqualUserId") or _PERIOD.match(node.name)):
            raise not_implemented(f"The filter function 'Microsoft.Dynamics.CRM.{node.name}'")

    def resolve(self, prop: Prop, table: Table, scopes: dict[str, Table]) -> Attribute | None:
        """The attribute a property path ends at (None for free-form columns); raises when unknown."""
        current = scopes[prop.variable] if prop.variable is not None else table
        for i, part in enumerate(prop.path):
            last = i == len(prop.path) - 1
            if last:
                attr = current.attribute_by_read_name(part)
                if attr is None and not current.free_form:
                    raise property_not_found(part, current.logical_name)
                return attr
            nav = current.navs.get(part)
            if nav is None or len(nav.targets) != 1:
                raise property_not_found(part, current.logical_name)
            current = self.schema.table(nav.targets[0])
        return None

    def _collection_target(self, nav: Prop, table: Table) -> Table:
        if nav.variable is not None or len(nav.path) != 1 or nav.path[0] not in table.collections:
            name = nav.path[-1] if nav.path else "?"
            raise property_not_found(name, table.logical_name)
        return self.schema.table(table.collections[nav.path[0]].target)

    # -- evaluating ----------------------------------------------------------------------
    def matches(self, node: Any, table: Table, row: dict[str, Any]) -> bool:
        """True only when the filter is true; SQL's unknown (a comparison with a null) excludes the row."""
        return self._eval(node, table, row, {}) is True

    def _eval(self, node: Any, table: Table, row: dict[str, Any], scopes: dict[str, tuple[Table, dict[str, Any]]]) -> Any:
        if isinstance(node, BoolOp):
            left = self._eval(node.left, table, row, scopes)
            right = self._eval(node.right, table, row, scopes)
            if node.op == "and":
                if left is False or right is False:
                    return False
                return True if left is True and right is True else None
            if left is True or right is True:
                return True
            return False if left is False and right is False else None
        if isinstance(node, Not):
            operand = self._eval(node.operand, table, row, scopes)
            return None if operand is None else not operand
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Prop):
            return self._value(node, table, row, scopes)[0]
        if isinstance(node, Compare):
            return self._compare(node, table, row, scopes)
        if isinstance(node, Call):
            value = self._value(node.args[0], table, row, scopes)[0]
            literal = node.args[1]
            if value is None or not isinstance(literal, Literal) or literal.value is None:
                return None
            return bool(like_regex(str(literal.value), node.name).fullmatch(str(value)))
        if isinstance(node, CrmCall):
            return self._crm(node, table, row)
        if isinstance(node, Lambda):
            return self._lambda(node, table, row, scopes)
        raise ODataError(400, "0x80060888", "Unsupported $filter expression.")

    def _value(self, prop: Prop, table: Table, row: dict[str, Any],
               scopes: dict[str, tuple[Table, dict[str, Any]]]) -> tuple[Any, Attribute | None]:
        current_table, current_row = scopes[prop.variable] if prop.variable is not None else (table, row)
        for i, part in enumerate(prop.path):
            if i == len(prop.path) - 1:
                attr = current_table.attribute_by_read_name(part)
                if attr is None:
                    return current_row.get(part), None
                value = current_row.get(attr.name)
                if isinstance(value, LookupRef):
                    value = value.id
                return value, attr
            nav = current_table.navs[part]
            ref = current_row.get(nav.attribute)
            if not isinstance(ref, LookupRef) or ref.table not in nav.targets:
                return None, None
            related = self.store.get(ref.table, ref.id)
            if related is None:
                return None, None
            current_table, current_row = self.schema.table(ref.table), related
        return None, None

    def _compare(self, node: Compare, table: Table, row: dict[str, Any],
                 scopes: dict[str, tuple[Table, dict[str, Any]]]) -> bool | None:
        attr: Attribute | None = None
        sides: list[Any] = []
        for side in (node.left, node.right):
            if isinstance(side, Prop):
                value, side_attr = self._value(side, table, row, scopes)
                attr = attr or side_attr
                sides.append(value)
            else:
                sides.append(self._eval(side, table, row, scopes))
        null_literal = any(isinstance(side, Literal) and side.kind == "null" for side in (node.left, node.right))
        if not null_literal and (sides[0] is None or sides[1] is None):
            return None  # SQL: a comparison with a null value is unknown, so `ne` does not match nulls
        return compare(node.op, sides[0], sides[1], attr.type if attr else None)

    def _lambda(self, node: Lambda, table: Table, row: dict[str, Any],
                scopes: dict[str, tuple[Table, dict[str, Any]]]) -> bool:
        from .relations import related_rows  # local import: relations depends on this module's users

        nav = table.collections[node.nav.path[0]]
        target = self.schema.table(nav.target)
        related = related_rows(self.schema, self.store, table, row, nav)
        if node.body is None or node.variable is None:
            return bool(related) if node.kind == "any" else True
        results = (bool(self._eval(node.body, table, row, {**scopes, node.variable: (target, r)})) for r in related)
        return any(results) if node.kind == "any" else all(results)

    def _crm(self, node: CrmCall, table: Table, row: dict[str, Any]) -> bool | None:
        name_node = node.params["PropertyName"]
        value, attr = self._value(Prop(tuple(str(name_node.value).split("/"))), table, row, {})
        kind = attr.type if attr else None
        name = node.name
        if value is None and name not in ("EqualUserId", "NotEqualUserId"):
            return None
        if name in ("In", "NotIn"):
            key = (id(node), kind)
            if key not in self._in_sets:
                values = node.params["PropertyValues"].value
                self._in_sets[key] = frozenset(
                    normalized for normalized in (_normalize(c, kind) for c in values) if normalized is not None)
            found = _normalize(value, kind) in self._in_sets[key]
            return found if name == "In" else (value is not None and not found)
        if name in ("Between", "NotBetween"):
            low, high = node.params["PropertyValues"].value[:2]
            inside = compare("ge", value, low, kind) and compare("le", value, high, kind)
            return inside if name == "Between" else (value is not None and not inside)
        if name in ("ContainValues", "DoesNotContainValues"):
            present = {v.strip() for v in str(value or "").split(",") if v.strip()}
            wanted = {str(v) for v in node.params["PropertyValues"].value}
            hit = bool(present & wanted)
            return hit if name == "ContainValues" else not hit
        if name in ("EqualUserId", "NotEqualUserId"):
            same = value is not None and str(value).lower() == self.user_id
            return same if name == "EqualUserId" else not same
        moment = parse_datetime(str(value)) if value is not None else None
        if moment is None:
            return False
        return self._date_function(name, node, moment)

    def _date_function(self, name: str, node: CrmCall, moment: datetime) -> bool:
        today = self.now.date()
        if name in ("Today", "Yesterday", "Tomorrow"):
            offset = {"Today": 0, "Yesterday": -1, "Tomorrow": 1}[name]
            return moment.date() == today + timedelta(days=offset)
        if name in ("On", "OnOrAfter", "OnOrBefore"):
            param = node.params.get("PropertyValue")
            target = parse_datetime(str(param.value)) if isinstance(param, Literal) else None
            if target is None:
                raise ODataError(400, "0x80060888", f"Function '{name}' requires a date PropertyValue.")
            day = moment.date()
            return {"On": day == target.date(), "OnOrAfter": day >= target.date(),
                    "OnOrBefore": day <= target.date()}[name]
        match = _PERIOD.match(name)
        param = node.params.get("PropertyValue")
        if match is None or not isinstance(param, Literal):
            raise ODataError(400, "0x80060888", f"Function '{name}' requires a PropertyValue.")
        span = _UNITS[match.group(2)] * int(param.value)
        if match.group(1) == "Last":
            return self.now - span <= moment <= self.now
        if match.group(1) == "Next":
            return self.now <= moment <= self.now + span
        return moment < self.now - span


def _edm(attr: Attribute) -> str:
    from .schema import EDM_TYPES

    return EDM_TYPES.get(attr.type, "Edm.String")


def _literal_edm(literal: Literal) -> str:
    return {"string": "Edm.String", "guid": "Edm.Guid", "datetime": "Edm.DateTimeOffset", "date": "Edm.Date",
            "int": "Edm.Int32", "float": "Edm.Decimal", "bool": "Edm.Boolean"}.get(literal.kind, "Edm.Untyped")


def _normalize(value: Any, kind: str | None) -> Any:
    if value is None:
        return None
    if kind in ("datetime",) or (kind is None and isinstance(value, str) and _looks_like_datetime(value)):
        parsed = parse_datetime(str(value))
        return parsed if parsed is not None else str(value).casefold()
    if kind == "date":
        parsed = parse_datetime(str(value))
        return parsed.date() if parsed is not None else str(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        if kind in ("guid", "lookup") and GUID_RE.match(value):
            return sql_guid_key(value)  # `gt`/`lt` order GUIDs as SQL Server does, like `$orderby` (keyset paging)
        if kind in _NUMERIC:
            try:
                return float(value)
            except ValueError:
                return value.casefold()
        return value.casefold()
    return value


def _looks_like_datetime(text: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})?", text))


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: bool(a == b), "ne": lambda a, b: bool(a != b), "gt": lambda a, b: bool(a > b),
    "ge": lambda a, b: bool(a >= b), "lt": lambda a, b: bool(a < b), "le": lambda a, b: bool(a <= b),
}


def compare(op: str, left: Any, right: Any, kind: str | None) -> bool:
    a, b = _normalize(left, kind), _normalize(right, kind)
    if a is None or b is None:
        if op == "eq":
            return a is None and b is None
        if op == "ne":
            return not (a is None and b is None)
        return False
    try:
        return _OPS[op](a, b)
    except TypeError:
        return op == "ne"


def key_candidates(node: Any, table: Table) -> set[str] | None:
    """The primary-key values a filter can match at most, when it says so plainly (`In` or `eq`
    on the key, alone or AND-ed, or OR-ed with each other); None when any row might match.

    Only narrows the rows a query evaluates, as Dataverse's index on the key does; the whole
    filter is still evaluated on them, so the answer is the same as without it."""
    if isinstance(node, CrmCall) and node.name == "In":
        name = node.params.get("PropertyName")
        if isinstance(name, Literal) and str(name.value).lower() == table.primary_key:
            return {str(value).lower() for value in node.params["PropertyValues"].value}
        return None
    if isinstance(node, Compare) and node.op == "eq":
        sides = (node.left, node.right)
        for prop, literal in (sides, sides[::-1]):
            if (isinstance(prop, Prop) and prop.variable is None and prop.path == (table.primary_key,)
                    and isinstance(literal, Literal) and literal.value is not None):
                return {str(literal.value).lower()}
        return None
    if isinstance(node, BoolOp):
        left, right = key_candidates(node.left, table), key_candidates(node.right, table)
        if node.op == "or":
            return left | right if left is not None and right is not None else None
        if left is not None and right is not None:
            return left & right
        return left if left is not None else right
    return None
