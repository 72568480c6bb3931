"""Finding the export's Contacts and Accounts with one bulk look-up (`shared.bulk.BulkLookup`).

Contacts: the resolution rules on the contact identifier sets, as the journey steps look people
up (chunked `In` queries, Active only, newest wins, duplicates counted). Companies: the same
rules on the company identifier sets, except that a set naming `websiteurl` cannot be an `eq`:
the Account's stored website may be `https://www.Example.com/path` for the domain `example.com`.
Such a set is one query per company, `contains(websiteurl, '<domain>')` with the set's other
columns as `eq`, and the rows are kept when their `websiteurl` has the same normalised domain
(`shared.export.mapping.normalise_domain`). Queries go together in `$batch` GETs either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.bulk import BulkLookup, LookupHandle
from shared.dynamics.query import Filter, Query
from shared.export.mapping import normalise_domain
from shared.resolution import ACTIVE, ENTITIES, Criterion, Kind, Match, choose, criteria, matches

__all__ = ["RecordLookup", "register"]

WEBSITE = "websiteurl"
_ACTIVE_ONLY = Filter.eq("statecode", ACTIVE)


@dataclass(frozen=True)
class RecordLookup:
    """One record's look-ups: a handle per usable identifier set, in configured order."""

    kind: Kind
    criteria: tuple[Criterion, ...]
    handles: tuple[LookupHandle, ...]

    def resolve(self, lookup: BulkLookup) -> Match | None:
        found = [(criterion, _kept(criterion, lookup.rows(handle)))
                 for criterion, handle in zip(self.criteria, self.handles, strict=True)]
        return choose(self.kind, found)


def _kept(criterion: Criterion, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows of a website query that really match: the same domain, and the other columns equal."""
    values = dict(criterion.conditions)
    if WEBSITE not in values:
        return list(rows)
    domain = normalise_domain(values[WEBSITE])
    others = Criterion(criterion.kind, tuple((a, v) for a, v in criterion.conditions if a != WEBSITE))
    return [row for row in rows
            if normalise_domain(row.get(WEBSITE)) == domain and (not others.conditions or matches(row, others))]


def register(
    lookup: BulkLookup, kind: Kind, identifier_sets: Sequence[Sequence[str]], values: Mapping[str, Any],
    select: Sequence[str],
) -> RecordLookup:
    """The record's look-ups in `lookup`: one per identifier set it fills (none: no criteria)."""
    if kind == "account" and WEBSITE in values:
        domain = normalise_domain(values[WEBSITE])
        values = {**values, WEBSITE: domain} if domain else {k: v for k, v in values.items() if k != WEBSITE}
    spec = ENTITIES[kind]
    columns = list(dict.fromkeys((spec.key, "modifiedon", "statecode", *select)))
    found = criteria(kind, identifier_sets, values)
    handles = []
    for criterion in found:
        if kind == "account" and WEBSITE in criterion.attributes:
            conditions = [Filter.contains(WEBSITE, str(value)) if attribute == WEBSITE else Filter.eq(attribute, value)
                          for attribute, value in criterion.conditions]
            query = Query(select=columns, filter=Filter.and_(*conditions, _ACTIVE_ONLY))
            handles.append(lookup.query(spec.entity_set, query))
        else:
            handles.append(lookup.person(spec.entity_set, criterion, select=columns, also=_ACTIVE_ONLY))
    return RecordLookup(kind, found, tuple(handles))
