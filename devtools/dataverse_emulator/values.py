"""Small value types and conversions shared by the store, the writer and the renderer."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class LookupRef:
    """The value of a lookup column: which table and which row it points at."""

    table: str
    id: str


def new_guid() -> str:
    return str(uuid.uuid4())


def is_guid(text: str) -> bool:
    return bool(GUID_RE.match(text))


def normalize_guid(text: str) -> str | None:
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return text.lower() if is_guid(text) else None


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> str:
    return format_timestamp(datetime.now(UTC))


def parse_datetime(text: str) -> datetime | None:
    """ISO 8601 date or date-time; naive values are taken as UTC. None when unreadable."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            parsed_date = date.fromisoformat(value)
        except ValueError:
            return None
        return datetime(parsed_date.year, parsed_date.month, parsed_date.day, tzinfo=UTC)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
