"""In-memory rows, the global version counter and the change log; nothing about HTTP or OData.

Rows are plain dicts keyed by column logical name (lookups hold a `LookupRef`). The store
hands out and takes copies. `transaction()` gives all-or-nothing groups of writes (change sets,
bulk actions) by keeping an undo log; transactions nest as savepoints.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .values import LookupRef


@dataclass(frozen=True)
class Change:
    version: int
    table: str
    id: str
    deleted: bool


class Store:
    def __init__(self, first_version: int = 1000) -> None:
        self.lock = threading.RLock()
        self._rows: dict[str, dict[str, dict[str, Any]]] = {}
        self._version = first_version
        self._changes: list[Change] = []
        self._undo: list[tuple[str, str, dict[str, Any] | None]] | None = None
        self._undo_changes_mark: list[int] = []
        self.floor_version = first_version

    # -- reading -------------------------------------------------------------------------
    def get(self, table: str, record_id: str) -> dict[str, Any] | None:
        row = self._rows.get(table, {}).get(record_id)
        return dict(row) if row is not None else None

    def exists(self, table: str, record_id: str) -> bool:
        return record_id in self._rows.get(table, {})

    def scan(self, table: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self._rows.get(table, {}).values()]

    def count(self, table: str) -> int:
        return len(self._rows.get(table, {}))

    @property
    def version(self) -> int:
        return self._version

    def changes_since(self, table: str, version: int) -> list[Change]:
        return [c for c in self._changes if c.table == table and c.version > version]

    # -- writing -------------------------------------------------------------------------
    def next_version(self) -> int:
        self._version += 1
        return self._version

    def put(self, table: str, record_id: str, row: dict[str, Any]) -> int:
        """Insert or replace a row; stamps and returns a new `versionnumber`."""
        rows = self._rows.setdefault(table, {})
        self._remember(table, record_id, rows.get(record_id))
        version = self.next_version()
        stored = dict(row)
        stored["versionnumber"] = version
        rows[record_id] = stored
        self._changes.append(Change(version, table, record_id, False))
        return version

    def delete(self, table: str, record_id: str) -> bool:
        rows = self._rows.get(table, {})
        if record_id not in rows:
            return False
        self._remember(table, record_id, rows[record_id])
        del rows[record_id]
        self._changes.append(Change(self.next_version(), table, record_id, True))
        return True

    def clear(self) -> None:
        """Empty state; the version counter keeps counting so old delta tokens stay recognisably old."""
        self._rows = {}
        self._changes = []
        self._version += 1
        self.floor_version = self._version

    @contextmanager
    def transaction(self) -> Iterator[None]:
        outer = self._undo
        if outer is None:
            self._undo = []
        undo = self._undo
        assert undo is not None
        mark = len(undo)
        changes_mark = len(self._changes)
        try:
            yield
        except BaseException:
            self._rollback(undo, mark, changes_mark)
            raise
        finally:
            if outer is None:
                self._undo = None

    def _remember(self, table: str, record_id: str, previous: dict[str, Any] | None) -> None:
        if self._undo is not None:
            self._undo.append((table, record_id, dict(previous) if previous is not None else None))

    def _rollback(self, undo: list[tuple[str, str, dict[str, Any] | None]], mark: int, changes_mark: int) -> None:
        while len(undo) > mark:
            table, record_id, previous = undo.pop()
            rows = self._rows.setdefault(table, {})
            if previous is None:
                rows.pop(record_id, None)
            else:
                rows[record_id] = previous
        del self._changes[changes_mark:]

    # -- persistence ---------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "version": self._version,
            "floorVersion": self.floor_version,
            "rows": {t: {i: _encode_row(r) for i, r in rows.items()} for t, rows in self._rows.items()},
            "changes": [[c.version, c.table, c.id, c.deleted] for c in self._changes],
        }

    def load(self, data: dict[str, Any]) -> None:
        self._version = int(data["version"])
        self.floor_version = int(data.get("floorVersion", 0))
        self._rows = {t: {i: _decode_row(r) for i, r in rows.items()} for t, rows in data["rows"].items()}
        self._changes = [Change(int(v), str(t), str(i), bool(d)) for v, t, i, d in data.get("changes", [])]

    def save_to(self, path: Path, extra: dict[str, Any]) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps({**extra, "store": self.dump()}))
        tmp.replace(path)


def _encode_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: ({"@lookup": [v.table, v.id]} if isinstance(v, LookupRef) else v) for k, v in row.items()}


def _decode_row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict) and "@lookup" in value:
            out[key] = LookupRef(value["@lookup"][0], value["@lookup"][1])
        else:
            out[key] = value
    return out
