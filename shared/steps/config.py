"""The parts of the configuration document the journey steps read, as one immutable value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from shared.owner import OwnerCandidates, owner_candidates
from shared.resolution import Kind

__all__ = ["DEFAULT_PERSON_FIELDS", "StepConfig"]

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
    """The identifiers, person field map and user mapping of the configuration document."""

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

    def owner_candidates(self, platform_user_id: str | None) -> OwnerCandidates:
        """Who may own a record created for `platform_user_id` (the Owner rule, `shared.owner`)."""
        return owner_candidates(platform_user_id, self.user_identities, self.default_owner)
