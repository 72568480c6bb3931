"""Campaign export: mapping -> Dynamics fields. Pure decisions over the configuration document,
the message and the tables' column metadata; no I/O (docs/EXPORT.md).

- `normalise_domain`: a website as a bare domain, so `https://www.Example.com:443/x?y#z` and
  `example.com.` compare equal (both sides: the message's domain and the Account's `websiteurl`).
- `company_of`: which company of the message a contact belongs to (its `person.company`, trimmed,
  case-insensitive, the first company of that name).
- `record_problems`: the per-record 400s (an unlisted export column, any `person.fields`, an
  export value that does not fit its column).
- `contact_fields` / `account_fields`: what is written, with campaign values cut to the column's
  MaxLength - 1 UTF-16 code units plus "…" and reported in `truncated`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.columns import value_problem, write_problem
from shared.config import Configuration
from shared.dynamics.metadata import TableColumns
from shared.export.message import Campaign, CompanyRecord, ContactRecord
from shared.owner import OwnerCandidates, owner_candidates
from shared.resolution import person_attributes

__all__ = [
    "ELLIPSIS",
    "ExportConfig",
    "Written",
    "account_fields",
    "company_of",
    "company_values",
    "contact_fields",
    "contact_values",
    "normalise_domain",
    "record_problems",
    "truncate",
]

ELLIPSIS = "\u2026"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)

# campaignMapping member -> where its value comes from.
CAMPAIGN_MEMBERS = ("sequenceDetails", "engagementStatus", "opens", "clicks", "openAnalysis", "clickAnalysis",
                    "replyAnalysis")


def normalise_domain(value: Any) -> str | None:
    """The bare, lower-cased domain of a website or domain: no scheme, user, `www.`, port, path,
    query, fragment or trailing dot. None when nothing is left."""
    if not isinstance(value, str):
        return None
    text = _SCHEME.sub("", value.strip())
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    text = text.rsplit("@", 1)[-1]
    # Drop the port; an IPv6 literal keeps its colons.
    text = text.split("]", 1)[0] + "]" if text.startswith("[") else text.split(":", 1)[0]
    text = text.strip().rstrip(".").lower()
    if text.startswith("www."):
        text = text[4:]
    return text or None


def _fold(value: str | None) -> str | None:
    return value.strip().casefold() if value and value.strip() else None


def company_of(contacts: Sequence[ContactRecord | None], companies: Sequence[CompanyRecord | None]) -> list[int | None]:
    """For each contact, the index of the first company whose `name` equals its `person.company`."""
    first: dict[str, int] = {}
    for index, company in enumerate(companies):
        key = _fold(company.name) if company is not None else None
        if key is not None:
            first.setdefault(key, index)
    out: list[int | None] = []
    for contact in contacts:
        key = _fold(contact.person.company) if contact is not None else None
        out.append(first.get(key) if key is not None else None)
    return out


@dataclass(frozen=True)
class ExportConfig:
    """The parts of the configuration document an export reads (once, when a delivery starts)."""

    contact_identifiers: tuple[tuple[str, ...], ...]
    company_identifiers: tuple[tuple[str, ...], ...]
    person_fields: Mapping[str, str]
    fixed: Mapping[str, Mapping[str, Any]]
    export: Mapping[str, tuple[str, ...]]
    engagement: Mapping[str, Mapping[str, Any]]
    campaign: Mapping[str, str]  # campaignMapping member -> Contact column (only the mapped ones)
    identities: Mapping[str, str] = field(default_factory=dict)
    default_owner: str | None = None

    @classmethod
    def from_document(cls, document: Configuration) -> ExportConfig:
        data = document.model_dump(by_alias=True)
        mapping = data["exportMapping"]
        person_fields = {name: column for name, column in data["personFields"].items() if column}
        return cls(
            contact_identifiers=tuple(tuple(s) for s in data["identifiers"]["contact"]),
            company_identifiers=tuple(tuple(s) for s in data["identifiers"]["company"]),
            person_fields=person_fields,
            fixed={table: dict(values) for table, values in mapping["fixedFields"].items()},
            export={table: tuple(columns) for table, columns in mapping["exportFields"].items()},
            engagement={table: dict(values) for table, values in mapping["engagementFields"].items()},
            campaign={member: column for member, column in data["campaignMapping"].items() if column},
            identities=dict(data["userMapping"]["identities"]),
            default_owner=data["userMapping"]["defaultOwner"],
        )

    @property
    def contact_person_fields(self) -> dict[str, str]:
        """`personFields` as written to a Contact: `company` becomes the Account link instead."""
        return {name: column for name, column in self.person_fields.items() if name != "company"}

    def owner(self, platform_user_id: str | None) -> OwnerCandidates:
        return owner_candidates(platform_user_id, self.identities, self.default_owner)


def contact_values(contact: ContactRecord, config: ExportConfig) -> dict[str, Any]:
    """The contact's identifier values by column: person fields first, then its export fields."""
    return person_attributes(contact.person.platform_values(), config.contact_person_fields, contact.export_fields)


def company_values(company: CompanyRecord) -> dict[str, Any]:
    """The company's identifier values by column: `name`, `websiteurl` (the domain), export fields."""
    base: dict[str, Any] = {"name": company.name}
    if company.domain and company.domain.strip():
        base["websiteurl"] = company.domain
    return person_attributes({}, {}, {**company.export_fields, **base})


def record_problems(
    record: ContactRecord | CompanyRecord, loc: Sequence[str | int], config: ExportConfig, columns: TableColumns,
) -> list[dict[str, Any]]:
    """Why this record is not written: each `errors` entry of its 400 (empty: it can be written)."""
    table = "contact" if isinstance(record, ContactRecord) else "account"
    label = "Contact" if table == "contact" else "Account"
    errors: list[dict[str, Any]] = []
    if isinstance(record, ContactRecord):
        for name in record.person.fields:
            errors.append({"loc": [*loc, "person", "fields", name],
                           "msg": "is not accepted in an export; map the column in exportFields instead"})
    listed = config.export.get(table, ())
    for name, value in record.export_fields.items():
        place = [*loc, "exportFields", name]
        if name not in listed:
            errors.append({"loc": place, "msg": f"is not an export field of {label} in the configuration's exportMapping"})
            continue
        column = columns.get(name)
        problem = write_problem(column, name, label) or (value_problem(column, value) if column else None)
        if problem:
            errors.append({"loc": place, "msg": problem})
    return errors


def _utf16(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def truncate(value: str, max_length: int | None) -> str | None:
    """`value` cut to `max_length` UTF-16 code units (the last one "…"), or None when it fits."""
    if max_length is None or _utf16(value) <= max_length:
        return None
    keep = max(max_length - 1, 0)
    encoded = value.encode("utf-16-le")[: keep * 2]
    text = encoded.decode("utf-16-le", errors="ignore")  # never half a surrogate pair
    return text + ELLIPSIS


@dataclass(frozen=True)
class Written:
    """What a record writes: the columns and values, and the campaign columns that were cut."""

    data: dict[str, Any]
    truncated: tuple[str, ...] = ()


def _campaign_values(campaign: Campaign, contact: ContactRecord) -> dict[str, Any]:
    engagement = contact.engagement
    assert engagement is not None
    return {
        "sequenceDetails": campaign.sequence or campaign.name,
        "engagementStatus": engagement.status,
        "opens": str(engagement.opens) if engagement.opens is not None else None,
        "clicks": str(engagement.clicks) if engagement.clicks is not None else None,
        "openAnalysis": engagement.open_analysis,
        "clickAnalysis": engagement.click_analysis,
        "replyAnalysis": engagement.reply_analysis,
    }


def contact_fields(
    contact: ContactRecord, campaign: Campaign, config: ExportConfig, columns: TableColumns, *, creating: bool,
    stored_email: Any = None,
) -> Written:
    """The Contact's columns (not the link or the owner): person fields given (the e-mail on an
    update only when the Contact has none), fixed, export, and for a participant the engagement
    and campaign fields; absent or null values are never written, so nothing is blanked."""
    data: dict[str, Any] = {}
    person = contact.person.platform_values()
    for name, column in config.contact_person_fields.items():
        value = person.get(name)
        if value is None or (name == "email" and not creating and stored_email):
            continue
        data[column] = value
    data.update(config.fixed.get("contact", {}))
    data.update(contact.export_fields)
    truncated: list[str] = []
    if contact.participated:
        data.update(config.engagement.get("contact", {}))
        values = _campaign_values(campaign, contact)
        for member, column in config.campaign.items():
            value = values.get(member)
            if value is None:
                continue
            column_info = columns.get(column)
            cut = truncate(value, column_info.max_length if column_info else None)
            if cut is not None:
                truncated.append(column)
                value = cut
            data[column] = value
    return Written(data, tuple(truncated))


def account_fields(company: CompanyRecord, config: ExportConfig, *, creating: bool, participated: bool) -> Written:
    """The Account's columns (not the owner): on create `name` and `websiteurl` (the domain as
    given), fixed and export fields, engagement fields when a contact of it participated."""
    data: dict[str, Any] = {}
    if creating:
        data["name"] = company.name
        if company.domain and company.domain.strip():
            data["websiteurl"] = company.domain.strip()
    data.update(config.fixed.get("account", {}))
    data.update(company.export_fields)
    if participated:
        data.update(config.engagement.get("account", {}))
    return Written(data)
