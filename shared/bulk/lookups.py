"""`BulkLookup`: the look-ups of many steps in as few `$batch` GETs as the limits allow.

A step looks a person up with one query per identifier set: `a eq 'x' and b eq 'y' and
statecode eq 0`. Many such queries that differ only in the person's values become one query
per chunk of values, `Microsoft.Dynamics.CRM.In(PropertyName='a',PropertyValues=[...]) and
statecode eq 0`, whose rows are handed back to each person by comparing every attribute the way
Dataverse does (trimmed, case-insensitive: `shared.resolution.matches`). The `In` goes over the
attribute with the most distinct values, so a set like first name + last name + company reads
as few extra rows as possible. Any other query (a marketing list, the owner candidates) is sent
once however many steps ask for it.

Limits (reference 3.3 and 8.1): a chunk's values fill at most `VALUES_BUDGET` characters,
which keeps its URL far below the 64 KB a GET inside `$batch` may have and its conditions
(850 characters of values per `In`) far below 500; a `$batch` holds at most 1,000 GETs (the
client splits); a chunk whose rows fill more than one page has its further pages read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.dynamics.query import Expand, Filter, Query
from shared.resolution import Criterion, matches

__all__ = ["VALUES_BUDGET", "BulkLookup", "LookupHandle"]

# Characters of JSON-quoted values per `In` query: about 600 e-mail addresses.
VALUES_BUDGET = 16_000


@dataclass(frozen=True)
class LookupHandle:
    """Where one registered look-up's rows will be: a person query or an exact query."""

    index: int


class _Client(Protocol):
    """The part of `DataverseClient` a bulk look-up uses."""

    def query_batch(
        self, queries: Sequence[tuple[str, Query | None]], *, all_pages: bool = False
    ) -> list[list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class _PersonQuery:
    entity_set: str
    criterion: Criterion
    group: tuple[str, tuple[str, ...], str]  # entity set, attributes, the rest of the query


def _foldable(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _fold(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


class BulkLookup:
    """Register look-ups with `person()` and `query()`, `run()` once, then read `rows(handle)`."""

    def __init__(self, *, values_budget: int = VALUES_BUDGET) -> None:
        self._values_budget = values_budget
        self._persons: list[_PersonQuery | None] = []
        self._exact: dict[tuple[str, str], tuple[str, Query | None]] = {}
        self._exact_of: dict[int, tuple[str, str]] = {}
        self._templates: dict[tuple[str, tuple[str, ...], str], tuple[list[str], list[Expand], Filter | None]] = {}
        self._rows: dict[int, list[Mapping[str, Any]]] = {}
        self.queries_sent = 0

    def person(
        self, entity_set: str, criterion: Criterion, *, select: Sequence[str], expand: Sequence[Expand] = (),
        also: Filter | None = None,
    ) -> LookupHandle:
        """Rows of `entity_set` equal to `criterion` (and `also`, the same for every person)."""
        handle = LookupHandle(len(self._persons))
        if not all(_foldable(value) for _, value in criterion.conditions):
            # A boolean or decimal identifier: sent as its own query, as a single step would.
            conditions = [Filter.eq(attribute, value) for attribute, value in criterion.conditions]
            query = Query(select=list(select), filter=Filter.and_(*conditions, *([also] if also else [])),
                          expand=list(expand) or None)
            self._persons.append(None)
            self._exact_of[handle.index] = self._register_exact(entity_set, query)
            return handle
        selected = list(dict.fromkeys((*select, *criterion.attributes)))
        rest = Query(select=selected, filter=also, expand=list(expand) or None).to_query_string()
        group = (entity_set, criterion.attributes, rest)
        self._templates.setdefault(group, (selected, list(expand), also))
        self._persons.append(_PersonQuery(entity_set, criterion, group))
        return handle

    def query(self, entity_set: str, query: Query | None) -> LookupHandle:
        """The rows of this exact query (sent once, however many times it is registered)."""
        handle = LookupHandle(len(self._persons))
        self._persons.append(None)
        self._exact_of[handle.index] = self._register_exact(entity_set, query)
        return handle

    def _register_exact(self, entity_set: str, query: Query | None) -> tuple[str, str]:
        key = (entity_set, query.to_query_string() if query is not None else "")
        self._exact.setdefault(key, (entity_set, query))
        return key

    def run(self, client: _Client) -> None:
        """Send every look-up: one `$batch` round trip per 1,000 queries."""
        batch: list[tuple[str, Query | None]] = []
        chunks: list[tuple[tuple[str, tuple[str, ...], str], str]] = []  # (group, pivot attribute)
        for group, pivot, chunk_query in self._chunk_queries():
            batch.append((group[0], chunk_query))
            chunks.append((group, pivot))
        exact_keys = list(self._exact)
        batch.extend(self._exact[key] for key in exact_keys)
        self.queries_sent = len(batch)
        answers = client.query_batch(batch, all_pages=True) if batch else []
        by_group: dict[tuple[str, tuple[str, ...], str], tuple[str, dict[Any, list[Mapping[str, Any]]]]] = {}
        for (group, pivot), rows in zip(chunks, answers[: len(chunks)], strict=True):
            index = by_group.setdefault(group, (pivot, {}))[1]
            for row in rows:
                index.setdefault(_fold(row.get(pivot)), []).append(row)
        exact_rows = dict(zip(exact_keys, answers[len(chunks) :], strict=True))
        for number, person in enumerate(self._persons):
            if person is None:
                self._rows[number] = list(exact_rows[self._exact_of[number]])
                continue
            pivot, index = by_group[person.group]
            value = dict(person.criterion.conditions)[pivot]
            candidates = index.get(_fold(value), [])
            self._rows[number] = [row for row in candidates if matches(row, person.criterion)]

    def rows(self, handle: LookupHandle) -> list[Mapping[str, Any]]:
        return self._rows[handle.index]

    def _chunk_queries(self) -> list[tuple[tuple[str, tuple[str, ...], str], str, Query]]:
        values_by_group: dict[tuple[str, tuple[str, ...], str], list[Criterion]] = {}
        for person in self._persons:
            if person is not None:
                values_by_group.setdefault(person.group, []).append(person.criterion)
        out: list[tuple[tuple[str, tuple[str, ...], str], str, Query]] = []
        for group, criteria in values_by_group.items():
            attributes = group[1]
            pivot = max(attributes, key=lambda a: (len({_fold(dict(c.conditions)[a]) for c in criteria}),
                                                   -attributes.index(a)))
            distinct: dict[Any, Any] = {}
            for criterion in criteria:
                value = dict(criterion.conditions)[pivot]
                distinct.setdefault(_fold(value), value.strip() if isinstance(value, str) else value)
            select, expand, also = self._templates[group]
            for chunk in _chunks(list(distinct.values()), self._values_budget):
                condition = Filter.in_(pivot, chunk)
                query = Query(select=select, filter=Filter.and_(condition, also) if also else condition,
                              expand=expand or None)
                out.append((group, pivot, query))
        return out


def _chunks(values: list[Any], budget: int) -> list[list[Any]]:
    chunks: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for value in values:
        length = len(json.dumps(str(value), ensure_ascii=False)) + 1
        if current and size + length > budget:
            chunks.append(current)
            current, size = [], 0
        current.append(value)
        size += length
    if current:
        chunks.append(current)
    return chunks
