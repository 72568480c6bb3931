"""Settings (local.settings.json and the environment) and host.json, as the Functions host reads them."""

from __future__ import annotations

import json
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def settings_file(root: Path) -> Path | None:
    """``local.settings.json`` when present, else the committed example, else nothing."""
    for name in ("local.settings.json", "local.settings.example.json"):
        path = root / name
        if path.is_file():
            return path
    return None


def apply_settings(root: Path, environ: MutableMapping[str, str]) -> Path | None:
    """Fill `environ` with the settings file's `Values` that the environment does not set."""
    path = settings_file(root)
    if path is None:
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("IsEncrypted"):
        raise SystemExit(f"{path.name} is encrypted; the local host reads plain settings only")
    for name, value in (document.get("Values") or {}).items():
        environ.setdefault(name, "" if value is None else str(value))
    return path


def expand_settings(text: str, environ: MutableMapping[str, str]) -> str:
    """Replace ``%Name%`` with the setting's value, as the host does in binding properties."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise KeyError(f"setting {name!r} (used as %{name}%) is not defined")
        return environ[name]

    return re.sub(r"%([^%]+)%", lookup, text)



def parse_timespan(text: str | int | float) -> float:
    """Seconds in a .NET TimeSpan string: ``hh:mm:ss``, ``d.hh:mm:ss``, ``hh:mm:ss.fff``."""
    if isinstance(text, int | float):
        return float(text)
    match = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a TimeSpan (hh:mm:ss)")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` with the Functions host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"

    @classmethod
    def from_json(cls, section: dict[str, Any]) -> QueueOptions:
        batch_size = int(section.get("batchSize", 16))
        if not 1 <= batch_size <= 32:
            raise ValueError(f"queues.batchSize must be 1-32, not {batch_size}")
        encoding = str(section.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ValueError(f"queues.messageEncoding must be base64 or none, not {encoding!r}")
        options = cls(
            batch_size=batch_size,
            new_batch_threshold=int(section.get("newBatchThreshold", batch_size // 2)),
            max_dequeue_count=int(section.get("maxDequeueCount", 5)),
            visibility_timeout=parse_timespan(section.get("visibilityTimeout", "00:00:00")),
            max_polling_interval=parse_timespan(section.get("maxPollingInterval", "00:01:00")),
            message_encoding=encoding,
        )
        if options.max_dequeue_count < 1:
            raise ValueError("queues.maxDequeueCount must be at least 1")
        return options


@dataclass(frozen=True)
class HostOptions:
    route_prefix: str = "api"
    queues: QueueOptions = field(default_factory=QueueOptions)
    function_timeout: float | None = None
    log_level: str = "Information"

    @classmethod
    def read(cls, root: Path) -> HostOptions:
        path = root / "host.json"
        if not path.is_file():
            raise SystemExit(f"no host.json in {root}: not a function app root")
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != "2.0":
            raise SystemExit('host.json must say "version": "2.0"')
        extensions = document.get("extensions") or {}
        timeout = document.get("functionTimeout")
        return cls(
            route_prefix=str((extensions.get("http") or {}).get("routePrefix", "api")).strip("/"),
            queues=QueueOptions.from_json(extensions.get("queues") or {}),
            function_timeout=parse_timespan(timeout) if timeout and timeout != "-1" else None,
            log_level=str(((document.get("logging") or {}).get("logLevel") or {}).get("default", "Information")),
        )
