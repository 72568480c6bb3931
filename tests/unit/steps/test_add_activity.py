"""Add Activity: which record the activity lands on, and how its columns are written. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.steps import add_activity as step
from shared.steps.config import StepConfig
from shared.steps.models import ActivityRequest
from shared.steps.result import Attempt, Create, Plan
from tests.unit.steps.helpers import CONTACT_1, LEAD_1, LEAD_2, USER_1, contact, found_for, lead

CONFIG = StepConfig()
NOW = datetime(2026, 3, 10, 8, 15, 42, 123456, tzinfo=UTC)
ADA = {"email": "ada@example.com", "firstName": "Ada", "phone": "+44 20 1234"}


def request(mode: str = "smart", prefer: str = "lead", person: dict[str, Any] | None = None,
            **activity: Any) -> ActivityRequest:
    spec = {"type": "task", "subject": "Follow up", **activity}
    return ActivityRequest.model_validate({"person": person or ADA, "mode": mode, "prefer": prefer, "activity": spec})


def plan_for(req: ActivityRequest, *, leads: list[dict[str, Any]] | None = None,
             contacts: list[dict[str, Any]] | None = None, config: StepConfig = CONFIG, new_id: str | None = None,
             dry_run: bool = False, users: list[dict[str, Any]] | None = None) -> Plan:
    lookups = step.prepare(req, config)
    found = found_for(lookups, leads=leads or [], contacts=contacts or [], users=users or [])
    return step.decide(req, config, lookups, found, Attempt(new_id, dry_run, NOW))


ROUTING = [
    # mode, prefer, lead exists, contact exists -> entity or skip reason
    ("smart", "lead", True, True, "lead"),
    ("smart", "lead", False, True, "contact"),
    ("smart", "lead", True, False, "lead"),
    ("smart", "lead", False, False, "noMatch"),
    ("smart", "contact", True, True, "contact"),
    ("smart", "contact", True, False, "lead"),
    ("smart", "contact", False, False, "noMatch"),
    ("lead", "lead", True, True, "lead"),
    ("lead", "lead", False, True, "noMatchingLead"),
    ("lead", "contact", True, True, "lead"),
    ("contact", "lead", True, True, "contact"),
    ("contact", "lead", True, False, "noMatchingContact"),
]


@pytest.mark.parametrize(("mode", "prefer", "has_lead", "has_contact", "expected"), ROUTING)
def test_when_routing_an_activity_the_mode_decides_the_record(
    mode: str, prefer: str, has_lead: bool, has_contact: bool, expected: str
) -> None:
    plan = plan_for(request(mode, prefer), leads=[lead()] if has_lead else [],
                    contacts=[contact()] if has_contact else [])
    if expected in ("lead", "contact"):
        assert plan.result.outcome == "activityLogged"
        assert plan.result.entity == expected
        assert plan.result.record_id == (LEAD_1 if expected == "lead" else CONTACT_1)
        assert isinstance(plan.write, Create)
        assert plan.write.data[f"regardingobjectid_{expected}_task@odata.bind"] == (
            f"/leads({LEAD_1})" if expected == "lead" else f"/contacts({CONTACT_1})")
    else:
        assert plan.write is None
        assert (plan.result.outcome, plan.result.reason, plan.result.entity, plan.result.record_id) == (
            "skipped", expected, None, None)


def test_when_a_strict_mode_is_used_only_that_kind_is_looked_up() -> None:
    assert step.prepare(request("lead"), CONFIG).kinds == ("lead",)
    assert step.prepare(request("contact"), CONFIG).kinds == ("contact",)
    assert step.prepare(request("smart", "contact"), CONFIG).kinds == ("contact", "lead")
    assert [entity for entity, _ in step.prepare(request("contact"), CONFIG).requests()] == ["contacts"]


def test_when_smart_mode_falls_back_the_detail_says_why() -> None:
    plan = plan_for(request(), contacts=[contact()])
    assert plan.result.detail == (
        "Logged a Task \u201cFollow up\u201d on Ada's Contact (no Lead was found, so the Contact was used).")


def test_when_nothing_matches_the_details_explain_the_skip() -> None:
    assert plan_for(request()).result.detail == (
        "Ada is neither an open Lead nor an active Contact in Dynamics, so no Task was logged.")
    assert plan_for(request("lead"), contacts=[contact()]).result.detail == (
        "Ada has no open Lead in Dynamics, so no Task was logged (this step does not fall back to a Contact).")
    assert plan_for(request("contact", type="phonecall"), leads=[lead()]).result.detail == (
        "Ada has no active Contact in Dynamics, so no Phone Call was logged "
        "(this step does not fall back to a Lead).")


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        ({"dueDate": "2026-05-01"}, "2026-05-01T17:00:00Z"),
        ({"dueDate": "2026-05-01T09:30:00+02:00"}, "2026-05-01T07:30:00Z"),
        ({"dueDate": "2026-05-01T23:30:00-05:00"}, "2026-05-02T04:30:00Z"),
        ({"dueDate": "2026-05-01T09:30:00Z"}, "2026-05-01T09:30:00Z"),
        ({"dueInDays": 0}, "2026-03-10T08:15:42Z"),
        ({"dueInDays": 3}, "2026-03-13T08:15:42Z"),
        ({}, None),
    ],
)
def test_when_a_due_date_is_given_scheduledend_is_utc(due: dict[str, Any], expected: str | None) -> None:
    plan = plan_for(request(**due), leads=[lead()])
    assert isinstance(plan.write, Create)
    assert plan.write.data.get("scheduledend") == expected


@pytest.mark.parametrize(("priority", "code"), [("low", 0), ("normal", 1), ("high", 2), (None, 1)])
def test_when_a_priority_is_given_prioritycode_follows(priority: str | None, code: int) -> None:
    extra = {"priority": priority} if priority else {}
    plan = plan_for(request(**extra), leads=[lead()])
    assert isinstance(plan.write, Create) and plan.write.data["prioritycode"] == code


def test_when_a_task_is_logged_only_task_columns_are_written() -> None:
    plan = plan_for(request(description="Asked for pricing"), leads=[lead()])
    assert isinstance(plan.write, Create)
    assert plan.write.entity_set == "tasks"
    assert plan.write.data == {
        "subject": "Follow up", "description": "Asked for pricing", "prioritycode": 1,
        "regardingobjectid_lead_task@odata.bind": f"/leads({LEAD_1})",
    }
    assert plan.created_id_field == "activity_id"


def test_when_a_phone_call_is_logged_number_and_direction_are_written() -> None:
    plan = plan_for(request(type="phonecall", phoneNumber="+1 555 0100", direction="incoming"), contacts=[contact()])
    assert isinstance(plan.write, Create)
    assert plan.write.entity_set == "phonecalls"
    assert plan.write.data["phonenumber"] == "+1 555 0100"
    assert plan.write.data["directioncode"] is False
    assert plan.write.data["regardingobjectid_contact_phonecall@odata.bind"] == f"/contacts({CONTACT_1})"


def test_when_a_phone_call_has_no_direction_it_is_outgoing() -> None:
    plan = plan_for(request(type="phonecall"), leads=[lead()])
    assert isinstance(plan.write, Create) and plan.write.data["directioncode"] is True


def test_when_a_phone_call_has_no_number_it_takes_the_persons_phone() -> None:
    plan = plan_for(request(type="phonecall"), leads=[lead()])
    assert isinstance(plan.write, Create) and plan.write.data["phonenumber"] == "+44 20 1234"


def test_when_neither_request_nor_person_has_a_number_the_records_phone_is_used() -> None:
    person = {"email": "ada@example.com"}
    plan = plan_for(request(type="phonecall", person=person), leads=[lead(telephone1="+46 8 123")])
    assert isinstance(plan.write, Create) and plan.write.data["phonenumber"] == "+46 8 123"
    plan = plan_for(request(type="phonecall", person=person), leads=[lead()])
    assert isinstance(plan.write, Create) and "phonenumber" not in plan.write.data


def test_when_several_records_match_the_latest_gets_the_activity() -> None:
    leads = [lead(LEAD_1), lead(LEAD_2, modifiedon="2026-05-01T00:00:00Z")]
    plan = plan_for(request(), leads=leads)
    assert (plan.result.record_id, plan.result.duplicates) == (LEAD_2, 1)


def test_when_a_key_is_given_the_activity_gets_the_derived_id() -> None:
    plan = plan_for(request(), leads=[lead()], new_id="00000000-0000-0000-0000-00000000BBBB")
    assert isinstance(plan.write, Create) and plan.write.record_id == "00000000-0000-0000-0000-00000000bbbb"


def test_when_an_owner_is_mapped_the_activity_is_assigned() -> None:
    config = StepConfig(user_identities={"u1": USER_1})
    req = ActivityRequest.model_validate({"person": ADA, "ownerUserId": "u1",
                                          "activity": {"type": "task", "subject": "x"}})
    plan = plan_for(req, leads=[lead()], config=config, users=[{"systemuserid": USER_1, "isdisabled": False}])
    assert isinstance(plan.write, Create) and plan.write.data["ownerid@odata.bind"] == f"/systemusers({USER_1})"
    assert (plan.result.owner_rule, plan.result.owner_reason) == ("mapped", None)


def test_when_no_record_matches_there_is_no_owner_rule() -> None:
    plan = plan_for(request(), users=[])
    assert plan.result.outcome == "skipped" and (plan.result.owner_rule, plan.result.owner_reason) == (None, None)


def test_when_a_dry_run_would_log_the_detail_says_so() -> None:
    plan = plan_for(request(), leads=[lead()], dry_run=True)
    assert plan.result.detail == "A Task \u201cFollow up\u201d would be logged on Ada's Lead; nothing was written."
    assert plan.result.dry_run is True
