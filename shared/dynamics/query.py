"""OData query building for the Dataverse Web API: filters, query options, keys and lookups.

Every literal goes through `literal()`, which quotes and escapes strings (`'` becomes `''`) and
writes GUIDs and dates unquoted; every field name goes through `field_name()`, which accepts
identifier characters (and `/` between navigation steps) only. So no value can change the shape
of a query. Query values are percent-encoded when the URL is built (`to_query_string`), so `+`,
`&`, `#` and `%` inside literals survive; the option names (`$filter`, ...) stay literal.

Dataverse's own limits are kept here, before anything is sent: the values of
`contains`/`startswith`/`endswith` are matched with SQL `LIKE`, so `%`, `_` and `[` are
bracketed to match literally; an `In` whose values would pass 850 characters is split into
several `In` conditions joined by `or`; a query with more than 500 conditions (each `$expand`
counts as a join) is refused with `ValueError`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from .tables import GUID_COLUMNS

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_IDENTIFIER = re.compile(rf"^{_IDENT}$")
_PATH = re.compile(rf"^{_IDENT}(/{_IDENT})*$")
_QUALIFIED = re.compile(rf"^{_IDENT}(\.{_IDENT})*$")
_GUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(rf"^{_GUID_TEXT}$")
_GUID_IN_PARENS = re.compile(rf"\(({_GUID_TEXT})\)\s*$")
_CONTENT_REF = re.compile(r"^\$[0-9]+$")
# SQL LIKE wildcards inside contains/startswith/endswith values (reference 3.3).
_LIKE_WILDCARD = re.compile(r"[%_\[]")

# Dataverse refuses a query with more conditions (joins included), and an `In` with longer string values.
MAX_CONDITIONS = 500
MAX_IN_CHARACTERS = 850

# Characters left readable in query values; everything else that is not unreserved is encoded.
_SAFE_IN_QUERY = "$(),'/:"

Literal = str | int | float | bool | Decimal | uuid.UUID | dt.datetime | dt.date | None


def field_name(name: str) -> str:
    """`name` if it is a column or navigation path (`parentcontactid/emailaddress1`), else ValueError."""
    if not isinstance(name, str) or not _PATH.match(name):
        raise ValueError(f"not a valid field name: {name!r}")
    return name


def identifier(name: str) -> str:
    """`name` if it is a plain identifier (entity set, navigation property), else ValueError."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid identifier: {name!r}")
    return name


def qualified_name(name: str) -> str:
    """An action/function name, optionally namespace-qualified (`Microsoft.Dynamics.CRM.X`)."""
    if not isinstance(name, str) or not _QUALIFIED.match(name):
        raise ValueError(f"not a valid operation name: {name!r}")
    return name


def is_guid(value: object) -> bool:
    return isinstance(value, uuid.UUID) or (isinstance(value, str) and bool(_GUID.match(value)))


def guid(value: str | uuid.UUID) -> str:
    """The canonical lowercase form of a GUID, or ValueError."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not _GUID.match(value):
        raise ValueError(f"not a GUID: {value!r}")
    return value.lower()


def quote_string(value: str) -> str:
    """An OData string literal: single quotes around, a single quote inside written twice."""
    return "'" + value.replace("'", "''") + "'"


def like_literal(value: str) -> str:
    """A string-function value that matches `value` literally: `%`, `_`, `[` become `[%]`, `[_]`, `[[]`."""
    if not isinstance(value, str):
        raise TypeError("string functions take a string value")
    return quote_string(_LIKE_WILDCARD.sub(lambda match: f"[{match.group(0)}]", value))


def id_from_entity_url(value: str | None) -> str | None:
    """The lowercase GUID at the end of an entity URL (`.../leads(<guid>)`), None when there is none."""
    match = _GUID_IN_PARENS.search(value or "")
    return match.group(1).lower() if match else None


def literal(value: Literal) -> str:
    """The OData literal for a Python value.

    Strings are quoted; `uuid.UUID` values unquoted; aware datetimes as UTC ISO 8601 with `Z`
    (naive ones are refused: the zone would be a guess); dates as `YYYY-MM-DD`; booleans and
    None as `true`/`false`/`null`.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a filter literal must be a finite number")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a filter literal must be a finite number")
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return quote_string(value)
    raise TypeError(f"no OData literal for {type(value).__name__}")


def format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime literals must be timezone-aware")
    utc = value.astimezone(dt.UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _comparison_literal(name: str, value: Literal) -> str:
    # A GUID given as a string is written unquoted only where the column is surely a GUID: a
    # lookup (`_parentcontactid_value`) or a known primary key (`leadid`). A custom text column
    # that happens to end in `id` keeps its string (pass `uuid.UUID` for other GUID columns).
    last = name.rsplit("/", 1)[-1]
    is_lookup = last.startswith("_") and last.endswith("_value")
    if isinstance(value, str) and _GUID.match(value) and (is_lookup or last in GUID_COLUMNS):
        return value.lower()
    return literal(value)


class Filter:
    """An immutable `$filter` expression. Combine with `&`, `|`, `~` (or `and_`, `or_`, `not_`).

    `conditions` counts its conditions the way Dataverse's 500-condition limit does.
    """

    __slots__ = ("_conditions", "_text")

    def __init__(self, text: str, conditions: int = 1) -> None:
        # Only the factory methods below build texts; callers never pass raw OData.
        self._text = text
        self._conditions = conditions

    @property
    def conditions(self) -> int:
        return self._conditions

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Filter({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __and__(self, other: Filter) -> Filter:
        return Filter.and_(self, other)

    def __or__(self, other: Filter) -> Filter:
        return Filter.or_(self, other)

    def __invert__(self) -> Filter:
        return Filter.not_(self)

    # Comparisons.
    @staticmethod
    def _compare(op: str, name: str, value: Literal) -> Filter:
        name = field_name(name)
        return Filter(f"{name} {op} {_comparison_literal(name, value)}")

    @staticmethod
    def eq(name: str, value: Literal) -> Filter:
        return Filter._compare("eq", name, value)

    @staticmethod
    def ne(name: str, value: Literal) -> Filter:
        return Filter._compare("ne", name, value)

    @staticmethod
    def lt(name: str, value: Literal) -> Filter:
        return Filter._compare("lt", name, value)

    @staticmethod
    def le(name: str, value: Literal) -> Filter:
        return Filter._compare("le", name, value)

    @staticmethod
    def gt(name: str, value: Literal) -> Filter:
        return Filter._compare("gt", name, value)

    @staticmethod
    def ge(name: str, value: Literal) -> Filter:
        return Filter._compare("ge", name, value)

    @staticmethod
    def is_null(name: str) -> Filter:
        return Filter(f"{field_name(name)} eq null")

    @staticmethod
    def not_null(name: str) -> Filter:
        return Filter(f"{field_name(name)} ne null")

    # String functions (Dataverse documents only these three); the value matches literally.
    @staticmethod
    def contains(name: str, value: str) -> Filter:
        return Filter(f"contains({field_name(name)},{like_literal(value)})")

    @staticmethod
    def startswith(name: str, value: str) -> Filter:
        return Filter(f"startswith({field_name(name)},{like_literal(value)})")

    @staticmethod
    def endswith(name: str, value: str) -> Filter:
        return Filter(f"endswith({field_name(name)},{like_literal(value)})")

    @staticmethod
    def in_(name: str, values: Iterable[Any]) -> Filter:
        """`Microsoft.Dynamics.CRM.In`, values written as double-quoted JSON strings.

        Values longer than Dataverse's 850 characters in all are spread over several `In`
        conditions joined by `or` (each counts towards the 500-condition limit).
        """
        items = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
        if not items:
            raise ValueError("In needs at least one value")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, str | int | Decimal):
                raise TypeError(f"In values must be strings or integers, not {type(item).__name__}")
        prefix = f"Microsoft.Dynamics.CRM.In(PropertyName={quote_string(identifier(name))},PropertyValues="
        arrays = _value_arrays([json.dumps(str(item), ensure_ascii=False) for item in items])
        return Filter.or_(*(Filter(f"{prefix}{array})") for array in arrays))

    # Logic.
    @staticmethod
    def and_(*filters: Filter) -> Filter:
        return Filter._join("and", filters)

    @staticmethod
    def or_(*filters: Filter) -> Filter:
        return Filter._join("or", filters)

    @staticmethod
    def not_(inner: Filter) -> Filter:
        _check_filter(inner)
        return Filter(f"not ({inner._text})", inner._conditions)

    @staticmethod
    def _join(op: str, filters: Sequence[Filter]) -> Filter:
        if not filters:
            raise ValueError(f"{op} needs at least one filter")
        for item in filters:
            _check_filter(item)
        if len(filters) == 1:
            return filters[0]
        text = f" {op} ".join(f"({item._text})" for item in filters)
        return Filter(text, sum(item._conditions for item in filters))


def _check_filter(value: object) -> None:
    if not isinstance(value, Filter):
        raise TypeError(f"expected a Filter, got {type(value).__name__}")


def _value_arrays(encoded: list[str]) -> list[str]:
    """`[...]` arrays of the encoded values, each at most `MAX_IN_CHARACTERS` long."""
    arrays: list[list[str]] = []
    current: list[str] = []
    size = 0
    for value in encoded:
        if len(value) + 2 > MAX_IN_CHARACTERS:
            raise ValueError(f"an In value is longer than Dataverse's {MAX_IN_CHARACTERS}-character limit")
        # Brackets, the values and a comma between each two.
        if current and 2 + size + len(value) + len(current) > MAX_IN_CHARACTERS:
            arrays.append(current)
            current, size = [], 0
        current.append(value)
        size += len(value)
    arrays.append(current)
    return ["[" + ",".join(values) + "]" for values in arrays]


OrderBy = str | tuple[str, str]


def _order_clause(item: OrderBy) -> str:
    if isinstance(item, str):
        return field_name(item)
    name, direction = item
    direction = direction.lower()
    if direction not in ("asc", "desc"):
        raise ValueError(f"order direction must be asc or desc, not {direction!r}")
    return f"{field_name(name)} {direction}"


def _check_top(top: int | None) -> None:
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ValueError("top must be a positive integer")


@dataclass(frozen=True)
class Expand:
    """One `$expand` item: a navigation property with its own select/filter/orderby/top/expand."""

    navigation: str
    select: Sequence[str] | None = None
    filter: Filter | None = None
    orderby: Sequence[OrderBy] | None = None
    top: int | None = None
    expand: Sequence[Expand] | None = None

    def __post_init__(self) -> None:
        identifier(self.navigation)
        _check_top(self.top)
        if self.filter is not None:
            _check_filter(self.filter)

    @property
    def conditions(self) -> int:
        """The join itself, its filter's conditions and those of nested expands."""
        own = self.filter.conditions if self.filter is not None else 0
        return 1 + own + sum(item.conditions for item in self.expand or ())

    def render(self) -> str:
        options: list[str] = []
        if self.select:
            options.append("$select=" + ",".join(field_name(n) for n in self.select))
        if self.filter is not None:
            options.append(f"$filter={self.filter}")
        if self.orderby:
            options.append("$orderby=" + ",".join(_order_clause(o) for o in self.orderby))
        if self.top is not None:
            options.append(f"$top={self.top}")
        if self.expand:
            options.append("$expand=" + ",".join(e.render() for e in self.expand))
        return f"{self.navigation}({';'.join(options)})" if options else self.navigation


@dataclass(frozen=True)
class Query:
    """Query options for a collection read: `$select`, `$filter`, `$orderby`, `$top`, `$count`, `$expand`.

    `orderby` items are a field name (ascending) or `(field, "asc" | "desc")`.
    """

    select: Sequence[str] | None = None
    filter: Filter | None = None
    orderby: Sequence[OrderBy] | None = None
    top: int | None = None
    count: bool = False
    expand: Sequence[Expand] | None = None
    _params: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        params: list[tuple[str, str]] = []
        if isinstance(self.select, str):
            raise TypeError("select is a list of field names")
        if self.select:
            params.append(("$select", ",".join(field_name(n) for n in self.select)))
        if self.filter is not None:
            _check_filter(self.filter)
            params.append(("$filter", str(self.filter)))
        if self.orderby:
            params.append(("$orderby", ",".join(_order_clause(o) for o in self.orderby)))
        _check_top(self.top)
        if self.top is not None:
            params.append(("$top", str(self.top)))
        if self.count:
            params.append(("$count", "true"))
        if self.expand:
            params.append(("$expand", ",".join(e.render() for e in self.expand)))
        conditions = (self.filter.conditions if self.filter is not None else 0) + sum(
            item.conditions for item in self.expand or ())
        if conditions > MAX_CONDITIONS:
            raise ValueError(
                f"the query has {conditions} conditions and joins; Dataverse allows {MAX_CONDITIONS} "
                "(collapse or-chains with Filter.in_, or split the query)")
        object.__setattr__(self, "_params", tuple(params))

    def params(self) -> list[tuple[str, str]]:
        """The query options as (name, unencoded value) pairs, in a fixed order."""
        return list(self._params)

    def to_query_string(self) -> str:
        """`$select=...&$filter=...` with every value percent-encoded and the names literal."""
        return encode_params(self._params)


def encode_params(params: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{name}={quote(value, safe=_SAFE_IN_QUERY)}" for name, value in params)


def key_segment(key: str | uuid.UUID | Mapping[str, Literal]) -> str:
    """The `(...)` part addressing one row: a GUID, or alternate key columns `(a='x',b=2)`."""
    if isinstance(key, Mapping):
        if not key:
            raise ValueError("an alternate key needs at least one column")
        parts = [f"{identifier(name)}={literal(value)}" for name, value in key.items()]
        return "(" + ",".join(parts) + ")"
    return f"({guid(key)})"


def entity_path(entity_set: str, key: str | uuid.UUID | Mapping[str, Literal] | None = None) -> str:
    """`leads` or `leads(<guid>)` / `leads(emailaddress1='a@x.com')`, percent-encoded for a URL path."""
    path = identifier(entity_set)
    if key is None:
        return path
    return path + quote(key_segment(key), safe="(),'=:@")


def bind(entity_set: str, record_id: str | uuid.UUID) -> str:
    """The value of a `<navigation>@odata.bind` property: `/contacts(<guid>)`; `$n` inside a batch."""
    if isinstance(record_id, str) and _CONTENT_REF.match(record_id):
        return record_id
    return f"/{identifier(entity_set)}({guid(record_id)})"
