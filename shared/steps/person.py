"""Is the person usable by this step under this configuration? Pure checks, listed as 400 errors.

- The identifier rule: the person fills at least one identifier set of each table the step
  looks in (a set is filled when every column of it has a non-blank value, through the person
  field map or `fields`); otherwise one error per missing member of each set.
- `fields` may not name a column the person field map already fills, and a value meant for an
  identifier column (always text) must be text.
- `fields` written to a record fit that table's columns (`field_errors`, against the cached
  column metadata): the column exists, is writable and not a lookup, and the value fits its
  type and MaxLength.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.columns import value_problem, write_problem
from shared.dynamics.metadata import TableColumns
from shared.resolution import ENTITIES, Kind, Scalar, person_attributes
from shared.steps.config import StepConfig
from shared.steps.models import Person

__all__ = ["ErrorItem", "InvalidStepInput", "check_person", "field_errors", "identifier_errors"]

ErrorItem = tuple[tuple[str | int, ...], str]


class InvalidStepInput(Exception):
    """The body is well-formed but the configuration makes part of it unusable (HTTP 400).

    `errors` are `(loc, msg)` pairs in the shape of the problem+json `errors` member.
    """

    def __init__(self, errors: Sequence[ErrorItem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))
        self.errors = list(errors)


def identifier_errors(
    config: StepConfig, kinds: Sequence[Kind], values: Mapping[str, Any],
    loc_of: Mapping[str, tuple[str | int, ...]] | None = None,
) -> list[ErrorItem]:
    """One error per missing member of each identifier set, for every kind whose sets the
    person (`values` by Dynamics column) fills none of. A column's `loc` is its person field
    (`personFields`), `loc_of[column]`, else `("person", "fields", column)`."""
    platform_name = {attribute: name for name, attribute in config.person_fields.items() if attribute}
    needed_by: dict[tuple[str | int, ...], list[str]] = {}
    for kind in dict.fromkeys(kinds):
        sets = config.identifiers(kind)
        if any(all(values.get(column) is not None for column in field_set) for field_set in sets):
            continue
        label = ENTITIES[kind].label
        for field_set in sets:
            for column in field_set:
                if values.get(column) is None:
                    loc: tuple[str | int, ...] = (
                        ("person", platform_name[column]) if column in platform_name
                        else (loc_of or {}).get(column, ("person", "fields", column))
                    )
                    needed_by.setdefault(loc, []).append(f"{label} {'+'.join(field_set)}")
    return [
        (loc, f"is required: the person fills no identifier set of a table it is looked up in "
              f"(sets missing it: {', '.join(dict.fromkeys(needs))})")
        for loc, needs in needed_by.items()
    ]


def check_person(person: Person, config: StepConfig, kinds: Sequence[Kind]) -> dict[str, Scalar]:
    """The person's values by Dynamics attribute, or `InvalidStepInput` listing what is wrong."""
    errors: list[ErrorItem] = []
    mapped = {attribute for attribute in config.person_fields.values() if attribute}
    for name in sorted(mapped & set(person.fields)):
        errors.append((("person", "fields", name), "is filled from the person's own fields; remove it from fields"))
    identifier_columns = {column for kind in kinds for field_set in config.identifiers(kind) for column in field_set}
    for name in sorted(identifier_columns & set(person.fields)):
        value = person.fields[name]
        if value is not None and not isinstance(value, str):
            errors.append((("person", "fields", name), "must be text: identifier columns are text columns"))
    values = person_attributes(person.platform_values(), config.person_fields, person.fields)
    errors.extend(identifier_errors(config, kinds, values))
    if errors:
        raise InvalidStepInput(errors)
    return values


def field_errors(fields: Mapping[str, Any], columns: TableColumns, table_label: str) -> list[ErrorItem]:
    """One error per `fields` entry that the table cannot take as given."""
    errors: list[ErrorItem] = []
    for name, value in fields.items():
        column = columns.get(name)
        problem = write_problem(column, name, table_label)
        if problem is None and column is not None:
            problem = value_problem(column, value)
        if problem is not None:
            errors.append((("person", "fields", name), problem))
    return errors
