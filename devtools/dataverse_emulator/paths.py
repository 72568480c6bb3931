"""Resource paths: `leads(<guid>)/parentcontactid/$ref`, `contacts(emailaddress1='o''brien@x.com')`,
`EntityDefinitions(LogicalName='contact')/Attributes/...`, `WhoAmI()` and friends."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .errors import ODataError, bad_request
from .protocol import split_top_level
from .values import is_guid

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class Segment:
    name: str
    key: str | None = None  # raw text inside the parentheses, None when there are none
    raw: str = ""


def split_path(path: str) -> list[Segment]:
    text = unquote(path).strip("/")
    if not text:
        return []
    return [_segment(part) for part in split_top_level(text, "/")]


def _segment(raw: str) -> Segment:
    if raw.endswith(")") and "(" in raw:
        index = raw.index("(")
        return Segment(raw[:index], raw[index + 1: -1], raw)
    return Segment(raw, None, raw)


def parse_key(text: str) -> str | dict[str, Any]:
    """A primary-key GUID, or the named values of an alternate key."""
    text = text.strip()
    if is_guid(text):
        return text.lower()
    if text.startswith("{") and text.endswith("}") and is_guid(text[1:-1]):
        return text[1:-1].lower()
    values: dict[str, Any] = {}
    for part in (p for p in split_top_level(text, ",") if p.strip()):
        name, sep, literal = part.partition("=")
        if not sep or not name.strip():
            raise bad_request(f"Bad Request - Error in query syntax: the key '{text}' is not valid.", "0x80060888")
        values[name.strip()] = parse_literal(literal.strip())
    if not values:
        raise bad_request("Bad Request - Error in query syntax.", "0x80060888")
    return values


def parse_literal(text: str) -> Any:
    if len(text) >= 2 and text.startswith("'") and text.endswith("'"):
        inner = text[1:-1]
        if re.search(r"(?<!')'(?!')", inner.replace("''", "")):
            raise bad_request(f"There is an unterminated literal in '{text}'.", "0x80060888")
        return inner.replace("''", "'")
    if is_guid(text):
        return text.lower()
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    raise ODataError(400, "0x80060888", f"Unrecognized literal '{text}' in the request URI.")
