"""Add to Marketing List: the list checks (422 codes), membership, and the AddMemberList call. Pure."""

from __future__ import annotations

from typing import Any

import pytest

from shared.steps import add_to_marketing_list as step
from shared.steps.config import StepConfig
from shared.steps.models import ListRequest
from shared.steps.result import Action, Attempt, Plan, StepRefused
from tests.unit.steps.helpers import (
    CONTACT_1,
    LEAD_1,
    LIST_1,
    contact,
    found_for,
    lead,
    marketing_list,
)

CONFIG = StepConfig()
LIST_2 = "00000000-0000-0000-0000-0000000000e2"


def request(target: str = "contact", ref: dict[str, Any] | None = None) -> ListRequest:
    return ListRequest.model_validate({"person": {"email": "ada@example.com", "firstName": "Ada"},
                                       "target": target, "list": ref or {"name": "Webinar"}})


def plan_for(req: ListRequest, lists: list[dict[str, Any]], *, records: list[dict[str, Any]] | None = None,
             dry_run: bool = False) -> Plan:
    lookups = step.prepare(req, CONFIG)
    records = records or []
    found = found_for(lookups, leads=[r for r in records if "leadid" in r],
                      contacts=[r for r in records if "contactid" in r], lists=lists)
    return step.decide(req, CONFIG, lookups, found, Attempt(dry_run=dry_run))


@pytest.mark.parametrize(
    ("lists", "target", "code"),
    [
        ([], "contact", "listNotFound"),
        ([marketing_list(type=True)], "contact", "listIsDynamic"),
        ([marketing_list(lockstatus=True)], "contact", "listLocked"),
        ([marketing_list(statecode=1)], "contact", "listInactive"),
        ([marketing_list(createdfromcode=4)], "contact", "listMemberTypeMismatch"),
        ([marketing_list(createdfromcode=1)], "contact", "listMemberTypeMismatch"),
        ([marketing_list(createdfromcode=2)], "lead", "listMemberTypeMismatch"),
        ([marketing_list(), marketing_list(LIST_2)], "contact", "listNameAmbiguous"),
        ([marketing_list(statecode=1), marketing_list(LIST_2, statecode=1)], "contact", "listInactive"),
    ],
    ids=["missing", "dynamic", "locked", "inactive", "lead-list", "account-list", "contact-list-for-lead",
         "two-active-same-name", "all-same-name-inactive"],
)
def test_when_the_list_cannot_take_the_member_it_is_a_422_with_a_code(
    lists: list[dict[str, Any]], target: str, code: str
) -> None:
    with pytest.raises(StepRefused) as caught:
        plan_for(request(target), lists, records=[contact(), lead()])
    assert caught.value.code == code
    assert caught.value.status == 422


def test_when_the_list_is_refused_the_detail_names_it() -> None:
    with pytest.raises(StepRefused) as caught:
        plan_for(request(), [marketing_list(lockstatus=True)])
    assert caught.value.detail == "The marketing list \u201cWebinar\u201d is locked, so no members can be added."
    with pytest.raises(StepRefused) as caught:
        plan_for(request(ref={"id": LIST_1}), [])
    assert caught.value.detail == f"The marketing list with id {LIST_1} does not exist in Dynamics."
    with pytest.raises(StepRefused) as caught:
        plan_for(request("lead"), [marketing_list()])
    assert caught.value.detail == "The marketing list \u201cWebinar\u201d holds Contacts, not Leads."


def test_when_the_list_is_checked_it_comes_before_the_person() -> None:
    with pytest.raises(StepRefused) as caught:
        plan_for(request(), [marketing_list(type=True)], records=[])
    assert caught.value.code == "listIsDynamic"


def test_when_one_of_several_same_named_lists_is_active_it_is_used() -> None:
    plan = plan_for(request(), [marketing_list(statecode=1), marketing_list(LIST_2)], records=[contact()])
    assert isinstance(plan.write, Action) and plan.write.record_id == LIST_2


def test_when_the_person_has_no_record_of_the_target_kind_it_is_skipped_without_fallback() -> None:
    plan = plan_for(request("contact"), [marketing_list()], records=[lead()])
    assert (plan.result.outcome, plan.result.reason, plan.write) == ("skipped", "noMatchingContact", None)
    assert plan.result.detail == ("Ada has no active Contact in Dynamics, so nobody was added to the marketing list "
                                  "\u201cWebinar\u201d (this step does not fall back to a Lead).")
    plan = plan_for(request("lead"), [marketing_list(createdfromcode=4)], records=[contact()])
    assert (plan.result.outcome, plan.result.reason) == ("skipped", "noMatchingLead")


def test_when_the_person_is_not_yet_a_member_they_are_added_with_add_member_list() -> None:
    plan = plan_for(request(), [marketing_list()], records=[contact(listcontact_association=[])])
    assert plan.write == Action("Microsoft.Dynamics.CRM.AddMemberList", "lists", LIST_1, {"EntityId": CONTACT_1})
    assert (plan.result.outcome, plan.result.entity, plan.result.record_id) == ("added", "contact", CONTACT_1)
    assert plan.result.detail == "Added Ada's Contact to the marketing list \u201cWebinar\u201d."


def test_when_a_lead_is_added_the_lead_list_is_used() -> None:
    plan = plan_for(request("lead", {"id": LIST_1}), [marketing_list(createdfromcode=4)], records=[lead()])
    assert plan.write == Action("Microsoft.Dynamics.CRM.AddMemberList", "lists", LIST_1, {"EntityId": LEAD_1})


def test_when_the_person_is_already_a_member_nothing_is_written() -> None:
    member = contact(listcontact_association=[{"listid": LIST_1.upper()}])
    plan = plan_for(request(), [marketing_list()], records=[member])
    assert plan.write is None
    assert (plan.result.outcome, plan.result.record_id) == ("alreadyMember", CONTACT_1)
    assert plan.result.detail == ("Ada's Contact is already on the marketing list \u201cWebinar\u201d, "
                                  "so nothing was changed.")


def test_when_the_member_is_on_a_same_named_other_list_they_are_still_added() -> None:
    member = contact(listcontact_association=[{"listid": LIST_2}])
    plan = plan_for(request(), [marketing_list(statecode=1, listid=LIST_2), marketing_list()], records=[member])
    assert isinstance(plan.write, Action) and plan.write.record_id == LIST_1


def test_when_the_lookups_are_planned_membership_is_expanded_with_the_list_predicate() -> None:
    by_name = step.prepare(request(ref={"name": "O'Neil's list"}), CONFIG).requests()
    assert [entity for entity, _ in by_name] == ["lists", "contacts"]
    assert str(by_name[0][1].filter) == "listname eq 'O''Neil''s list'"
    expand = dict(by_name[1][1].params())["$expand"]
    assert expand == "listcontact_association($select=listid;$filter=listname eq 'O''Neil''s list')"
    by_id = step.prepare(request("lead", {"id": LIST_1}), CONFIG).requests()
    assert str(by_id[0][1].filter) == f"listid eq {LIST_1}"
    assert dict(by_id[1][1].params())["$expand"] == f"listlead_association($select=listid;$filter=listid eq {LIST_1})"


def test_when_a_dry_run_would_add_the_detail_says_so() -> None:
    plan = plan_for(request(), [marketing_list()], records=[contact()], dry_run=True)
    assert plan.result.detail == "Ada's Contact would be added to the marketing list \u201cWebinar\u201d; nothing was written."


def test_when_a_dry_run_meets_a_member_the_detail_says_nothing_would_change() -> None:
    member = contact(listcontact_association=[{"listid": LIST_1}])
    plan = plan_for(request(), [marketing_list()], records=[member], dry_run=True)
    assert (plan.result.outcome, plan.result.dry_run, plan.write) == ("alreadyMember", True, None)
    assert plan.result.detail == ("Ada's Contact is already on the marketing list \u201cWebinar\u201d, "
                                  "so nothing would be changed.")
