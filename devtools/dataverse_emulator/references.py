"""Turning an `@odata.bind` / `@odata.id` value or an alternate key into a stored row."""

from __future__ import annotations

import re
from typing import Any

from .errors import ODataError, bad_request, record_not_found, segment_not_found
from .paths import parse_key, split_path
from .schema import Schema, Table
from .store import Store
from .values import LookupRef

_ROOT = re.compile(r"^(?:[a-z]+://[^/]+)?/?api/data/v9\.\d/", re.IGNORECASE)
_CONTENT_ID = re.compile(r"^\$([A-Za-z0-9_.-]+)(/.*)?$")


def invalid_key(table: Table) -> ODataError:
    return bad_request(
        f"The key in the request URI is not valid for resource '{table.entity_type}'. Ensure that the names "
        f"and number of key properties match the declared key for the resource '{table.entity_type}'.",
        "0x80060888",
    )


def strip_service_root(url: str, content_ids: dict[str, str]) -> str:
    """`https://host/api/data/v9.2/contacts(1)`, `/contacts(1)` or `$1` -> `contacts(1)`."""
    text = url.strip()
    match = _CONTENT_ID.match(text)
    if match:
        if match.group(1) not in content_ids:
            raise bad_request(f"Content-ID Reference: '${match.group(1)}' does not exist in the batch context.",
                              "0x80060888")
        text = content_ids[match.group(1)] + (match.group(2) or "")
    root = _ROOT.match(text)
    if root:
        return text[root.end():]
    return text.lstrip("/")


def key_values_match(row: dict[str, Any], table: Table, values: dict[str, Any]) -> bool:
    for name, wanted in values.items():
        attr = table.attribute_by_read_name(name)
        stored = row.get(attr.name if attr else name)
        if isinstance(stored, LookupRef):
            stored = stored.id
        if isinstance(stored, str) and isinstance(wanted, str):
            if stored.casefold() != wanted.casefold():
                return False
        elif stored != wanted:
            return False
    return True


def find_by_key(store: Store, table: Table, key: str | dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Row id for a primary or alternate key (None when no row matches) and the key's named values."""
    if isinstance(key, str):
        return (key if store.exists(table.logical_name, key) else None), {}
    if set(key) == {table.primary_key}:
        if table.logical_name in ("systemuser", "team"):
            raise invalid_key(table)
        value = key[table.primary_key]
        if not isinstance(value, str):
            raise invalid_key(table)
        return (value if store.exists(table.logical_name, value) else None), {}
    if not any(set(declared) == set(key) for declared in table.keys):
        raise invalid_key(table)
    for row in store.scan(table.logical_name):
        if key_values_match(row, table, key):
            return row[table.primary_key], key
    return None, key


def resolve_reference(schema: Schema, store: Store, url: str, content_ids: dict[str, str]) -> tuple[Table, str]:
    """The table and id an entity reference points at; the row must exist."""
    relative = strip_service_root(url, content_ids)
    segments = split_path(relative)
    if len(segments) != 1 or segments[0].key is None:
        raise bad_request(f"The entity reference '{url}' is not valid.", "0x80048d19")
    segment = segments[0]
    table = schema.by_set(segment.name)
    if table is None:
        raise segment_not_found(segment.name)
    key = parse_key(segment.key or "")
    record_id, _ = find_by_key(store, table, key)
    if record_id is None:
        raise missing_record(table, key)
    return table, record_id


def missing_record(table: Table, key: str | dict[str, Any]) -> ODataError:
    if isinstance(key, str):
        return record_not_found(table.logical_name, key)
    if set(key) == {table.primary_key}:
        return record_not_found(table.logical_name, str(key[table.primary_key]))
    return ODataError(404, "0x80040217",
                      f"A record with the specified key values does not exist in {table.logical_name} entity")
