"""Request models of the sync endpoints (`/api/sync/enqueue`, `/changes`, `/links`).

A sync person is the journey steps' Person with three differences: `id` (the platform contact
id, 1-200 characters, case-sensitive) is required, `fields` is refused, and custom values travel
in `platformFields` (`{name: scalar}`, names of 1-100 letters, digits or `_`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, field_validator
from pydantic.alias_generators import to_camel

from shared.steps.models import IDEMPOTENCY_KEY_MAX, Email, FieldValue, Text50, Text100

Kind = Literal["lead", "contact"]
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MAX_PLATFORM_FIELDS = 100
MAX_CHANGES = 1000
# Person members by platform name, as `fieldMappings` name them.
STANDARD_MEMBERS = {"email": "email", "first_name": "firstName", "last_name": "lastName", "company": "company",
                    "job_title": "jobTitle", "phone": "phone"}


def _no_controls(value: str) -> str:
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise ValueError("must not contain control characters")
    return value


PlatformContactId = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_no_controls)]
PlatformFieldName = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_]{1,100}$")]


def _at_most(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_PLATFORM_FIELDS:
        raise ValueError(f"at most {MAX_PLATFORM_FIELDS} platform fields may be given")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class SyncPerson(_Model):
    id: PlatformContactId
    email: Email = None
    first_name: Text50 = None
    last_name: Text50 = None
    company: Text100 = None
    job_title: Text100 = None
    phone: Text50 = None
    platform_fields: Annotated[dict[PlatformFieldName, FieldValue], AfterValidator(_at_most)] = Field(
        default_factory=dict)

    def platform_values(self, *, given_only: bool = False) -> dict[str, Any]:
        """Values by platform name (`email`, `platformFields.score`). By default the non-null ones;
        with `given_only`, every member the body named, nulls included (null clears)."""
        values: dict[str, Any] = {}
        for member, name in STANDARD_MEMBERS.items():
            value = getattr(self, member)
            if value is not None or (given_only and member in self.model_fields_set):
                values[name] = value
        for name, value in self.platform_fields.items():
            if value is not None or given_only:
                values[f"platformFields.{name}"] = value
        return values


class EnqueueRequest(_Model):
    idempotency_key: Annotated[StrictStr, Field(min_length=1, max_length=IDEMPOTENCY_KEY_MAX)] | None = None
    person: SyncPerson
    as_: Kind = Field(alias="as")


def _utc_text(value: dt.datetime) -> str:
    """Fixed-width UTC text: compares as the instants do."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PlatformChange(_Model):
    person: SyncPerson
    updated_at: dt.datetime
    tags: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=200)]], Field(max_length=100)] | None = None

    @field_validator("updated_at", mode="before")
    @classmethod
    def _a_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 string with an offset (2026-05-01T10:00:00Z)")
        return value

    @field_validator("updated_at")
    @classmethod
    def _with_offset(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("must be ISO 8601 with an offset (2026-05-01T10:00:00Z)")
        return value

    @property
    def updated_at_text(self) -> str:
        return _utc_text(self.updated_at)


class ChangesRequest(_Model):
    changes: Annotated[list[PlatformChange], Field(min_length=1, max_length=MAX_CHANGES)]


class LinkRequest(_Model):
    platform_contact_id: PlatformContactId
    entity: Kind
    dynamics_id: Annotated[StrictStr, Field(pattern=GUID_PATTERN)]


class RunsQuery(BaseModel):
    # Other query parameters (the function key's `code`, a cache buster) are not this endpoint's.
    model_config = ConfigDict(extra="ignore")

    top: Annotated[int, Field(ge=1, le=100)] = 50
