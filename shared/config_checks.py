"""Checks of the configuration document beyond its schema. Pure: the caller brings the metadata.

Two stages, as `PUT /api/config` runs them:

1. `repeat_errors(config)`: needs no Dynamics. One writer per column: per table, a column the
   export writes appears once, counting in this order the export's own columns (Contact:
   `parentcustomerid`, `ownerid`; Account: `name`, `websiteurl`, `ownerid`), the person field
   targets (Contact; `company` is never written to a Contact), `fixedFields` keys,
   `exportFields` items, `engagementFields` keys and the non-null `campaignMapping` values
   (Contact). Each repeat is one error at the later place, naming both. The person field
   targets must also differ among themselves, `company` included: a Lead receives all of them.
2. `metadata_errors(config, tables)`: every column named, against the columns of `lead`,
   `contact` and `account` (`shared.dynamics.metadata`): identifiers and person fields are
   String columns; campaign fields String or Memo columns of Contact; fixed, export and
   engagement fields writable on create and update and not lookups, with values that fit the
   column's type and MaxLength.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from shared.columns import value_problem, write_problem
from shared.config import Configuration
from shared.dynamics.metadata import Column, TableColumns

__all__ = ["METADATA_TABLES", "ErrorItem", "metadata_errors", "repeat_errors"]

ErrorItem = tuple[tuple[str | int, ...], str]
Loc = tuple[str | int, ...]

METADATA_TABLES = ("lead", "contact", "account")
EXPORT_TABLES = ("contact", "account")
# Columns the export itself writes on each table (CampaignExport's matching and links).
EXPORT_OWN: Mapping[str, tuple[str, ...]] = {"contact": ("parentcustomerid", "ownerid"),
                                            "account": ("name", "websiteurl", "ownerid")}
_LABELS = {"lead": "Lead", "contact": "Contact", "account": "Account"}


def _dump(config: Configuration) -> dict[str, Any]:
    return config.model_dump(mode="json", by_alias=True)


def _overlay(defaults: dict[str, Any], given: Any) -> None:
    """Members of `given` that name a column (or null) replace the defaults: missing ones stay."""
    if isinstance(given, Mapping):
        for name in defaults:
            if name in given and (given[name] is None or isinstance(given[name], str)):
                defaults[name] = given[name]


def _writer_view(data: Any) -> dict[str, Any]:
    """The parts of a document the one-writer rule reads, from JSON the schema refused.

    Missing members take their defaults, as they would in a valid document; members of the
    wrong shape are left out (the schema errors already name them).
    """
    view = _dump(Configuration())
    if not isinstance(data, Mapping):
        return view
    _overlay(view["personFields"], data.get("personFields"))
    _overlay(view["campaignMapping"], data.get("campaignMapping"))
    mapping = data.get("exportMapping")
    if isinstance(mapping, Mapping):
        for section in ("fixedFields", "exportFields", "engagementFields"):
            given = mapping.get(section)
            if not isinstance(given, Mapping):
                continue
            for table in EXPORT_TABLES:
                columns = given.get(table)
                if isinstance(columns, Mapping if section != "exportFields" else list):
                    view["exportMapping"][section][table] = columns
    return view


def _place(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)


def _export_writers(doc: Mapping[str, Any], table: str) -> Iterator[tuple[Loc | None, str]]:
    """(place, column) of every column the export writes on `table`, in the rule's order."""
    for column in EXPORT_OWN[table]:
        yield None, column
    if table == "contact":
        for name, column in doc["personFields"].items():
            if column is not None and name != "company":
                yield ("personFields", name), column
    mapping = doc["exportMapping"]
    for column in mapping["fixedFields"][table]:
        yield ("exportMapping", "fixedFields", table, column), column
    for index, column in enumerate(mapping["exportFields"][table]):
        if isinstance(column, str):
            yield ("exportMapping", "exportFields", table, index), column
    for column in mapping["engagementFields"][table]:
        yield ("exportMapping", "engagementFields", table, column), column
    if table == "contact":
        for name, column in doc["campaignMapping"].items():
            if column is not None:
                yield ("campaignMapping", name), column


def repeat_errors(config: Configuration | Mapping[str, Any]) -> list[ErrorItem]:
    """One error per column written twice (see the module docstring), at the later place.

    `config` is a valid document, or the JSON of one the schema refused: its repeats are then
    listed with the schema errors, so one 400 names every problem found without Dynamics.
    """
    doc = _dump(config) if isinstance(config, Configuration) else _writer_view(config)
    errors: list[ErrorItem] = []
    for table in EXPORT_TABLES:
        first: dict[str, Loc | None] = {}
        for loc, column in _export_writers(doc, table):
            if column not in first:
                first[column] = loc
                continue
            earlier = first[column]
            by = f"the export itself ({_LABELS[table]} matching and links)" if earlier is None else _place(earlier)
            assert loc is not None  # the export's own columns are distinct
            errors.append((loc, f"writes {_LABELS[table]} column {column!r}, which {by} already writes"))
    seen: dict[str, str] = {}
    for name, column in doc["personFields"].items():
        if column is None:
            continue
        if column in seen and not (name == "company" or seen[column] == "company"):
            continue  # already reported above as a Contact repeat
        if column in seen:
            errors.append((("personFields", name),
                           f"writes Lead column {column!r}, which personFields.{seen[column]} already writes"))
        else:
            seen[column] = name
    return errors


def _type_name(column: Column) -> str:
    return column.type or "untyped"


def _column(tables: Mapping[str, TableColumns], table: str, name: str) -> tuple[Column | None, str | None]:
    column = tables[table].get(name)
    if column is None:
        return None, f"{_LABELS[table]} has no column {name!r} in Dynamics"
    return column, None


def _text(tables: Mapping[str, TableColumns], table: str, name: str, *, memo: bool = False) -> str | None:
    column, missing = _column(tables, table, name)
    if column is None:
        return missing
    allowed = ("String", "Memo") if memo else ("String",)
    if column.type not in allowed:
        kind = "a String or Memo" if memo else "a String"
        return f"must be {kind} column of {_LABELS[table]}; {name!r} is {_type_name(column)}"
    return None


def _writable(tables: Mapping[str, TableColumns], table: str, name: str) -> tuple[Column | None, str | None]:
    column = tables[table].get(name)
    problem = write_problem(column, name, _LABELS[table])
    return (None, problem) if problem is not None else (column, None)


def metadata_errors(config: Configuration, tables: Mapping[str, TableColumns]) -> list[ErrorItem]:
    """One error per place naming a column that does not fit (see the module docstring).

    `tables` holds the columns of `lead`, `contact` and `account`.
    """
    doc = _dump(config)
    errors: list[ErrorItem] = []

    def add(loc: Loc, problem: str | None) -> None:
        if problem is not None:
            errors.append((loc, problem))

    for kind, table in (("lead", "lead"), ("contact", "contact"), ("company", "account")):
        for i, field_set in enumerate(doc["identifiers"][kind]):
            for j, name in enumerate(field_set):
                add(("identifiers", kind, i, j), _text(tables, table, name))
    for name, column_name in doc["personFields"].items():
        if column_name is None:
            continue
        problems = [_text(tables, "lead", column_name)]
        if name != "company":
            problems.append(_text(tables, "contact", column_name))
        add(("personFields", name), "; ".join(p for p in problems if p) or None)
    mapping = doc["exportMapping"]
    for section in ("fixedFields", "engagementFields"):
        for table in EXPORT_TABLES:
            for name, value in mapping[section][table].items():
                column, problem = _writable(tables, table, name)
                if column is not None:
                    problem = value_problem(column, value)
                add(("exportMapping", section, table, name), problem)
    for table in EXPORT_TABLES:
        for index, name in enumerate(mapping["exportFields"][table]):
            add(("exportMapping", "exportFields", table, index), _writable(tables, table, name)[1])
    for name, column_name in doc["campaignMapping"].items():
        if column_name is not None:
            add(("campaignMapping", name), _text(tables, "contact", column_name, memo=True))
    return errors
