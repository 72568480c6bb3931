"""`platform-updates` messages (one record each): pure construction, no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_MESSAGE_BYTES = 64 * 1024


def message_id(entity: str, dynamics_id: str, kind: str, reason: str, version: int | None) -> str:
    text = f"{entity}|{dynamics_id}|{kind}|{reason}|{'' if version is None else version}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def platform_fields(row: Mapping[str, Any], pulled: Mapping[str, str]) -> dict[str, Any]:
    """Dynamics' current values by platform name, custom ones under `platformFields`, nulls kept."""
    fields: dict[str, Any] = {}
    for name, column in pulled.items():
        value = row.get(column)
        if name.startswith("platformFields."):
            fields.setdefault("platformFields", {})[name.removeprefix("platformFields.")] = value
        else:
            fields[name] = value
    return fields


def message(*, run_id: str, sent_at: str, kind: str, reason: str, entity: str, dynamics_id: str,
            platform_contact_id: str | None, version: int | None, fields: dict[str, Any] | None = None,
            add_tags: list[str] | None = None, remove_tags: list[str] | None = None,
            survivor: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"messageId": message_id(entity, dynamics_id, kind, reason, version), "runId": run_id,
            "sentAt": sent_at, "kind": kind, "reason": reason, "entity": entity, "dynamicsId": dynamics_id,
            "platformContactId": platform_contact_id, "version": version, "fields": fields or {},
            "addTags": add_tags or [], "removeTags": remove_tags or [], "survivor": survivor}


def encode(body: Mapping[str, Any]) -> str | None:
    """The message text, or None when it would pass the queue's 64 KiB (base64 counted)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    encoded_size = (len(text.encode("utf-8")) + 2) // 3 * 4
    return text if encoded_size <= MAX_MESSAGE_BYTES else None
