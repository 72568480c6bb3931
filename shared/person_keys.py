"""The lock keys of a person: which `PersonLocks` rows a writer must hold before it may create a
record for them. Pure (no I/O), beside the resolution rules it mirrors.

Two writers are about the same person when a look-up by either could find the record the other
creates. The resolution rules find a record through *any* identifier set the person fills, so a
person gets one key per filled set of the table (`lead`, `contact`): two callers that share any
one set collide, even when their first filled sets differ. Values are compared as Dataverse
compares them (trimmed, case-insensitive), so `Ada@Example.com ` and `ada@example.com` are one key.

Keys are sorted and unique: a writer takes them in that order, all or nothing, so two writers
never wait on each other in a cycle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from shared.resolution import Kind, Scalar, criteria

__all__ = ["PersonKey", "person_keys"]


class PersonKey(NamedTuple):
    """One lock: the table (`lead`, `contact`) and the person's values of one identifier set.

    `identity` is canonical JSON of sorted `[attribute, value]` pairs, so no value can make two
    different sets look alike. It holds personal data: the store keeps only its hash.
    """

    table: str
    identity: str


def _normal(value: Scalar) -> str | int | float | bool:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def person_keys(
    kind: Kind, identifier_sets: Sequence[Sequence[str]], values: Mapping[str, Scalar]
) -> tuple[PersonKey, ...]:
    """One key per identifier set of `kind` the person fills (`values` by Dynamics attribute),
    sorted, without repeats."""
    keys = set()
    for criterion in criteria(kind, identifier_sets, values):
        pairs = sorted((attribute, _normal(value)) for attribute, value in criterion.conditions)
        keys.add(PersonKey(kind, json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))))
    return tuple(sorted(keys))

