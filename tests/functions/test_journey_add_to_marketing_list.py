"""AddToMarketingList over real HTTP through the local host: every 422 code, skip, member, added."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functions.journey_helpers import (
    Counter,
    Dynamics,
    Journey,
    new_id,
    person,
    unique_email,
)

pytest_plugins = ("tests.functions.journey_fixtures",)


def body(email: str, target: str, ref: dict[str, Any]) -> dict[str, Any]:
    return {"person": person(email), "target": target, "list": ref}


def a_list(list_id: str, name: str, **more: Any) -> dict[str, Any]:
    return {"listid": list_id, "listname": name, "createdfromcode": 2, "type": False, "lockstatus": False, **more}


@pytest.mark.parametrize(
    ("lists", "target", "ref", "code"),
    [
        ([], "contact", "id", "listNotFound"),
        ([], "contact", "name", "listNotFound"),
        ([{"type": True, "query": "<fetch/>"}], "contact", "id", "listIsDynamic"),
        ([{"lockstatus": True}], "contact", "name", "listLocked"),
        ([{"statecode": 1, "statuscode": 1}], "contact", "id", "listInactive"),
        ([{"createdfromcode": 4}], "contact", "id", "listMemberTypeMismatch"),
        ([{}], "lead", "name", "listMemberTypeMismatch"),
        ([{}, {}], "contact", "name", "listNameAmbiguous"),
    ],
)
def test_when_the_list_cannot_take_the_member_it_is_a_422_with_a_code(
    journey: Journey, dynamics: Dynamics, lists: list[dict[str, Any]], target: str, ref: str, code: str
) -> None:
    email = unique_email()
    name = f"Webinar {new_id()[:8]}"
    list_id = new_id()
    rows = [a_list(list_id if i == 0 else new_id(), name, **extra) for i, extra in enumerate(lists)]
    dynamics.seed({"contacts": [{"contactid": new_id(), "emailaddress1": email, "lastname": "L"}],
                   "leads": [{"leadid": new_id(), "emailaddress1": email, "lastname": "L"}],
                   **({"lists": rows} if rows else {})})
    counter = Counter(dynamics)
    response = journey.post("list", body(email, target, {"id": list_id} if ref == "id" else {"name": name}))
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["status"], problem["code"]) == (422, code)
    assert problem["detail"]
    assert counter.writes() == {}
    assert counter.total() == 1


def test_when_the_person_is_not_a_member_they_are_added(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    list_id, contact_id = new_id(), new_id()
    dynamics.seed({"lists": [a_list(list_id, "Newsletter")],
                   "contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "L"}]})
    counter = Counter(dynamics)
    result = journey.ok("list", body(email, "contact", {"id": list_id}))
    assert (result["outcome"], result["entity"], result["recordId"], result["dynamicsRequests"]) == (
        "added", "contact", contact_id, 2)
    assert counter.writes() == {"POST lists": 1}
    assert dynamics.members(list_id, "contact") == [contact_id]


def test_when_a_lead_is_added_by_name_it_lands_on_the_lead_list(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    list_id, lead_id = new_id(), new_id()
    name = f"Trade show O'Hare {new_id()[:6]}"
    dynamics.seed({"lists": [a_list(list_id, name, createdfromcode=4)],
                   "leads": [{"leadid": lead_id, "emailaddress1": email, "lastname": "L"}]})
    result = journey.ok("list", body(email, "lead", {"name": name.upper()}))
    assert (result["outcome"], result["recordId"]) == ("added", lead_id)
    assert dynamics.members(list_id, "lead") == [lead_id]


def test_when_the_person_is_already_a_member_nothing_is_written(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    list_id, contact_id = new_id(), new_id()
    dynamics.seed({"lists": [a_list(list_id, "Newsletter")],
                   "contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "L"}]})
    dynamics.add_member(list_id, contact_id)
    counter = Counter(dynamics)
    result = journey.ok("list", body(email, "contact", {"id": list_id}))
    assert (result["outcome"], result["recordId"], result["dynamicsRequests"]) == ("alreadyMember", contact_id, 1)
    assert counter.writes() == {}
    assert dynamics.members(list_id, "contact") == [contact_id]


@pytest.mark.parametrize(("target", "reason"), [("contact", "noMatchingContact"), ("lead", "noMatchingLead")])
def test_when_the_person_has_no_record_of_the_target_kind_it_skips_without_fallback(
    journey: Journey, dynamics: Dynamics, target: str, reason: str
) -> None:
    email = unique_email()
    list_id = new_id()
    other = {"leads": [{"leadid": new_id(), "emailaddress1": email, "lastname": "L"}]} if target == "contact" else \
        {"contacts": [{"contactid": new_id(), "emailaddress1": email, "lastname": "L"}]}
    dynamics.seed({"lists": [a_list(list_id, "Newsletter", createdfromcode=2 if target == "contact" else 4)],
                   **other})
    counter = Counter(dynamics)
    result = journey.ok("list", body(email, target, {"id": list_id}))
    assert (result["outcome"], result["reason"], result["recordId"], result["dynamicsRequests"]) == (
        "skipped", reason, None, 1)
    assert counter.writes() == {}
    assert dynamics.members(list_id, target) == []


def test_when_a_dry_run_would_add_nothing_is_written(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    list_id, contact_id = new_id(), new_id()
    dynamics.seed({"lists": [a_list(list_id, "Newsletter")],
                   "contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "L"}]})
    result = journey.ok("list", {**body(email, "contact", {"id": list_id}), "dryRun": True})
    assert (result["outcome"], result["dryRun"], result["dynamicsRequests"]) == ("added", True, 1)
    assert dynamics.members(list_id, "contact") == []
