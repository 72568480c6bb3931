"""Seed data: a JSON object mapping entity set names to lists of records (see docs/EMULATOR.md)."""

from __future__ import annotations

from typing import Any

from .errors import ODataError
from .schema import Schema
from .store import Store
from .values import new_guid, normalize_guid
from .writes import Writer

RESERVED = ("$entities", "$keys", "$changeTracking")


class SeedError(ValueError):
    pass


def apply_schema(schema: Schema, data: dict[str, Any]) -> None:
    try:
        if "$entities" in data:
            schema.extend(data["$entities"])
        if "$keys" in data:
            schema.add_keys(data["$keys"])
        if "$changeTracking" in data:
            schema.set_change_tracking(data["$changeTracking"])
    except (ValueError, TypeError, KeyError) as exc:
        raise SeedError(str(exc)) from exc


def apply_records(schema: Schema, store: Store, writer: Writer, data: dict[str, Any]) -> dict[str, list[str]]:
    """Creates every record (binds may point anywhere in the same seed); all or nothing."""
    plan: list[tuple[Any, str, dict[str, Any], dict[str, Any]]] = []
    created: dict[str, list[str]] = {}
    for entity_set, records in data.items():
        if entity_set in RESERVED:
            continue
        if not isinstance(records, list):
            raise SeedError(f"{entity_set}: expected a list of records")
        table = schema.by_set(entity_set) or schema.declare_free_form(entity_set)
        created.setdefault(entity_set, [])
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise SeedError(f"{entity_set}[{index}]: expected an object")
            raw_id = record.get(table.primary_key)
            record_id = normalize_guid(raw_id) if isinstance(raw_id, str) else None
            if raw_id is not None and record_id is None:
                raise SeedError(f"{entity_set}[{index}]: {table.primary_key} is not a GUID")
            record_id = record_id or new_guid()
            plain = {k: v for k, v in record.items() if not _is_link(table, k, v) and k != table.primary_key}
            links = {k: v for k, v in record.items() if _is_link(table, k, v)}
            plan.append((table, record_id, plain, links))
            created[entity_set].append(record_id)
    try:
        with store.transaction():
            for table, record_id, plain, _ in plan:
                writer.create(table, plain, record_id=record_id)
            for table, record_id, plain, links in plan:
                if links:
                    keep = {k: plain[k] for k in ("modifiedon",) if k in plain}
                    writer.update(table, record_id, {**links, **keep})
            if any(t.logical_name in ("list", "listmember") for t, _, _, _ in plan):
                for row in store.scan("list"):
                    writer.refresh_member_count(row["listid"])
    except ODataError as exc:
        raise SeedError(f"{exc.code}: {exc.message}") from exc
    return created


def _is_link(table: Any, key: str, value: Any) -> bool:
    return key.endswith("@odata.bind") or (key in table.navs and isinstance(value, dict))
