"""What a step looks up, sent in one `$batch`, and the rows found, back under their names. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.dynamics.query import Expand, Filter, Query
from shared.owner import OwnerCandidates, OwnerDecision, decide_owner
from shared.resolution import ACTIVE, ENTITIES, Criterion, Kind, Match, Scalar, choose, criteria
from shared.steps.config import StepConfig

__all__ = ["ACTIVE_ONLY", "Found", "Lookups", "PersonLookup", "person_lookup"]

# Only an open Lead or an active Contact is the person (resolution rules).
ACTIVE_ONLY = Filter.eq("statecode", ACTIVE)


@dataclass(frozen=True)
class PersonLookup:
    """The queries that find the person as one kind: one per usable identifier set, in order."""

    kind: Kind
    criteria: tuple[Criterion, ...]
    select: tuple[str, ...]
    expand: tuple[Expand, ...] = ()

    @property
    def columns(self) -> list[str]:
        """What each query selects: the key and what ranking and the step's decision read."""
        return list(dict.fromkeys((ENTITIES[self.kind].key, "modifiedon", "statecode", *self.select)))

    def queries(self) -> list[tuple[str, Query]]:
        spec = ENTITIES[self.kind]
        queries = []
        for criterion in self.criteria:
            conditions = [Filter.eq(attribute, value) for attribute, value in criterion.conditions]
            query = Query(
                select=self.columns,
                filter=Filter.and_(*conditions, ACTIVE_ONLY),
                orderby=[("modifiedon", "desc")],
                expand=list(self.expand) or None,
            )
            queries.append((spec.entity_set, query))
        return queries

    def resolve(self, rows_per_query: Sequence[Sequence[Mapping[str, Any]]]) -> Match | None:
        return choose(self.kind, list(zip(self.criteria, rows_per_query, strict=True)))


def person_lookup(
    kind: Kind, config: StepConfig, values: Mapping[str, Scalar], *, select: Sequence[str] = (),
    expand: Sequence[Expand] = (),
) -> PersonLookup:
    return PersonLookup(kind, criteria(kind, config.identifiers(kind), values), tuple(select), tuple(expand))


@dataclass(frozen=True)
class Found:
    """The rows each named group of look-ups returned (one list of rows per query)."""

    groups: Mapping[str, list[list[Mapping[str, Any]]]]

    def rows(self, name: str) -> list[list[Mapping[str, Any]]]:
        return self.groups.get(name, [])

    def flat(self, name: str) -> list[Mapping[str, Any]]:
        return [row for rows in self.rows(name) for row in rows]


@dataclass(frozen=True)
class Lookups:
    """Everything one step looks up, sent together in one `query_batch` round trip.

    `people` are the kinds of record the step may use, in order of preference; `owner` the
    candidates for the owner of a record it creates; `others` further named queries (the list).
    A bulk path can send the same groups in chunks and hand `decide` the same `Found`.
    """

    people: tuple[PersonLookup, ...]
    owner: OwnerCandidates | None = None
    others: Mapping[str, tuple[str, Query]] = field(default_factory=dict)

    def groups(self) -> dict[str, list[tuple[str, Query]]]:
        groups = {name: [query] for name, query in self.others.items()}
        groups.update((person.kind, person.queries()) for person in self.people)
        owner_query = self.owner.query() if self.owner is not None else None
        if owner_query is not None:
            groups["owner"] = [owner_query]
        return groups

    def requests(self) -> list[tuple[str, Query]]:
        return [query for queries in self.groups().values() for query in queries]

    def split(self, results: Sequence[Sequence[Mapping[str, Any]]]) -> Found:
        """The rows of `requests()`, answered in order, back under their group names."""
        groups = self.groups()
        if len(results) != sum(len(queries) for queries in groups.values()):
            raise ValueError("query_batch answered a different number of queries than were sent")
        found: dict[str, list[list[Mapping[str, Any]]]] = {}
        position = 0
        for name, queries in groups.items():
            found[name] = [list(rows) for rows in results[position : position + len(queries)]]
            position += len(queries)
        return Found(found)

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return tuple(person.kind for person in self.people)

    def match(self, kind: Kind, found: Found) -> Match | None:
        """The record that is the person as `kind` (a kind this step looked up)."""
        person = next(person for person in self.people if person.kind == kind)
        return person.resolve(found.rows(kind))

    def first_match(self, found: Found) -> Match | None:
        """The person's record of the first kind, in order of preference, that has one."""
        return next((m for m in (self.match(kind, found) for kind in self.kinds) if m is not None), None)

    def owner_decision(self, found: Found) -> OwnerDecision:
        """The Owner rule for a record this step creates, over the systemusers found."""
        candidates = self.owner if self.owner is not None else OwnerCandidates(None, None, None)
        return decide_owner(candidates, found.flat("owner"))
