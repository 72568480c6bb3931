"""Create/Update Lead: the pure decision for every outcome, mode and link."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shared.steps import create_update_lead as step
from shared.steps.config import StepConfig
from shared.steps.models import LeadRequest
from shared.steps.person import InvalidStepInput
from shared.steps.result import Attempt, Create, Plan, Update
from tests.unit.steps.helpers import (
    ACCOUNT_1,
    CONTACT_1,
    LEAD_1,
    LEAD_2,
    USER_1,
    USER_DEFAULT,
    contact,
    found_for,
    lead,
)

CONFIG = StepConfig()
ADA = {"email": "Ada@Example.com", "firstName": "Ada", "lastName": "Lovelace", "company": "Analytical",
       "jobTitle": "CTO", "phone": "+44 20 1234"}


def request(**changes: Any) -> LeadRequest:
    body = {"person": ADA, "subject": "Webinar attendee", **changes}
    return LeadRequest.model_validate(body)


def plan_for(req: LeadRequest, *, leads: Sequence[dict[str, Any]] = (), contacts: Sequence[dict[str, Any]] = (),
             users: Sequence[dict[str, Any]] = (), config: StepConfig = CONFIG, new_id: str | None = None,
             dry_run: bool = False) -> Plan:
    lookups = step.prepare(req, config)
    found = found_for(lookups, leads=leads, contacts=contacts, users=users)
    return step.decide(req, config, lookups, found, Attempt(new_id, dry_run))


def test_when_the_person_is_a_contact_the_default_mode_skips_and_writes_nothing() -> None:
    plan = plan_for(request(), contacts=[contact()], leads=[lead()])
    assert plan.write is None
    result = plan.result
    assert (result.outcome, result.reason, result.entity, result.record_id) == (
        "skipped", "existsAsContact", "contact", CONTACT_1)
    assert result.detail == "Ada Lovelace is already a Contact in Dynamics, so no Lead was created or updated."


def test_when_there_is_no_contact_and_no_lead_a_lead_is_created_with_every_mapped_field() -> None:
    plan = plan_for(request(description="From the webinar", person={**ADA, "fields": {"leadsourcecode": 8}}))
    assert isinstance(plan.write, Create)
    assert plan.write.entity_set == "leads"
    assert plan.write.record_id is None
    assert plan.write.data == {
        "subject": "Webinar attendee", "description": "From the webinar", "firstname": "Ada", "lastname": "Lovelace",
        "emailaddress1": "Ada@Example.com", "companyname": "Analytical", "jobtitle": "CTO",
        "telephone1": "+44 20 1234", "leadsourcecode": 8,
    }
    assert plan.result.outcome == "created" and plan.result.entity == "lead"
    assert plan.result.linked_contact_id is None and plan.result.linked_account_id is None
    assert plan.result.detail == "Created a new Lead for Ada Lovelace."


def test_when_an_open_lead_matches_it_is_updated_without_rewriting_its_email() -> None:
    plan = plan_for(request(), leads=[lead(email="ada@example.com")])
    assert isinstance(plan.write, Update)
    assert plan.write.record_id == LEAD_1
    assert "emailaddress1" not in plan.write.data
    assert plan.write.data["subject"] == "Webinar attendee"
    assert "ownerid@odata.bind" not in plan.write.data
    assert (plan.result.outcome, plan.result.record_id) == ("updated", LEAD_1)
    assert plan.result.detail == "Updated Ada Lovelace's open Lead."


def test_when_the_matched_lead_has_no_email_the_update_fills_it_in() -> None:
    config = StepConfig(lead_identifiers=(("firstname", "lastname"),), contact_identifiers=(("firstname", "lastname"),))
    req = request()
    plan = plan_for(req, leads=[lead(email=None, firstname="Ada", lastname="Lovelace")], config=config)  # type: ignore[arg-type]
    assert isinstance(plan.write, Update)
    assert plan.write.data["emailaddress1"] == "Ada@Example.com"


def test_when_several_leads_match_the_latest_is_updated_and_duplicates_counted() -> None:
    leads = [lead(LEAD_1, modifiedon="2026-01-01T00:00:00Z"), lead(LEAD_2, modifiedon="2026-02-01T00:00:00Z")]
    plan = plan_for(request(), leads=leads)
    assert plan.result.record_id == LEAD_2 and plan.result.duplicates == 1
    assert "2 matching Leads exist" in plan.result.detail


def test_when_the_only_lead_is_qualified_a_new_lead_is_created() -> None:
    plan = plan_for(request(), leads=[lead(statecode=1)])
    assert plan.result.outcome == "created"


def test_when_the_only_contact_is_inactive_the_default_mode_goes_on() -> None:
    plan = plan_for(request(), contacts=[contact(statecode=1)])
    assert plan.result.outcome == "created"


def test_when_always_create_and_a_contact_exists_the_new_lead_is_linked_to_contact_and_account() -> None:
    plan = plan_for(request(alwaysCreateLead=True), contacts=[contact(account=ACCOUNT_1)])
    assert isinstance(plan.write, Create)
    assert plan.write.data["parentcontactid@odata.bind"] == f"/contacts({CONTACT_1})"
    assert plan.write.data["parentaccountid@odata.bind"] == f"/accounts({ACCOUNT_1})"
    assert (plan.result.linked_contact_id, plan.result.linked_account_id) == (CONTACT_1, ACCOUNT_1)
    assert plan.result.detail == (
        "Created a new Lead for Ada Lovelace and linked it to their existing Contact and that Contact's Account.")


def test_when_always_create_and_the_contact_has_no_account_only_the_contact_is_linked() -> None:
    plan = plan_for(request(alwaysCreateLead=True), contacts=[contact()])
    assert isinstance(plan.write, Create)
    assert "parentaccountid@odata.bind" not in plan.write.data
    assert (plan.result.linked_contact_id, plan.result.linked_account_id) == (CONTACT_1, None)


def test_when_the_contacts_customer_is_a_contact_no_account_is_linked() -> None:
    parent = contact(account=None, _parentcustomerid_value="00000000-0000-0000-0000-0000000000c9")
    plan = plan_for(request(alwaysCreateLead=True), contacts=[parent])
    assert plan.result.linked_account_id is None


def test_when_always_create_and_no_contact_exists_the_lead_is_created_unlinked() -> None:
    plan = plan_for(request(alwaysCreateLead=True))
    assert isinstance(plan.write, Create)
    assert not any(key.endswith("@odata.bind") for key in plan.write.data)


def test_when_always_create_and_a_lead_without_parent_contact_exists_it_is_updated_and_linked() -> None:
    plan = plan_for(request(alwaysCreateLead=True), leads=[lead()], contacts=[contact(account=ACCOUNT_1)])
    assert isinstance(plan.write, Update)
    assert plan.write.data["parentcontactid@odata.bind"] == f"/contacts({CONTACT_1})"
    assert plan.write.data["parentaccountid@odata.bind"] == f"/accounts({ACCOUNT_1})"
    assert (plan.result.outcome, plan.result.linked_contact_id, plan.result.linked_account_id) == (
        "updated", CONTACT_1, ACCOUNT_1)
    assert "linked it to their existing Contact and that Contact's Account" in plan.result.detail


def test_when_always_create_and_the_lead_already_has_a_parent_contact_links_are_left_alone() -> None:
    other = "00000000-0000-0000-0000-0000000000c7"
    plan = plan_for(request(alwaysCreateLead=True), leads=[lead(_parentcontactid_value=other)],
                    contacts=[contact(account=ACCOUNT_1)])
    assert isinstance(plan.write, Update)
    assert not any(key.endswith("@odata.bind") for key in plan.write.data)
    assert plan.result.linked_contact_id == other


def test_when_the_lead_has_its_own_account_linking_keeps_it() -> None:
    own = "00000000-0000-0000-0000-0000000000b7"
    plan = plan_for(request(alwaysCreateLead=True), leads=[lead(_parentaccountid_value=own)],
                    contacts=[contact(account=ACCOUNT_1)])
    assert isinstance(plan.write, Update)
    assert "parentaccountid@odata.bind" not in plan.write.data
    assert (plan.result.linked_contact_id, plan.result.linked_account_id) == (CONTACT_1, own)


def test_when_a_key_is_given_the_new_lead_gets_the_derived_id() -> None:
    derived = "00000000-0000-0000-0000-00000000aaaa"
    plan = plan_for(request(idempotencyKey="k1"), new_id=derived)
    assert isinstance(plan.write, Create) and plan.write.record_id == derived


def test_when_the_lead_found_has_the_derived_id_an_earlier_attempt_created_it() -> None:
    derived = "00000000-0000-0000-0000-00000000aaaa"
    plan = plan_for(request(idempotencyKey="k1", alwaysCreateLead=True),
                    leads=[lead(derived, _parentcontactid_value=CONTACT_1, _parentaccountid_value=ACCOUNT_1)],
                    contacts=[contact(account=ACCOUNT_1)], new_id=derived.upper())
    assert plan.write is None
    assert (plan.result.outcome, plan.result.record_id) == ("created", derived)
    assert (plan.result.linked_contact_id, plan.result.linked_account_id) == (CONTACT_1, ACCOUNT_1)


@pytest.mark.parametrize(
    ("owner_user_id", "users", "expected", "rule", "reason"),
    [
        ("u1", [{"systemuserid": USER_1, "isdisabled": False},
                {"systemuserid": USER_DEFAULT, "isdisabled": False}], USER_1, "mapped", None),
        ("u1", [{"systemuserid": USER_1, "isdisabled": True},
                {"systemuserid": USER_DEFAULT, "isdisabled": False}], USER_DEFAULT, "defaultOwner", "userDisabled"),
        ("u1", [{"systemuserid": USER_DEFAULT, "isdisabled": False}], USER_DEFAULT, "defaultOwner", "userMissing"),
        ("unmapped", [{"systemuserid": USER_DEFAULT, "isdisabled": False}], USER_DEFAULT, "defaultOwner", "unmapped"),
        (None, [{"systemuserid": USER_DEFAULT, "isdisabled": False}], USER_DEFAULT, "defaultOwner", "unmapped"),
        ("u1", [{"systemuserid": USER_1, "isdisabled": True}, {"systemuserid": USER_DEFAULT, "isdisabled": True}],
         None, "dynamics", "defaultOwnerUnavailable"),
        ("u1", [], None, "dynamics", "defaultOwnerUnavailable"),
    ],
    ids=["mapped", "mapped-disabled", "mapped-missing", "no-mapping", "no-user", "both-disabled", "none-exist"],
)
def test_when_a_lead_is_created_the_owner_follows_the_user_mapping(
    owner_user_id: str | None, users: list[dict[str, Any]], expected: str | None, rule: str, reason: str | None
) -> None:
    config = StepConfig(user_identities={"u1": USER_1}, default_owner=USER_DEFAULT)
    plan = plan_for(request(ownerUserId=owner_user_id), users=users, config=config)
    assert isinstance(plan.write, Create)
    if expected is None:
        assert "ownerid@odata.bind" not in plan.write.data
    else:
        assert plan.write.data["ownerid@odata.bind"] == f"/systemusers({expected})"
    assert (plan.result.owner_rule, plan.result.owner_reason) == (rule, reason)


def test_when_a_lead_is_updated_or_the_step_skips_there_is_no_owner_rule() -> None:
    config = StepConfig(user_identities={"u1": USER_1}, default_owner=USER_DEFAULT)
    users = [{"systemuserid": USER_1, "isdisabled": False}]
    updated = plan_for(request(ownerUserId="u1"), leads=[lead()], users=users, config=config)
    skipped = plan_for(request(ownerUserId="u1"), contacts=[contact()], users=users, config=config)
    for plan in (updated, skipped):
        assert (plan.result.owner_rule, plan.result.owner_reason) == (None, None)
    assert isinstance(updated.write, Update) and "ownerid@odata.bind" not in updated.write.data


def test_when_a_dry_run_would_create_the_owner_rule_is_reported() -> None:
    plan = plan_for(request(dryRun=True), users=[])
    assert (plan.result.owner_rule, plan.result.owner_reason) == ("dynamics", "unmapped")


def test_when_no_owner_is_configured_no_owner_lookup_is_made() -> None:
    lookups = step.prepare(request(ownerUserId="u1"), CONFIG)
    assert "owner" not in lookups.groups()


def test_when_all_lookups_are_planned_they_cover_every_identifier_set_of_both_kinds() -> None:
    config = StepConfig(lead_identifiers=(("emailaddress1",), ("firstname", "lastname")),
                        contact_identifiers=(("emailaddress1",),), user_identities={"u1": USER_1})
    lookups = step.prepare(request(ownerUserId="u1"), config)
    assert [entity for entity, _ in lookups.requests()] == ["leads", "leads", "contacts", "systemusers"]
    lead_filter = str(lookups.requests()[0][1].filter)
    assert lead_filter == "(emailaddress1 eq 'Ada@Example.com') and (statecode eq 0)"


def test_when_the_email_has_a_quote_the_filter_escapes_it_and_nothing_else_changes() -> None:
    plain = step.prepare(request(person={"email": "obrien@example.com"}), CONFIG).requests()
    quoted = step.prepare(request(person={"email": "o'brien@example.com"}), CONFIG).requests()
    for (_, a), (_, b) in zip(plain, quoted, strict=True):
        assert str(b.filter) == str(a.filter).replace("'obrien@", "'o''brien@")
        assert a.params()[0] == b.params()[0]


def test_when_identifiers_use_email_and_the_person_has_none_it_is_a_400() -> None:
    with pytest.raises(InvalidStepInput) as caught:
        step.prepare(request(person={"firstName": "Ada"}), CONFIG)
    assert caught.value.errors[0][0] == ("person", "email")


def test_when_identifiers_do_not_use_email_the_person_needs_another_identifier() -> None:
    config = StepConfig(lead_identifiers=(("firstname", "lastname"),), contact_identifiers=(("firstname", "lastname"),))
    step.prepare(request(person={"firstName": "Ada", "lastName": "Lovelace"}), config)
    with pytest.raises(InvalidStepInput):
        step.prepare(request(person={"firstName": "Ada"}), config)


def test_when_fields_repeat_a_mapped_person_field_it_is_a_400() -> None:
    with pytest.raises(InvalidStepInput) as caught:
        step.prepare(request(person={**ADA, "fields": {"firstname": "Other", "jobtitle": "CEO"}}), CONFIG)
    assert [loc for loc, _ in caught.value.errors] == [("person", "fields", "firstname"),
                                                       ("person", "fields", "jobtitle")]


def test_when_a_dry_run_would_create_the_detail_says_so() -> None:
    plan = plan_for(request(), dry_run=True)
    assert plan.result.dry_run is True
    assert plan.result.detail == "A new Lead would be created for Ada Lovelace; nothing was written."


def test_when_a_dry_run_meets_a_contact_the_detail_says_nothing_would_be_written() -> None:
    plan = plan_for(request(), contacts=[contact()], dry_run=True)
    assert plan.result.detail == "Ada Lovelace is already a Contact in Dynamics, so no Lead would be created or updated."


def test_when_the_person_has_no_name_the_detail_masks_the_email() -> None:
    plan = plan_for(request(person={"email": "grace@example.com"}))
    assert plan.result.detail == "Created a new Lead for g***@example.com."


def test_when_the_result_is_serialised_every_field_is_present() -> None:
    body = plan_for(request()).result.to_body()
    assert set(body) == {"outcome", "entity", "recordId", "activityId", "reason", "detail", "linkedContactId",
                         "linkedAccountId", "ownerRule", "ownerReason", "duplicates", "dynamicsRequests", "idempotent",
                         "dryRun"}


def test_when_the_earlier_attempt_created_the_lead_a_contact_created_since_does_not_change_the_answer() -> None:
    derived = "00000000-0000-0000-0000-00000000aaaa"
    plan = plan_for(request(idempotencyKey="k1"), leads=[lead(derived)], contacts=[contact()], new_id=derived)
    assert plan.write is None
    assert (plan.result.outcome, plan.result.record_id) == ("created", derived)
