"""What the three journey steps share: their view of the configuration, the person's look-ups,
the owner rule, and the words their `detail` sentences are made of. All pure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from shared.dynamics.query import Expand, Filter, Query, bind
from shared.masking import mask_address
from shared.resolution import (
    ACTIVE,
    ENTITIES,
    Criterion,
    Kind,
    Match,
    Scalar,
    choose,
    criteria,
    identifier_attributes,
    person_attributes,
)
from shared.steps.models import Person
from shared.steps.result import Reason

__all__ = [
    "DEFAULT_PERSON_FIELDS",
    "NO_MATCH_REASON",
    "Found",
    "InvalidStepInput",
    "Lookups",
    "OwnerCandidates",
    "PersonLookup",
    "StepConfig",
    "check_person",
    "choose_owner",
    "duplicates_note",
    "no_record",
    "owner_candidates",
    "person_lookup",
    "possessive",
    "was",
    "who",
]

log = logging.getLogger(__name__)

DEFAULT_PERSON_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "firstName": "firstname",
        "lastName": "lastname",
        "email": "emailaddress1",
        "company": "companyname",
        "jobTitle": "jobtitle",
        "phone": "telephone1",
    }
)
_DEFAULT_IDENTIFIERS: tuple[tuple[str, ...], ...] = (("emailaddress1",),)


def _sets(value: Any) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(str(name) for name in field_set) for field_set in value or ())


def _get(document: Any, name: str, default: Any = None) -> Any:
    return document.get(name, default) if isinstance(document, Mapping) else default


@dataclass(frozen=True)
class StepConfig:
    """The parts of the configuration document (`/api/config`) the steps read."""

    lead_identifiers: tuple[tuple[str, ...], ...] = _DEFAULT_IDENTIFIERS
    contact_identifiers: tuple[tuple[str, ...], ...] = _DEFAULT_IDENTIFIERS
    person_fields: Mapping[str, str] = field(default_factory=lambda: DEFAULT_PERSON_FIELDS)
    user_identities: Mapping[str, str] = field(default_factory=dict)
    default_owner: str | None = None

    @classmethod
    def from_document(cls, document: Any) -> StepConfig:
        """From the configuration document (model or JSON); absent parts take their defaults."""
        if hasattr(document, "model_dump"):
            document = document.model_dump(mode="json", by_alias=True)
        identifiers = _get(document, "identifiers")
        user_mapping = _get(document, "userMapping")
        person_fields = _get(document, "personFields")
        default_owner = _get(user_mapping, "defaultOwner")
        return cls(
            lead_identifiers=_sets(_get(identifiers, "lead")) or _DEFAULT_IDENTIFIERS,
            contact_identifiers=_sets(_get(identifiers, "contact")) or _DEFAULT_IDENTIFIERS,
            person_fields=MappingProxyType(
                {str(k): str(v) for k, v in (person_fields or DEFAULT_PERSON_FIELDS).items() if v}
            ),
            user_identities=MappingProxyType(
                {str(k): str(v).lower() for k, v in (_get(user_mapping, "identities") or {}).items()}
            ),
            default_owner=str(default_owner).lower() if default_owner else None,
        )

    def identifiers(self, kind: Kind) -> tuple[tuple[str, ...], ...]:
        return self.lead_identifiers if kind == "lead" else self.contact_identifiers

    @property
    def email_attribute(self) -> str | None:
        return self.person_fields.get("email")

    @property
    def phone_attribute(self) -> str | None:
        return self.person_fields.get("phone")


class InvalidStepInput(Exception):
    """The body is well-formed but the configuration makes part of it unusable (HTTP 400).

    `errors` are `(loc, msg)` pairs in the shape of the problem+json `errors` member.
    """

    def __init__(self, errors: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))
        self.errors = list(errors)


def check_person(person: Person, config: StepConfig, kinds: Sequence[Kind]) -> dict[str, Scalar]:
    """The person's values by Dynamics attribute, or `InvalidStepInput` listing what is wrong.

    - `email` is required when the identifiers of a kind this step looks up compare it;
    - otherwise the person needs values for at least one identifier set of each such kind: when
      none is filled, every missing member of each set is an error of its own, at the person
      field that fills it (`person.firstName`) or at `person.fields.<attribute>`;
    - `fields` may not name an attribute the person field map already fills.
    """
    errors: list[tuple[tuple[str | int, ...], str]] = []
    mapped = {attribute for attribute in config.person_fields.values() if attribute}
    for name in sorted(mapped & set(person.fields)):
        errors.append((("person", "fields", name), "is filled from the person's own fields; remove it from fields"))
    values = person_attributes(person.platform_values(), config.person_fields, person.fields)
    email_attribute = config.email_attribute
    used = identifier_attributes(s for kind in kinds for s in config.identifiers(kind))
    if email_attribute in used and person.email is None:
        errors.append((("person", "email"), "is required: the configured identifiers compare e-mail addresses"))
    else:
        filled_by = {attribute: name for name, attribute in config.person_fields.items() if attribute}
        for kind in kinds:
            if criteria(kind, config.identifiers(kind), values):
                continue
            for field_set in config.identifiers(kind):
                for attribute in field_set:
                    if values.get(attribute) is None:
                        loc = ("person", filled_by[attribute]) if attribute in filled_by else (
                            "person", "fields", attribute)
                        errors.append((loc, f"is needed for the {kind} identifier {'+'.join(field_set)} "
                                            f"(no {kind} identifier set is filled)"))
    if errors:
        raise InvalidStepInput(errors)
    return values


# -- look-ups -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonLookup:
    """The queries that find the person as one kind: one per usable identifier set, in order."""

    kind: Kind
    criteria: tuple[Criterion, ...]
    select: tuple[str, ...]
    expand: tuple[Expand, ...] = ()

    def queries(self) -> list[tuple[str, Query]]:
        spec = ENTITIES[self.kind]
        select = list(dict.fromkeys((spec.key, "modifiedon", "statecode", *self.select)))
        queries = []
        for criterion in self.criteria:
            conditions = [Filter.eq(attribute, value) for attribute, value in criterion.conditions]
            query = Query(
                select=select,
                filter=Filter.and_(*conditions, Filter.eq("statecode", ACTIVE)),
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

    def owner_bind(self, found: Found) -> dict[str, str]:
        """`ownerid@odata.bind` for a new record, or nothing to leave the owner to Dynamics."""
        owner = choose_owner(self.owner, found.flat("owner")) if self.owner is not None else None
        return {"ownerid@odata.bind": bind("systemusers", owner)} if owner else {}


# -- owner ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerCandidates:
    """Who should own a new record: the mapped user of the platform user, else the default owner."""

    platform_user_id: str | None
    mapped: str | None
    default: str | None

    @property
    def ids(self) -> list[str]:
        return list(dict.fromkeys(i for i in (self.mapped, self.default) if i))

    def query(self) -> tuple[str, Query] | None:
        """The systemusers look-up telling whether the candidates exist and are enabled."""
        if not self.ids:
            return None
        condition = Filter.or_(*(Filter.eq("systemuserid", i) for i in self.ids))
        return ("systemusers", Query(select=["systemuserid", "isdisabled"], filter=condition))


def owner_candidates(platform_user_id: str | None, config: StepConfig) -> OwnerCandidates:
    mapped = config.user_identities.get(platform_user_id) if platform_user_id else None
    return OwnerCandidates(platform_user_id, mapped, config.default_owner)


def choose_owner(candidates: OwnerCandidates, users: Sequence[Mapping[str, Any]]) -> str | None:
    """The systemuser to own a new record, or None to leave the owner to Dynamics.

    The mapped user when it exists and is enabled; else the default owner on the same terms;
    else nobody (Dynamics makes the calling application user the owner).
    """
    enabled = {
        str(user.get("systemuserid", "")).lower()
        for user in users
        if user.get("isdisabled") is not True
    }
    if candidates.mapped and candidates.mapped in enabled:
        return candidates.mapped
    if candidates.mapped:
        log.warning("mapped owner for platform user is missing or disabled in Dynamics; using the default owner")
    elif candidates.platform_user_id:
        log.info("no user mapping for the platform user; using the default owner")
    if candidates.default and candidates.default in enabled:
        return candidates.default
    if candidates.default:
        log.warning("default owner is missing or disabled in Dynamics; the owner is left to Dynamics")
    return None


# -- words ----------------------------------------------------------------------------------------

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
