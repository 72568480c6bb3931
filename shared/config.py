"""Models of the two operator documents: the configuration (`/api/config`)
and the scheduled-sync settings (`/api/sync/settings`); docs/HTTP.md has the rules per field.

Both are strict: camelCase names only, unknown fields rejected, no type coercion ("1" is not 1),
Dataverse names checked as logical names. Every field has a default, and the defaults are the
documented ones (docs/HTTP.md), so a deployment works before anyone saved a document. Validate incoming JSON
with `Model.model_validate_json(text)` (or through `shared.http.parse_body`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

# Dataverse logical names are lowercase: letters, digits and underscores, starting with a letter
# (`emailaddress1`, `new_engagedby`, `parentcustomerid_account`).
LOGICAL_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

_LOGICAL_NAME = re.compile(LOGICAL_NAME_PATTERN)
_GUID = re.compile(GUID_PATTERN)


def _logical_name(value: str) -> str:
    if not _LOGICAL_NAME.match(value):
        raise ValueError("must be a Dataverse logical name (lowercase letters, digits and _, starting with a letter)")
    return value


def _guid(value: str) -> str:
    if not _GUID.match(value):
        raise ValueError("must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return value.lower()


# The checks are validators (for readable messages); the patterns still go into the JSON schema.
LogicalName = Annotated[
    str,
    Field(min_length=1, max_length=100, json_schema_extra={"pattern": LOGICAL_NAME_PATTERN}),
    AfterValidator(_logical_name),
]
Guid = Annotated[str, Field(json_schema_extra={"pattern": GUID_PATTERN}), AfterValidator(_guid)]
"""A GUID in its canonical 8-4-4-4-12 form; stored lowercase."""
Scalar = str | int | float | bool | None


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} appears more than once")
        seen.add(value)
    return values


# `uniqueItems` and `additionalProperties` put into the JSON schema what the validators enforce.
UNIQUE: dict[str, Any] = {"uniqueItems": True}
ONLY_LOGICAL_NAMES: dict[str, Any] = {"additionalProperties": False}

FieldSet = Annotated[list[LogicalName], Field(min_length=1, max_length=10, json_schema_extra=UNIQUE),
                     AfterValidator(_unique)]
"""Attributes that must all be equal for a record to match."""
IdentifierList = Annotated[list[FieldSet], Field(min_length=1, max_length=10)]
"""Field sets tried in order: the first one the person has values for, and that finds a record, wins."""


class DocumentModel(BaseModel):
    """Shared configuration of both documents: camelCase, strict, closed, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )


# -- configuration ---------------------------------------------------------------------------


class Identifiers(DocumentModel):
    lead: IdentifierList = Field(default_factory=lambda: [["emailaddress1"]])
    contact: IdentifierList = Field(default_factory=lambda: [["emailaddress1"]])
    company: IdentifierList = Field(default_factory=lambda: [["name"], ["websiteurl"]])


class PersonFields(DocumentModel):
    """Which Dynamics attribute each person field is written to (null: not written)."""

    first_name: LogicalName | None = "firstname"
    last_name: LogicalName | None = "lastname"
    email: LogicalName | None = "emailaddress1"
    company: LogicalName | None = "companyname"
    job_title: LogicalName | None = "jobtitle"
    phone: LogicalName | None = "telephone1"


class EntityValues(DocumentModel):
    """Attribute -> value to write, per Dynamics entity."""

    contact: dict[LogicalName, Scalar] = Field(default_factory=dict, json_schema_extra=ONLY_LOGICAL_NAMES)
    account: dict[LogicalName, Scalar] = Field(default_factory=dict, json_schema_extra=ONLY_LOGICAL_NAMES)


class EntityAttributes(DocumentModel):
    """Attributes whose values are chosen at export time, per Dynamics entity."""

    contact: Annotated[list[LogicalName], AfterValidator(_unique)] = Field(default_factory=list, json_schema_extra=UNIQUE)
    account: Annotated[list[LogicalName], AfterValidator(_unique)] = Field(default_factory=list, json_schema_extra=UNIQUE)


class ExportMapping(DocumentModel):
    fixed_fields: EntityValues = Field(default_factory=EntityValues)
    """Written on every export."""
    export_fields: EntityAttributes = Field(default_factory=EntityAttributes)
    """Values come from the export message (`exportFields`)."""
    engagement_fields: EntityValues = Field(default_factory=EntityValues)
    """Written only when the contact or company participated in the campaign."""


class CampaignMapping(DocumentModel):
    """Text attributes (on Contact) that receive the campaign data; null: not exported."""

    sequence_details: LogicalName | None = None
    engagement_status: LogicalName | None = None
    opens: LogicalName | None = None
    clicks: LogicalName | None = None
    open_analysis: LogicalName | None = None
    click_analysis: LogicalName | None = None
    reply_analysis: LogicalName | None = None


PlatformUserId = Annotated[str, Field(min_length=1, max_length=200)]


class UserMapping(DocumentModel):
    identities: dict[PlatformUserId, Guid] = Field(default_factory=dict)
    """Platform user id -> Dynamics `systemuserid`."""
    default_owner: Guid | None = None
    """The `systemuserid` that owns records whose platform user has no (usable) mapping."""


class Configuration(DocumentModel):
    """The configuration document (`GET/PUT /api/config`). Missing members take their defaults; unknown
    members are 400. Beyond the schema, a PUT checks one writer per column (per table, a column the export
    writes appears once: the export's own columns (Contact `parentcustomerid`, `ownerid`; Account `name`,
    `websiteurl`, `ownerid`), `personFields` targets (Contact), `fixedFields` keys, `exportFields` items,
    `engagementFields` keys, non-null `campaignMapping` values; each repeat one error at the later place),
    then every named column against the Dynamics column metadata (`shared.config_checks`): identifiers and
    `personFields` String columns (of Lead and Contact; `company` of Lead only), `campaignMapping` String or
    Memo columns of Contact, fixed / export / engagement columns writable on create and update and not
    lookups, with values fitting type and MaxLength. GUIDs are stored lowercase."""

    platform_name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"[^\s\x85\ufeff]")] = "Platform"
    identifiers: Identifiers = Field(default_factory=Identifiers)
    person_fields: PersonFields = Field(default_factory=PersonFields)
    export_mapping: ExportMapping = Field(default_factory=ExportMapping)
    campaign_mapping: CampaignMapping = Field(default_factory=CampaignMapping)
    user_mapping: UserMapping = Field(default_factory=UserMapping)


# -- scheduled sync settings -----------------------------------------------------------------

SYNC_KINDS = ("lead", "contact")
CriterionOp = Literal[
    "eq", "ne", "gt", "ge", "lt", "le", "in", "null", "notNull", "contains", "startsWith", "endsWith"
]
TEXT_OPS = frozenset({"contains", "startsWith", "endsWith"})
ORDER_OPS = frozenset({"gt", "ge", "lt", "le"})
Direction = Literal["both", "toDynamics", "toPlatform"]
ConflictPolicy = Literal["dynamicsWins", "platformWins", "newestWins"]
FrequencyHours = Literal[1, 2, 4, 6, 8, 12, 24]

PERSON_PLATFORM_FIELDS = ("email", "firstName", "lastName", "company", "jobTitle", "phone")
PLATFORM_FIELD_PATTERN = r"^(email|firstName|lastName|company|jobTitle|phone|platformFields\.[A-Za-z0-9_]{1,100})$"
_PLATFORM_FIELD = re.compile(PLATFORM_FIELD_PATTERN)


def _platform_field(value: str) -> str:
    if not _PLATFORM_FIELD.match(value):
        raise ValueError(f"must be one of {', '.join(PERSON_PLATFORM_FIELDS)} or platformFields.<name> "
                         "(<name>: 1-100 letters, digits or _)")
    return value


PlatformField = Annotated[str, Field(json_schema_extra={"pattern": PLATFORM_FIELD_PATTERN}),
                          AfterValidator(_platform_field)]


def _when_op(ops: list[str], value: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    then: dict[str, Any] = {"properties": {"value": value}}
    if required:
        then["required"] = ["value"]
    return {"if": {"required": ["op"], "properties": {"op": {"enum": ops}}}, "then": then}


_SCALAR = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]
# What `_value_fits_op` checks, for readers of the JSON schema (openapi.yaml).
_VALUE_PER_OP: list[JsonValue] = [
    _when_op(["null", "notNull"], {"type": "null"}, required=False),
    _when_op(["in"], {"type": "array", "minItems": 1, "maxItems": 100, "items": {"anyOf": _SCALAR}}),
    _when_op(["contains", "startsWith", "endsWith"], {"type": "string", "minLength": 1}),
    _when_op(["eq", "ne"], {"anyOf": _SCALAR}),
    _when_op(["gt", "ge", "lt", "le"], {"anyOf": _SCALAR[:2]}),
]


class Criterion(DocumentModel):
    """One structured condition on a column of the kind (never a raw filter string)."""

    # The shape of `value` is checked here; whether it fits the column's type, and whether the op
    # suits that type, needs Dynamics' metadata (`shared.sync.settings_checks`).

    model_config = ConfigDict(json_schema_extra={"allOf": _VALUE_PER_OP})

    field: LogicalName
    op: CriterionOp
    value: Scalar | list[Scalar] = Field(default=None, validate_default=True)

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:  # the op itself is invalid and already reported
            return value
        if op in ("null", "notNull"):
            if value is not None:
                raise ValueError(f"must be absent for op {op!r}")
        elif op == "in":
            if not isinstance(value, list) or not value or len(value) > 100:
                raise ValueError("must be a list of 1-100 values for op 'in'")
            if any(item is None or isinstance(item, list) for item in value):
                raise ValueError("must hold only strings, numbers or booleans")
        elif op in TEXT_OPS:
            if not isinstance(value, str) or not value:
                raise ValueError(f"must be a non-empty string for op {op!r}")
        elif value is None or isinstance(value, list):
            raise ValueError(f"must be a single string, number or boolean for op {op!r} (use 'null' to test for null)")
        elif op in ORDER_OPS and isinstance(value, bool):
            raise ValueError(f"must be a number or a date for op {op!r}")
        return value


class KindSelection(DocumentModel):
    """Whether a kind is pulled from Dynamics, and which rows: every criterion must hold."""

    enabled: bool = False
    criteria: Annotated[list[Criterion], Field(max_length=20)] = Field(default_factory=list)


class DataConfiguration(DocumentModel):
    contact: KindSelection = Field(default_factory=KindSelection)
    lead: KindSelection = Field(default_factory=KindSelection)


class FieldMapping(DocumentModel):
    platform: PlatformField
    dynamics: LogicalName
    direction: Direction


def _each_once(mappings: list[FieldMapping]) -> list[FieldMapping]:
    """Each platform field and each column once per kind; every repeat is named."""
    problems: list[str] = []
    for side in ("platform", "dynamics"):
        first: dict[str, int] = {}
        for index, mapping in enumerate(mappings):
            value = getattr(mapping, side)
            if value in first:
                problems.append(f"item {index} repeats {side} {value!r} of item {first[value]}")
            else:
                first[value] = index
    if problems:
        raise ValueError("; ".join(problems))
    return mappings


# JSON Schema cannot say "unique by one property": the description says it.
FieldMappingList = Annotated[
    list[FieldMapping],
    Field(max_length=200, description="Each platform field (`platform`) and each column (`dynamics`) at most once."),
    AfterValidator(_each_once),
]


def _default_mappings() -> list[FieldMapping]:
    return [FieldMapping(platform="firstName", dynamics="firstname", direction="both"),
            FieldMapping(platform="lastName", dynamics="lastname", direction="both")]


class FieldMappings(DocumentModel):
    contact: FieldMappingList = Field(default_factory=_default_mappings)
    lead: FieldMappingList = Field(default_factory=_default_mappings)


class SyncSettings(DocumentModel):
    """The scheduled-sync settings document (`GET/PUT /api/sync/settings`)."""

    global_sync: bool = True
    frequency_hours: FrequencyHours = 1
    conflict_policy: ConflictPolicy = "dynamicsWins"
    data_configuration: DataConfiguration = Field(default_factory=DataConfiguration)
    field_mappings: FieldMappings = Field(default_factory=FieldMappings)

    def selection(self, kind: str) -> KindSelection:
        selection: KindSelection = getattr(self.data_configuration, kind)
        return selection

    def mappings(self, kind: str) -> list[FieldMapping]:
        mappings: list[FieldMapping] = getattr(self.field_mappings, kind)
        return mappings
