"""AddActivity over real HTTP through the local host: which record gets the Task or Phone Call,
and which columns Dynamics ends up holding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.functions.journey_helpers import (
    ConfigDocument,
    Counter,
    Dynamics,
    Journey,
    new_id,
    person,
    unique_email,
)

pytest_plugins = ("tests.functions.journey_fixtures",)

TASK_SELECT = "subject,description,scheduledend,prioritycode,_regardingobjectid_value,activityid"
CALL_SELECT = TASK_SELECT + ",phonenumber,directioncode"


def body(email: str, mode: str = "smart", prefer: str = "lead", **activity: Any) -> dict[str, Any]:
    return {"person": person(email, phone="+44 20 7946 0000"), "mode": mode, "prefer": prefer,
            "activity": {"type": "task", "subject": "Call back about pricing", **activity}}


def seed_person(dynamics: Dynamics, email: str, *, lead: bool, contact: bool) -> tuple[str, str]:
    lead_id, contact_id = new_id(), new_id()
    records: dict[str, Any] = {}
    if lead:
        records["leads"] = [{"leadid": lead_id, "emailaddress1": email, "lastname": "Lovelace"}]
    if contact:
        records["contacts"] = [{"contactid": contact_id, "emailaddress1": email, "lastname": "Lovelace",
                                "telephone1": "+1 555 0100"}]
    if records:
        dynamics.seed(records)
    return lead_id, contact_id


@pytest.mark.parametrize(
    ("mode", "prefer", "has_lead", "has_contact", "expected"),
    [
        ("smart", "lead", True, True, "lead"),
        ("smart", "lead", False, True, "contact"),
        ("smart", "contact", True, True, "contact"),
        ("smart", "contact", True, False, "lead"),
        ("lead", "lead", True, True, "lead"),
        ("contact", "lead", True, True, "contact"),
    ],
)
def test_when_a_record_is_found_the_task_is_logged_regarding_it(
    journey: Journey, dynamics: Dynamics, mode: str, prefer: str, has_lead: bool, has_contact: bool, expected: str
) -> None:
    email = unique_email()
    lead_id, contact_id = seed_person(dynamics, email, lead=has_lead, contact=has_contact)
    counter = Counter(dynamics)
    result = journey.ok("activity", body(email, mode, prefer, description="Wants a demo", priority="high",
                                         dueDate="2026-05-01"))
    record_id = lead_id if expected == "lead" else contact_id
    assert (result["outcome"], result["entity"], result["recordId"], result["reason"]) == (
        "activityLogged", expected, record_id, None)
    assert result["dynamicsRequests"] == 2 == counter.total()
    assert counter.writes() == {"POST tasks": 1}
    task = dynamics.record("tasks", result["activityId"], TASK_SELECT)
    assert task["_regardingobjectid_value"] == record_id
    assert (task["subject"], task["description"], task["prioritycode"]) == (
        "Call back about pricing", "Wants a demo", 2)
    assert task["scheduledend"] == "2026-05-01T17:00:00Z"


@pytest.mark.parametrize(
    ("mode", "has_lead", "has_contact", "reason"),
    [
        ("smart", False, False, "noMatch"),
        ("lead", False, True, "noMatchingLead"),
        ("contact", True, False, "noMatchingContact"),
    ],
)
def test_when_no_record_of_the_allowed_kind_exists_the_step_skips_and_writes_nothing(
    journey: Journey, dynamics: Dynamics, mode: str, has_lead: bool, has_contact: bool, reason: str
) -> None:
    email = unique_email()
    seed_person(dynamics, email, lead=has_lead, contact=has_contact)
    counter = Counter(dynamics)
    result = journey.ok("activity", body(email, mode))
    assert (result["outcome"], result["reason"], result["entity"], result["recordId"], result["activityId"]) == (
        "skipped", reason, None, None, None)
    assert result["dynamicsRequests"] == 1
    assert counter.writes() == {}


def test_when_a_phone_call_is_logged_its_columns_follow_the_request(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    _, contact_id = seed_person(dynamics, email, lead=False, contact=True)
    result = journey.ok("activity", body(email, "contact", type="phonecall", direction="incoming",
                                         phoneNumber="+46 8 555 0199", dueDate="2026-05-01T09:30:00+02:00"))
    call = dynamics.record("phonecalls", result["activityId"], CALL_SELECT)
    assert call["_regardingobjectid_value"] == contact_id
    assert (call["phonenumber"], call["directioncode"], call["prioritycode"]) == ("+46 8 555 0199", False, 1)
    assert call["scheduledend"] == "2026-05-01T07:30:00Z"


def test_when_a_phone_call_has_no_number_the_persons_phone_is_used(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    seed_person(dynamics, email, lead=True, contact=False)
    result = journey.ok("activity", body(email, type="phonecall", dueInDays=3))
    call = dynamics.record("phonecalls", result["activityId"], CALL_SELECT)
    assert (call["phonenumber"], call["directioncode"]) == ("+44 20 7946 0000", True)
    due = datetime.fromisoformat(call["scheduledend"].replace("Z", "+00:00"))
    assert abs(due - (datetime.now(UTC) + timedelta(days=3))) < timedelta(minutes=2)


def test_when_a_dry_run_is_asked_no_activity_is_written(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    lead_id, _ = seed_person(dynamics, email, lead=True, contact=False)
    counter = Counter(dynamics)
    result = journey.ok("activity", {**body(email), "dryRun": True})
    assert (result["outcome"], result["recordId"], result["activityId"], result["dryRun"]) == (
        "activityLogged", lead_id, None, True)
    assert result["dynamicsRequests"] == 1
    assert counter.writes() == {}


def test_when_an_activity_is_logged_its_owner_follows_the_owner_rule(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    email = unique_email()
    seed_person(dynamics, email, lead=True, contact=False)
    seller, gone = new_id(), new_id()
    dynamics.seed({"systemusers": [{"systemuserid": seller, "lastname": "Seller"},
                                   {"systemuserid": gone, "lastname": "Gone", "isdisabled": True}]})
    config.set({"userMapping": {"identities": {"u-seller": seller, "u-gone": gone}, "defaultOwner": seller}})
    mapped = journey.ok("activity", {**body(email), "ownerUserId": "u-seller"})
    assert (mapped["ownerRule"], mapped["ownerReason"], mapped["dynamicsRequests"]) == ("mapped", None, 2)
    fallback = journey.ok("activity", {**body(email), "ownerUserId": "u-gone"})
    assert (fallback["ownerRule"], fallback["ownerReason"]) == ("defaultOwner", "userDisabled")
    for result in (mapped, fallback):
        assert dynamics.record("tasks", result["activityId"], "_ownerid_value")["_ownerid_value"] == seller
