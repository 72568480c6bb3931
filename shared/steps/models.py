"""Request models of the three HTTP journey steps (docs/STEPS.md, openapi.yaml).

Constraints live on the fields: anything Dataverse would refuse for its length is a 400 here,
with every bad field listed, rather than a 502 from Dynamics later. Strings are trimmed and an
empty string counts as "not given"; e-mail syntax is checked with `email-validator`, but the
value kept is the trimmed original, never the normalised form (e-mails are stored
trimmed, case as given).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "ActivityRequest",
    "ActivitySpec",
    "LeadRequest",
    "ListRef",
    "ListRequest",
    "Person",
    "StepRequest",
]

# Dataverse column lengths (reference 7.1-7.5): string columns count UTF-16 code units.
EMAIL_MAX = 100
LEAD_SUBJECT_MAX = 300
ACTIVITY_SUBJECT_MAX = 200
DESCRIPTION_MAX = 2000
LISTNAME_MAX = 128
FIELD_VALUE_MAX = 4000
IDEMPOTENCY_KEY_MAX = 200
DUE_IN_DAYS_MAX = 3650
FIELDS_MAX = 100
# The instants a Dataverse DateTime column can hold (SQL Server `datetime`).
DATAVERSE_EARLIEST = datetime(1753, 1, 1, tzinfo=UTC)
DATAVERSE_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

_LOGICAL_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")

# Columns a step writes itself or that Dataverse owns: `fields` may not set them.
RESERVED_ATTRIBUTES = frozenset(
    {
        "leadid", "contactid", "accountid", "activityid", "listid",
        "subject", "description",
        "statecode", "statuscode",
        "ownerid", "owninguser", "owningteam", "owningbusinessunit",
        "parentcontactid", "parentaccountid", "customerid", "regardingobjectid",
        "createdon", "createdby", "modifiedon", "modifiedby", "versionnumber",
        "fullname", "merged", "masterid",
    }
)


def _utf16_length(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _integral(value: Any) -> Any:
    # JSON has one number type: 3.0 is the integer 3 (as JSON Schema says), 3.5 stays refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _max_utf16(limit: int) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and _utf16_length(value) > limit:
            raise ValueError(f"must be at most {limit} characters (Dataverse's limit for this column)")
        return value

    return AfterValidator(check)


def _not_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _no_control_characters(value: str | None) -> str | None:
    # C0, DEL and C1 controls (category Cc) and unpaired surrogates (Cs); tab and line breaks are text.
    if value is not None and any(
        unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r" for ch in value
    ):
        raise ValueError("must not contain control characters")
    return value


# Optional strings are trimmed, and blank means "not given"; required ones must not be blank.
# Each length is the Dataverse column's limit (aliases spelled out so type checkers see them).
Text50 = Annotated[StrictStr | None, BeforeValidator(_blank_to_none), AfterValidator(_no_control_characters),
                   _max_utf16(50)]
Text100 = Annotated[StrictStr | None, BeforeValidator(_blank_to_none), AfterValidator(_no_control_characters),
                    _max_utf16(100)]
Text128 = Annotated[StrictStr | None, BeforeValidator(_blank_to_none), AfterValidator(_no_control_characters),
                    _max_utf16(LISTNAME_MAX)]
Text200 = Annotated[StrictStr | None, BeforeValidator(_blank_to_none), AfterValidator(_no_control_characters),
                    _max_utf16(200)]
Text2000 = Annotated[StrictStr | None, BeforeValidator(_blank_to_none), AfterValidator(_no_control_characters),
                     _max_utf16(DESCRIPTION_MAX)]
LeadSubject = Annotated[StrictStr, BeforeValidator(_stripped), AfterValidator(_not_empty),
                        AfterValidator(_no_control_characters), _max_utf16(LEAD_SUBJECT_MAX)]
ActivitySubject = Annotated[StrictStr, BeforeValidator(_stripped), AfterValidator(_not_empty),
                            AfterValidator(_no_control_characters), _max_utf16(ACTIVITY_SUBJECT_MAX)]


def _check_email(value: str | None) -> str | None:
    if value is None:
        return None
    # Imported with the first address checked: costly, and not needed to load a function.
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid e-mail address: {exc}") from None
    return value  # the trimmed original: case and form as the person gave it


Email = Annotated[StrictStr | None, BeforeValidator(_blank_to_none), AfterValidator(_no_control_characters),
                  _max_utf16(EMAIL_MAX), AfterValidator(_check_email)]


def _check_field_name(name: str) -> str:
    if not _LOGICAL_NAME.fullmatch(name):
        raise ValueError("is not a Dynamics logical name (lowercase letters, digits, underscore)")
    if name in RESERVED_ATTRIBUTES:
        raise ValueError("is set by the step itself and cannot be given in fields")
    return name


def _check_field_value(value: Any) -> Any:
    """A scalar for one Dataverse column: text, a finite number, a boolean, or null (clear it)."""
    if isinstance(value, str):
        text = value.strip()
        _no_control_characters(text)
        if _utf16_length(text) > FIELD_VALUE_MAX:
            raise ValueError(f"must be at most {FIELD_VALUE_MAX} characters")
        return text
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ValueError("must be a string, a number, a boolean or null")


def _at_most_fields(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > FIELDS_MAX:
        raise ValueError(f"at most {FIELDS_MAX} fields may be given")
    return value


FieldName = Annotated[StrictStr, AfterValidator(_check_field_name)]
FieldValue = Annotated[Any, AfterValidator(_check_field_value)]
# Each bad name or value is its own error (`person.fields.<name>`), so a 400 lists every one.
Fields = Annotated[dict[FieldName, FieldValue], AfterValidator(_at_most_fields)]


class _Model(BaseModel):
    # The validators are built when a request is first parsed, not when a function is imported.
    model_config = ConfigDict(
        defer_build=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=False,
    )


class Person(_Model):
    """The marketing platform's contact (the `person` of every step)."""

    id: Text200 = None
    email: Email = None
    first_name: Text50 = None
    last_name: Text50 = None
    company: Text100 = None
    job_title: Text100 = None
    phone: Text50 = None
    fields: Fields = Field(default_factory=dict)

    def platform_values(self) -> dict[str, str]:
        """The person's standard fields by their platform (camelCase) name, only those given."""
        values = {
            "firstName": self.first_name,
            "lastName": self.last_name,
            "email": self.email,
            "company": self.company,
            "jobTitle": self.job_title,
            "phone": self.phone,
        }
        return {name: value for name, value in values.items() if value is not None}


class StepRequest(_Model):
    """What every journey step body may carry besides its own fields."""

    idempotency_key: Annotated[StrictStr, Field(min_length=1, max_length=IDEMPOTENCY_KEY_MAX)] | None = None
    dry_run: StrictBool = False
    person: Person


class LeadRequest(StepRequest):
    """POST /api/journey/create-update-lead."""

    subject: LeadSubject
    description: Text2000 = None
    always_create_lead: StrictBool = False
    # The platform user who owns this person; mapped to a Dynamics user by the configuration.
    owner_user_id: Text200 = None


_OUT_OF_RANGE = "must be between 1753-01-01 and 9999-12-31 UTC (the dates Dynamics can store)"


def _parse_due_date(value: Any) -> Any:
    """An ISO date (`2026-05-01`) or a date-time with an offset, within what Dataverse can store."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string: an ISO date or a date-time with an offset")
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError("is not a valid calendar date") from None
        if not DATAVERSE_EARLIEST.date() <= day <= DATAVERSE_LATEST.date():
            raise ValueError(_OUT_OF_RANGE)
        return day
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO date (2026-05-01) or a date-time with an offset "
                         "(2026-05-01T09:30:00+02:00)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a date-time needs an offset such as Z or +02:00")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 falls past year 9999 in UTC
        raise ValueError(_OUT_OF_RANGE) from None
    if not DATAVERSE_EARLIEST <= utc <= DATAVERSE_LATEST:
        raise ValueError(_OUT_OF_RANGE)
    return moment


class ActivitySpec(_Model):
    """The activity to log: a Task or a Phone Call."""

    type: Literal["task", "phonecall"]
    subject: ActivitySubject
    description: Text2000 = None
    due_date: Annotated[date | datetime | None, BeforeValidator(_parse_due_date)] = None
    due_in_days: Annotated[StrictInt, BeforeValidator(_integral), Field(ge=0, le=DUE_IN_DAYS_MAX)] | None = None
    priority: Literal["low", "normal", "high"] = "normal"
    phone_number: Text200 = None
    direction: Literal["outgoing", "incoming"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ActivitySpec:
        if self.due_date is not None and self.due_in_days is not None:
            raise ValueError("give either dueDate or dueInDays, not both")
        if self.type == "task" and self.phone_number is not None:
            raise ValueError("phoneNumber applies to phone calls only")
        if self.type == "task" and self.direction is not None:
            raise ValueError("direction applies to phone calls only")
        return self


class ActivityRequest(StepRequest):
    """POST /api/journey/add-activity."""

    mode: Literal["smart", "lead", "contact"] = "smart"
    prefer: Literal["lead", "contact"] = "lead"
    activity: ActivitySpec
    owner_user_id: Text200 = None


class ListRef(_Model):
    """A marketing list by id or by name (exactly one of them)."""

    id: UUID | None = None
    name: Text128 = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ListRef:
        if (self.id is None) == (self.name is None):
            raise ValueError("give the list's id or its name (exactly one)")
        return self


class ListRequest(StepRequest):
    """POST /api/journey/add-to-marketing-list."""

    target: Literal["lead", "contact"]
    list: ListRef
