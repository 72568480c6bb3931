"""Column metadata of Dataverse tables, read once per table and cached per worker.

`DataverseClient.get_table_columns("contact")` makes one request,
`GET EntityDefinitions(LogicalName='contact')/Attributes`, without `$select`: `MaxLength` lives on
the String and Memo subtypes and `Targets` on the Lookup subtype, so a `$select` on the base
type could not name them, while the untyped collection answers every attribute with its
subtype's properties. The answer is large on a real organisation (hundreds of columns), which
is why it is cached.

`MetadataCache` keeps each table's columns for `lifetime` seconds (default 10 minutes) per
worker process. A column added in Dynamics is therefore seen by the app within 10 minutes, and
the common path (a journey step, a batch, an export) pays nothing once the cache is warm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

__all__ = ["DEFAULT_LIFETIME_SECONDS", "Column", "MetadataCache", "TableColumns", "table_columns_from"]

DEFAULT_LIFETIME_SECONDS = 600.0

TEXT_TYPES = frozenset({"String", "Memo"})
# Columns written through `<nav>@odata.bind`, never as plain values.
REFERENCE_TYPES = frozenset({"Lookup", "Customer", "Owner"})


@dataclass(frozen=True)
class Column:
    """One attribute of a table as the Web API describes it (`AttributeType` names: String, Memo,
    Integer, BigInt, Decimal, Double, Money, Boolean, DateTime, Picklist, State, Status,
    Uniqueidentifier, Lookup, Customer, Owner, Virtual, EntityName, ...)."""

    name: str
    type: str
    max_length: int | None = None
    valid_for_create: bool = True
    valid_for_update: bool = True
    targets: tuple[str, ...] = ()

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def is_reference(self) -> bool:
        return self.type in REFERENCE_TYPES


@dataclass(frozen=True)
class TableColumns:
    """The columns of one table by logical name."""

    table: str
    columns: Mapping[str, Column]

    def get(self, name: str) -> Column | None:
        return self.columns.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.columns


def table_columns_from(table: str, attributes: Iterable[Mapping[str, Any]]) -> TableColumns:
    """The columns of `table` from the `value` of an `.../Attributes` answer."""
    columns: dict[str, Column] = {}
    for item in attributes:
        name = item.get("LogicalName")
        if not isinstance(name, str) or not name:
            continue
        max_length = item.get("MaxLength")
        targets = item.get("Targets")
        columns[name] = Column(
            name=name,
            type=str(item.get("AttributeType") or ""),
            max_length=max_length if isinstance(max_length, int) and not isinstance(max_length, bool) else None,
            valid_for_create=item.get("IsValidForCreate") is not False,
            valid_for_update=item.get("IsValidForUpdate") is not False,
            targets=tuple(str(t) for t in targets) if isinstance(targets, list) else (),
        )
    return TableColumns(table, MappingProxyType(columns))


class ColumnSource(Protocol):
    """What the cache needs of a client (`DataverseClient` or a counted view of it)."""

    def get_table_columns(self, table: str) -> TableColumns: ...


class MetadataCache:
    """Each table's columns for `lifetime` seconds, shared by the threads of one worker.

    The caller passes the client to read with, so a counted view counts the read (a cold cache
    shows up in a step's `dynamicsRequests`). Failures are not cached: the next call asks again.
    """

    def __init__(self, lifetime: float = DEFAULT_LIFETIME_SECONDS, *, clock: Callable[[], float] = time.monotonic) -> None:
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self.lifetime = lifetime
        self._clock = clock
        self._entries: dict[str, tuple[float, TableColumns]] = {}
        self._lock = threading.Lock()

    def columns(self, client: ColumnSource, table: str) -> TableColumns:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(table)
        if entry is not None and now - entry[0] < self.lifetime:
            return entry[1]
        fresh = client.get_table_columns(table)
        with self._lock:
            self._entries[table] = (self._clock(), fresh)
        return fresh

    def tables(self, client: ColumnSource, tables: Iterable[str]) -> dict[str, TableColumns]:
        return {table: self.columns(client, table) for table in dict.fromkeys(tables)}

    def refresh(self, client: ColumnSource, tables: Iterable[str]) -> dict[str, TableColumns]:
        """Read the tables afresh, whatever the cache holds, and keep the answers.

        For checks an operator expects to see the latest columns (a configuration saved just
        after a column was added in Dynamics).
        """
        fresh = {table: client.get_table_columns(table) for table in dict.fromkeys(tables)}
        with self._lock:
            for table, columns in fresh.items():
                self._entries[table] = (self._clock(), columns)
        return fresh

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
