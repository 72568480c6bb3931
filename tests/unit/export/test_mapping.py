"""Campaign export mapping rules: domains, membership, fields written, truncation, per-record 400s."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import Configuration
from shared.dynamics.metadata import Column, TableColumns
from shared.export.mapping import (
    ExportConfig,
    account_fields,
    company_of,
    contact_fields,
    normalise_domain,
    record_problems,
    truncate,
)
from shared.export.message import Campaign, CompanyRecord, ContactRecord

CONFIG = ExportConfig.from_document(Configuration.model_validate({
    "exportMapping": {
        "fixedFields": {"contact": {"new_source": "Platform"}, "account": {"new_origin": "Export"}},
        "exportFields": {"contact": ["new_segment", "new_score"], "account": ["new_tier"]},
        "engagementFields": {"contact": {"new_engaged": "Yes"}, "account": {"new_engaged": "Yes"}},
    },
    "campaignMapping": {"sequenceDetails": "new_sequence", "opens": "new_opens", "replyAnalysis": "new_reply"},
}))
CONTACT_COLUMNS = TableColumns("contact", {
    "new_segment": Column("new_segment", "String", 10),
    "new_score": Column("new_score", "Integer"),
    "new_sequence": Column("new_sequence", "String", 100),
    "new_opens": Column("new_opens", "String", 100),
    "new_reply": Column("new_reply", "Memo", 10),
})
CAMPAIGN = Campaign.model_validate({"id": "c-1", "name": "Spring"})


def _contact(**more: Any) -> ContactRecord:
    return ContactRecord.model_validate({"person": {"email": "ada@example.com", "firstName": "Ada",
                                                    "company": "Analytical"}, **more})


@pytest.mark.parametrize(("given", "domain"), [
    ("https://www.Example.com/path", "example.com"),
    ("example.com", "example.com"),
    ("HTTP://WWW.EXAMPLE.COM:8080/a?b=c#d", "example.com"),
    ("example.com.", "example.com"),
    ("www.example.com?x", "example.com"),
    ("https://user@shop.example.co.uk/", "shop.example.co.uk"),
    ("  ", None),
    (None, None),
])
def test_a_website_compares_as_its_bare_lower_cased_domain(given: Any, domain: str | None) -> None:
    assert normalise_domain(given) == domain


def test_a_contact_belongs_to_the_first_company_of_its_name_trimmed_and_case_insensitive() -> None:
    companies = [CompanyRecord(name="Other"), CompanyRecord(name=" analytical "), CompanyRecord(name="Analytical")]
    contacts = [_contact(), ContactRecord.model_validate({"person": {"email": "x@example.com"}}), None]
    assert company_of(contacts, companies) == [1, None, None]


def test_a_participant_gets_fixed_export_engagement_and_campaign_fields_never_blank_ones() -> None:
    contact = _contact(exportFields={"new_segment": "Big"},
                       engagement={"participated": True, "opens": 0, "replyAnalysis": "Short"})
    written = contact_fields(contact, CAMPAIGN, CONFIG, CONTACT_COLUMNS, creating=True)
    assert written.data == {"firstname": "Ada", "emailaddress1": "ada@example.com", "new_source": "Platform",
                            "new_segment": "Big", "new_engaged": "Yes", "new_sequence": "Spring", "new_opens": "0",
                            "new_reply": "Short"}
    assert "companyname" not in written.data and written.truncated == ()


def test_a_non_participant_gets_no_engagement_or_campaign_field() -> None:
    contact = _contact(engagement={"participated": False, "opens": 3})
    data = contact_fields(contact, CAMPAIGN, CONFIG, CONTACT_COLUMNS, creating=True).data
    assert "new_engaged" not in data and "new_opens" not in data and "new_sequence" not in data


def test_an_update_keeps_a_stored_email_and_fills_a_missing_one() -> None:
    kept = contact_fields(_contact(), CAMPAIGN, CONFIG, CONTACT_COLUMNS, creating=False, stored_email="A@x.com")
    filled = contact_fields(_contact(), CAMPAIGN, CONFIG, CONTACT_COLUMNS, creating=False, stored_email=None)
    assert "emailaddress1" not in kept.data and filled.data["emailaddress1"] == "ada@example.com"


def test_an_over_long_campaign_value_is_cut_with_the_marker_and_reported() -> None:
    contact = _contact(engagement={"participated": True, "replyAnalysis": "0123456789ABC"})
    written = contact_fields(contact, CAMPAIGN, CONFIG, CONTACT_COLUMNS, creating=True)
    assert written.data["new_reply"] == "012345678\u2026" and written.truncated == ("new_reply",)


def test_truncation_counts_utf16_units_and_never_splits_a_surrogate_pair() -> None:
    assert truncate("abc", 3) is None
    assert truncate("\U0001f600\U0001f600", 3) == "\U0001f600\u2026"  # 4 units: keep 2, add the marker
    assert truncate("a\U0001f600b", 3) == "a\u2026"  # half an emoji is dropped, not kept
    assert truncate("x" * 10, None) is None


def test_an_account_is_named_only_on_create_and_engaged_only_through_a_participant() -> None:
    company = CompanyRecord.model_validate({"name": "Analytical", "domain": " analytical.example ",
                                            "exportFields": {"new_tier": "Gold"}})
    created = account_fields(company, CONFIG, creating=True, participated=True).data
    updated = account_fields(company, CONFIG, creating=False, participated=False).data
    assert created == {"name": "Analytical", "websiteurl": "analytical.example", "new_origin": "Export",
                       "new_tier": "Gold", "new_engaged": "Yes"}
    assert updated == {"new_origin": "Export", "new_tier": "Gold"}


def test_per_record_problems_name_each_bad_column() -> None:
    contact = ContactRecord.model_validate({
        "person": {"email": "a@example.com", "fields": {"jobtitle": "CTO"}},
        "exportFields": {"new_segment": "far too long", "new_score": "high", "new_other": 1},
    })
    problems = record_problems(contact, ["contacts", 4], CONFIG, CONTACT_COLUMNS)
    assert [(p["loc"][2:], p["msg"][:20]) for p in problems] == [
        (["person", "fields", "jobtitle"], "is not accepted in a"),
        (["exportFields", "new_segment"], "must be at most 10 c"),
        (["exportFields", "new_score"], "must be a whole numb"),
        (["exportFields", "new_other"], "is not an export fie"),
    ]
    assert all(p["loc"][:2] == ["contacts", 4] for p in problems)
