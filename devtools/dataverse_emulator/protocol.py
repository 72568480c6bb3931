"""Transport-neutral request and response objects, so `$batch` parts go through the same handlers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .errors import ODataError

JSON_TYPE = "application/json; odata.metadata=minimal"


class Headers:
    """Case-insensitive, multi-valued HTTP headers."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(k, v) for k, v in items]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = [v for k, v in self._items if k.lower() == name.lower()]
        return ", ".join(values) if values else default

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


@dataclass
class Request:
    method: str
    target: str  # raw path and query, relative to the OData service root
    headers: Headers
    body: bytes
    service_root: str  # absolute, ends with "/"
    user: str = ""
    content_ids: dict[str, str] = field(default_factory=dict)
    in_change_set: bool = False

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query_string(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def query(self) -> dict[str, str]:
        params: dict[str, str] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            params[name] = value
        return params

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ODataError(400, "0x80048d19", f"Error parsing the request body as JSON: {exc}.") from exc

    def prefer(self) -> dict[str, str | None]:
        return parse_prefer(self.headers.get("Prefer") or "")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    entity_url: str | None = None  # the row a create/upsert touched, for batch Content-ID references

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, [("Content-Type", JSON_TYPE), ("OData-Version", "4.0"), *headers], body)


def empty_response(status: int, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, [("OData-Version", "4.0"), *headers], b"")


def error_response(error: ODataError) -> Response:
    payload = {"error": {"code": error.code, "message": error.message}}
    return json_response(error.status, payload, error.headers.items())


def split_top_level(text: str, separator: str) -> list[str]:
    """`text` cut at `separator`s outside quotes ('' or "") and parentheses; parts as written."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    depth = 0
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_prefer(value: str) -> dict[str, str | None]:
    prefs: dict[str, str | None] = {}
    for part in (p.strip() for p in split_top_level(value, ",") if p.strip()):
        if "=" in part:
            name, _, raw = part.partition("=")
            prefs[name.strip().lower()] = raw.strip()
        else:
            prefs[part.strip().lower()] = None
    return prefs
