"""The words the steps' `detail` sentences are made of. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shared.masking import mask_address
from shared.resolution import ENTITIES, Kind, Match
from shared.steps.models import Person
from shared.steps.result import Reason

__all__ = ["NO_MATCH_REASON", "duplicates_note", "no_fallback", "no_record", "possessive", "was", "who"]

# The skip reason when a step needs this kind of record and the person has none.
NO_MATCH_REASON: Mapping[Kind, Reason] = MappingProxyType({"lead": "noMatchingLead", "contact": "noMatchingContact"})


def who(person: Person) -> str:
    """How a detail sentence names the person: their name, else their masked e-mail."""
    name = " ".join(part for part in (person.first_name, person.last_name) if part)
    if name:
        return name
    if person.email:
        return mask_address(person.email)
    return "This person"


def possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def was(dry_run: bool) -> str:
    """The verb of a sentence about a write: what happened, or in a dry run what would have."""
    return "would be" if dry_run else "was"


def no_record(name: str, kind: Kind) -> str:
    """"Ada has no open Lead in Dynamics" (strict steps do not look at the other kind)."""
    spec = ENTITIES[kind]
    return f"{name} has no {spec.state} {spec.label} in Dynamics"


def no_fallback(kind: Kind) -> str:
    other = ENTITIES["contact" if kind == "lead" else "lead"].label
    return f"(this step does not fall back to a {other})"


def duplicates_note(match: Match | None) -> str:
    """A clause telling which of several matching records was chosen ("" when there was one)."""
    if match is None or match.duplicates == 0:
        return ""
    label = ENTITIES[match.kind].label
    count = match.duplicates + 1
    return f" ({count} matching {label}s exist; the most recently modified one was used)"
