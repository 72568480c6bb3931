"""HTTP trigger route templates, matched the way the Functions host matches them.

A template is a path of segments, each a literal (compared case-insensitively) or a whole
parameter: ``{name}``, ``{name?}`` (optional, trailing), ``{name=default}``, ``{*rest}``
(catch-all, last), with constraints after colons: ``{id:guid}``, ``{n:int:min(1)}``,
``{code:regex(^[a-z]{2}$)}``. Segments that mix literals and parameters (``{a}.{b}``) are
not supported and rejected when the template is read.

    >>> RouteTemplate("journey/batches/{batchId:guid}").match("journey/batches/5f0c6a4e-2b8e-4c1e-9d53-0a1b2c3d4e5f")
    {'batchId': '5f0c6a4e-2b8e-4c1e-9d53-0a1b2c3d4e5f'}
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

__all__ = ["RouteError", "RouteTemplate"]

Check = Callable[[str], bool]


class RouteError(ValueError):
    """A route template the local host cannot read."""


def _is_int(bits: int) -> Check:
    bound = 2 ** (bits - 1)

    def check(value: str) -> bool:
        return re.fullmatch(r"-?\d+", value) is not None and -bound <= int(value) < bound

    return check


def _parses(parse: Callable[[str], Any], accept: Callable[[Any], bool] = lambda _: True) -> Check:
    """A check that `parse` reads the value (and that `accept` likes what it read)."""

    def check(value: str) -> bool:
        try:
            return accept(parse(value))
        except ValueError:
            return False

    return check


_is_float = _parses(float, math.isfinite)


_SIMPLE: dict[str, Check] = {
    "int": _is_int(32),
    "long": _is_int(64),
    "bool": lambda value: value.lower() in ("true", "false"),
    "guid": _parses(uuid.UUID),
    "alpha": lambda value: re.fullmatch(r"[A-Za-z]+", value) is not None,
    "decimal": _is_float,
    "double": _is_float,
    "float": _is_float,
    "datetime": _parses(datetime.fromisoformat),
}


def _numbers(name: str, args: str, count: tuple[int, ...]) -> list[int]:
    parts = [part.strip() for part in args.split(",")]
    if len(parts) not in count or not all(re.fullmatch(r"-?\d+", part) for part in parts):
        raise RouteError(f"constraint {name}({args}) needs {' or '.join(map(str, count))} whole number(s)")
    return [int(part) for part in parts]


def _constraint(text: str) -> Check:
    name, paren, args = text.partition("(")
    name = name.strip().lower()
    if not paren:
        if name in _SIMPLE:
            return _SIMPLE[name]
        raise RouteError(f"unknown route constraint {text!r}")
    if not args.endswith(")"):
        raise RouteError(f"unclosed route constraint {text!r}")
    args = args[:-1]
    if name == "regex":
        pattern = re.compile(args)
        return lambda value: pattern.search(value) is not None
    if name in ("min", "max"):
        (bound,) = _numbers(name, args, (1,))
        if name == "min":
            return lambda value: _SIMPLE["long"](value) and int(value) >= bound
        return lambda value: _SIMPLE["long"](value) and int(value) <= bound
    if name == "range":
        low, high = _numbers(name, args, (2,))
        return lambda value: _SIMPLE["long"](value) and low <= int(value) <= high
    if name == "length":
        bounds = _numbers(name, args, (1, 2))
        shortest, longest = bounds[0], bounds[-1]
        return lambda value: shortest <= len(value) <= longest
    if name == "minlength":
        (shortest,) = _numbers(name, args, (1,))
        return lambda value: len(value) >= shortest
    if name == "maxlength":
        (longest,) = _numbers(name, args, (1,))
        return lambda value: len(value) <= longest
    raise RouteError(f"unknown route constraint {text!r}")


def _split_constraints(body: str) -> list[str]:
    """Split ``name:c1:c2(...)`` at colons that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for char in body:
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return parts


@dataclass(frozen=True)
class _Segment:
    literal: str | None = None
    name: str = ""
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    checks: tuple[Check, ...] = field(default=())

    @property
    def rank(self) -> int:
        """Lower is more specific: literal, constrained parameter, parameter, catch-all."""
        if self.literal is not None:
            return 0
        if self.catch_all:
            return 3
        return 1 if self.checks else 2


def _is_one_parameter(text: str) -> bool:
    """True when the segment is `{...}` whose first brace closes at the very end."""
    if not text.startswith("{"):
        return False
    depth = 0
    for index, char in enumerate(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return index == len(text) - 1
    return False


def _parse_segment(text: str, template: str) -> _Segment:
    if not _is_one_parameter(text):
        if "{" in text or "}" in text:
            raise RouteError(f"{template!r}: segment {text!r} mixes text and parameters; use one parameter per segment")
        return _Segment(literal=text)
    name_part, *constraints = _split_constraints(text[1:-1])
    catch_all = name_part.startswith("*")
    name_part = name_part.lstrip("*")
    optional = name_part.endswith("?")
    name_part = name_part.rstrip("?")
    name, eq, default = name_part.partition("=")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteError(f"{template!r}: bad parameter name in {text!r}")
    return _Segment(
        name=name,
        optional=optional or bool(eq) or catch_all,
        catch_all=catch_all,
        default=default if eq else None,
        checks=tuple(_constraint(item) for item in constraints),
    )


class RouteTemplate:
    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        raw = [part for part in self.template.split("/") if part] if self.template else []
        self.segments = [_parse_segment(part, template) for part in raw]
        names = [segment.name for segment in self.segments if segment.literal is None]
        if len(names) != len(set(names)):
            raise RouteError(f"{template!r}: a parameter name appears twice")
        for index, segment in enumerate(self.segments):
            if segment.catch_all and index != len(self.segments) - 1:
                raise RouteError(f"{template!r}: a catch-all parameter must be the last segment")
            if segment.optional and any(not later.optional for later in self.segments[index + 1 :]):
                raise RouteError(f"{template!r}: only trailing parameters can be optional")

    @property
    def specificity(self) -> tuple[int, ...]:
        """Sort key: more specific templates are tried first (literal beats parameter)."""
        return (*(segment.rank for segment in self.segments), 9)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for a URL path (below the route prefix, still percent-encoded), or None."""
        raw = path.strip("/")
        parts = raw.split("/") if raw else []
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.catch_all:
                rest = unquote("/".join(parts[index:]))
                if rest:
                    values[segment.name] = rest
                elif segment.default is not None:
                    values[segment.name] = segment.default
                return values
            if index >= len(parts):
                if not segment.optional:
                    return None
                if segment.default is not None:
                    values[segment.name] = segment.default
                continue
            value = unquote(parts[index])
            if segment.literal is not None:
                if value.casefold() != segment.literal.casefold():
                    return None
                continue
            if not value or not all(check(value) for check in segment.checks):
                return None
            values[segment.name] = value
        if len(parts) > len(self.segments):
            return None
        return values
