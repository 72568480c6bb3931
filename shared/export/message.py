"""Reading a `campaign-export` message: the envelope, the claim check, and each record. Pure.

As for `journey-steps` (`shared.journey_batch.message`), three levels of badness:

- unreadable (`UnreadableMessage`): not base64 UTF-8 JSON, not an object, no valid `exportId`,
  a claim-check blob missing, unreadable, not a JSON object or naming another `exportId`. The
  delivery fails and the host's retries end in `campaign-export-poison`.
- a bad envelope (`envelope_problems`): a valid `exportId` but unknown members, no valid
  `campaign`, `contacts` / `companies` not lists, over 5,000, or no record at all. Nothing is
  written; the export is `rejected`.
- a bad record (`read_records`): a contact or company its model refuses. That record gets a
  400 entry (`loc` from the message root: `["contacts", 3, "person", "email"]`); the others go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic.alias_generators import to_camel

from shared.config import Scalar
from shared.http import validation_errors
from shared.journey_batch.message import Envelope, UnreadableMessage, read_claim_check
from shared.steps.models import Person, Text200
from shared.store.idempotency import body_hash

__all__ = [
    "MAX_RECORDS",
    "Campaign",
    "CompanyRecord",
    "ContactRecord",
    "Engagement",
    "RecordSlot",
    "bad_records",
    "envelope_problems",
    "read_export_blob",
    "read_records",
    "rejection",
]

MAX_RECORDS = 5000
_ENVELOPE_MEMBERS = frozenset({"exportId", "campaign", "contacts", "companies", "exportBlob"})

Entity = Literal["contact", "company"]
# Text the campaign platform writes (analyses can be long; cut to the column later).
LongText = Annotated[StrictStr, Field(max_length=1_000_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, validate_by_alias=True,
                              validate_by_name=False, frozen=True)


class Campaign(_Model):
    id: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    sequence: LongText | None = None


class Engagement(_Model):
    participated: StrictBool
    status: LongText | None = None
    opens: Annotated[StrictInt, Field(ge=0)] | None = None
    clicks: Annotated[StrictInt, Field(ge=0)] | None = None
    open_analysis: LongText | None = None
    click_analysis: LongText | None = None
    reply_analysis: LongText | None = None


ExportFields = dict[Annotated[str, Field(min_length=1, max_length=100)], Scalar]


class ContactRecord(_Model):
    person: Person
    owner_user_id: Text200 = None
    export_fields: ExportFields = Field(default_factory=dict)
    engagement: Engagement | None = None

    @property
    def participated(self) -> bool:
        return self.engagement is not None and self.engagement.participated


class CompanyRecord(_Model):
    name: Annotated[StrictStr, Field(min_length=1, max_length=160, pattern=r"\S")]
    domain: Annotated[StrictStr, Field(max_length=200)] | None = None
    export_fields: ExportFields = Field(default_factory=dict)


def read_export_blob(envelope: Envelope, read: Any) -> dict[str, Any]:
    """The whole export message from its claim-check blob (`exportBlob`): the same `exportId`."""
    reference = envelope.members.get("exportBlob")
    assert isinstance(reference, str)
    message = read_claim_check(reference, read)
    if not isinstance(message, dict):
        raise UnreadableMessage("the claim-check blob is not a JSON object")
    if message.get("exportId") != envelope.batch_id:
        raise UnreadableMessage("the claim-check blob holds another exportId")
    return message


def envelope_problems(members: dict[str, Any], *, claim_check: bool = False) -> list[dict[str, Any]]:
    """What makes the envelope unusable (`errors` of its 400), empty when records can run."""
    allowed = _ENVELOPE_MEMBERS - {"exportBlob"} if claim_check else _ENVELOPE_MEMBERS
    errors: list[dict[str, Any]] = [
        {"loc": [name], "msg": "is not a member of a campaign-export message"} for name in sorted(set(members) - allowed)
    ]
    if "exportBlob" in members and not claim_check:
        blob = members["exportBlob"]
        if not isinstance(blob, str) or "/" not in blob.strip("/") or blob.startswith("/"):
            errors.append({"loc": ["exportBlob"], "msg": "must be 'container/name' of a blob"})
        extra = sorted(set(members) & {"campaign", "contacts", "companies"})
        errors.extend({"loc": [name], "msg": "comes from the claim-check blob; give either"} for name in extra)
        return errors
    try:
        Campaign.model_validate(members.get("campaign"))
    except ValidationError as exc:
        errors.extend(validation_errors(exc, prefix=["campaign"]))
    total = 0
    for name in ("companies", "contacts"):
        records = members.get(name, [])
        if not isinstance(records, list):
            errors.append({"loc": [name], "msg": "must be a list"})
        elif len(records) > MAX_RECORDS:
            errors.append({"loc": [name], "msg": f"holds {len(records)} records; a message holds at most {MAX_RECORDS}"})
        else:
            total += len(records)
    if not errors and total == 0:
        errors.append({"loc": ["contacts"], "msg": "the export must hold at least one contact or company"})
    return errors


def rejection(errors: list[dict[str, Any]]) -> dict[str, Any]:
    count = len(errors)
    return {
        "type": "about:blank", "title": "Invalid campaign-export message", "status": 400,
        "detail": f"The message has {count} problem{'s' if count != 1 else ''}; no record was written.",
        "errors": errors,
    }


def bad_records(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The 400 of one record (`errors` located from the message root)."""
    count = len(errors)
    return {
        "type": "about:blank", "title": "Invalid record", "status": 400,
        "detail": f"The record has {count} invalid field{'s' if count != 1 else ''}; nothing of it was written.",
        "errors": errors,
    }


@dataclass(frozen=True)
class RecordSlot:
    """One contact or company of the message: valid (`record` set) or with its 400 (`error`)."""

    entity: Entity
    index: int
    raw: Any
    record: ContactRecord | CompanyRecord | None = None
    error: dict[str, Any] | None = None

    @property
    def list_name(self) -> str:
        return "contacts" if self.entity == "contact" else "companies"

    @property
    def body_hash(self) -> str:
        """Hash of the record as sent: a known index with another hash is a conflict."""
        return body_hash(self.raw)


def _read(entity: Entity, index: int, raw: Any) -> RecordSlot:
    model: type[ContactRecord] | type[CompanyRecord] = ContactRecord if entity == "contact" else CompanyRecord
    prefix: list[str | int] = ["contacts" if entity == "contact" else "companies", index]
    if not isinstance(raw, dict):
        return RecordSlot(entity, index, raw, error=bad_records([{"loc": prefix, "msg": "must be a JSON object"}]))
    try:
        record = model.model_validate_json(json.dumps(raw, ensure_ascii=False))
    except ValidationError as exc:
        return RecordSlot(entity, index, raw, error=bad_records(validation_errors(exc, prefix=prefix)))
    return RecordSlot(entity, index, raw, record=record)


def read_records(members: dict[str, Any]) -> tuple[Campaign, list[RecordSlot], list[RecordSlot]]:
    """The campaign, the companies and the contacts of an envelope without problems."""
    campaign = Campaign.model_validate(members["campaign"])
    companies = [_read("company", i, raw) for i, raw in enumerate(members.get("companies", []))]
    contacts = [_read("contact", i, raw) for i, raw in enumerate(members.get("contacts", []))]
    return campaign, companies, contacts
