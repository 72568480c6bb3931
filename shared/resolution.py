"""Who is this person in Dynamics? The resolution rules, as pure functions (no I/O).

The resolution rules (docs/STEPS.md):

- a Lead matches when it is Open (`statecode` 0), a Contact when it is Active (`statecode` 0);
- identifiers are ordered lists of field sets; the first set the person has values for, *and*
  that finds a record, wins;
- several matches: the most recently modified wins (tie: the lowest lowercase id), and the
  other matches are counted as `duplicates`;
- e-mail addresses are trimmed and compared case-insensitively (Dataverse compares strings
  case-insensitively on its side; `matches` below is the same rule in Python).

The rules are cut in three so that the single-step path and a bulk path share them:
`criteria()` says what to look for (one `Criterion` per usable identifier set), the caller
finds the rows however it likes (one `$batch`, chunked `In` queries, a test table), and
`choose()` picks the winner from what was found. Nothing here builds OData: the query builder
in `shared.dynamics` owns literals and escaping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "ACTIVE",
    "ENTITIES",
    "Criterion",
    "EntitySpec",
    "Kind",
    "Match",
    "choose",
    "criteria",
    "identifier_attributes",
    "matches",
    "person_attributes",
    "rank",
]

Kind = Literal["lead", "contact"]
Scalar = str | int | float | bool

# Open Lead / Active Contact: both are statecode 0.
ACTIVE = 0


@dataclass(frozen=True)
class EntitySpec:
    """The Dataverse names of one kind of person record."""

    kind: Kind
    entity_set: str
    key: str
    label: str  # how a marketer calls it
    state: str  # the state that matches (statecode 0), in a marketer's words


ENTITIES: Mapping[Kind, EntitySpec] = {
    "lead": EntitySpec("lead", "leads", "leadid", "Lead", "open"),
    "contact": EntitySpec("contact", "contacts", "contactid", "Contact", "active"),
}


@dataclass(frozen=True)
class Criterion:
    """One identifier set filled with the person's values: `attribute eq value and ...`."""

    kind: Kind
    conditions: tuple[tuple[str, Scalar], ...]

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.conditions)


@dataclass(frozen=True)
class Match:
    """The record that represents the person, and how it was found."""

    kind: Kind
    record: Mapping[str, Any]
    record_id: str
    criterion: Criterion
    # Every matching row for the winning criterion, the winner first.
    candidates: tuple[Mapping[str, Any], ...]

    @property
    def duplicates(self) -> int:
        return len(self.candidates) - 1

    def candidate(self, record_id: str) -> Mapping[str, Any] | None:
        """The matching row with this id (any case), if it is one of the candidates."""
        key = ENTITIES[self.kind].key
        return next((row for row in self.candidates if str(row[key]).lower() == record_id.lower()), None)


def _clean(value: Any) -> Scalar | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool | int | float):
        return value
    return None


def person_attributes(
    platform_values: Mapping[str, Any],
    person_fields: Mapping[str, str],
    extra_fields: Mapping[str, Any] | None = None,
) -> dict[str, Scalar]:
    """The person's values keyed by Dynamics attribute.

    `platform_values` are the person's standard fields by platform name (`email`, `firstName`),
    mapped through the configured `person_fields`; `extra_fields` (the person's `fields`) are
    already keyed by attribute. Blank values are left out: a blank is "unknown", never "empty".
    """
    values: dict[str, Scalar] = {}
    for name, attribute in person_fields.items():
        value = _clean(platform_values.get(name))
        if attribute and value is not None:
            values[attribute] = value
    for attribute, raw in (extra_fields or {}).items():
        value = _clean(raw)
        if value is not None and attribute not in values:
            values[attribute] = value
    return values


def identifier_attributes(identifier_sets: Iterable[Sequence[str]]) -> set[str]:
    """Every attribute any identifier set compares."""
    return {attribute for field_set in identifier_sets for attribute in field_set}


def criteria(
    kind: Kind, identifier_sets: Sequence[Sequence[str]], values: Mapping[str, Scalar]
) -> tuple[Criterion, ...]:
    """The identifier sets the person has values for, in configured order, as criteria."""
    found: list[Criterion] = []
    for field_set in identifier_sets:
        if not field_set or any(values.get(attribute) is None for attribute in field_set):
            continue
        criterion = Criterion(kind, tuple((attribute, values[attribute]) for attribute in field_set))
        if criterion not in found:
            found.append(criterion)
    return tuple(found)


def _fold(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    return value


def matches(record: Mapping[str, Any], criterion: Criterion) -> bool:
    """Would Dataverse return `record` for `criterion`? Active, and equal on every attribute."""
    if record.get("statecode", ACTIVE) != ACTIVE:
        return False
    return all(
        record.get(attribute) is not None and _fold(record.get(attribute)) == _fold(value)
        for attribute, value in criterion.conditions
    )


_OLDEST = datetime.min.replace(tzinfo=UTC)


def _modified(row: Mapping[str, Any]) -> datetime:
    value = row.get("modifiedon")
    if not isinstance(value, str):
        return _OLDEST
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _OLDEST
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rank(kind: Kind, rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Active rows, one per id, most recently modified first; ties by lowest lowercase id."""
    key = ENTITIES[kind].key
    unique: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        if row.get("statecode", ACTIVE) != ACTIVE or not row.get(key):
            continue
        unique.setdefault(str(row[key]).lower(), row)
    ordered = sorted(unique.items(), key=lambda item: item[0])
    ordered.sort(key=lambda item: _modified(item[1]), reverse=True)
    return [row for _, row in ordered]


def choose(
    kind: Kind,
    found: Sequence[tuple[Criterion, Sequence[Mapping[str, Any]]]],
) -> Match | None:
    """The winning record: the first criterion (in order) that found an active row.

    `found` pairs each criterion of `criteria()` with the rows looked up for it.
    """
    key = ENTITIES[kind].key
    for criterion, rows in found:
        ranked = rank(kind, rows)
        if ranked:
            winner = ranked[0]
            return Match(kind, winner, str(winner[key]).lower(), criterion, tuple(ranked))
    return None
