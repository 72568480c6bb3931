"""What the journey steps answer when the input is bad or Dynamics fails: problem+json, never a 500."""

from __future__ import annotations

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


def locs(response: Any) -> set[tuple[Any, ...]]:
    return {tuple(item["loc"]) for item in response.json()["errors"]}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.headers.get("x-request-id")
    body = dict(response.json())
    assert body["status"] == status
    return body


def test_when_a_lead_body_is_bad_every_field_is_listed_and_dynamics_is_not_called(
    journey: Journey, dynamics: Dynamics
) -> None:
    counter = Counter(dynamics)
    response = journey.post("lead", {
        "person": {"email": "not-an-address", "firstName": "F" * 51, "fields": {"Bad-Name": 1}},
        "subject": "", "alwaysCreateLead": "yes", "idempotencyKey": "k" * 201, "surprise": True,
    })
    assert_problem(response, 400)
    assert locs(response) == {("person", "email"), ("person", "firstName"), ("person", "fields", "Bad-Name", "[key]"),
                              ("subject",), ("alwaysCreateLead",), ("idempotencyKey",), ("surprise",)}
    assert counter.total() == 0


@pytest.mark.parametrize(
    ("step", "body", "expected"),
    [
        ("activity", {"person": {"email": "a@example.com"}, "mode": "sometimes",
                      "activity": {"type": "meeting", "subject": "x" * 201, "priority": "urgent"}},
         {("mode",), ("activity", "type"), ("activity", "subject"), ("activity", "priority")}),
        ("activity", {"person": {"email": "a@example.com"},
                      "activity": {"type": "task", "subject": "x", "dueDate": "2026-05-01", "dueInDays": 2}},
         {("activity",)}),
        ("activity", {"person": {"email": "a@example.com"},
                      "activity": {"type": "task", "subject": "x", "dueDate": "2026-05-01T10:00:00"}},
         {("activity", "dueDate")}),
        ("list", {"person": {"email": "a@example.com"}, "target": "account", "list": {"id": "nope"}},
         {("target",), ("list", "id")}),
        ("list", {"person": {"email": "a@example.com"}, "target": "lead", "list": {}}, {("list",)}),
    ],
)
def test_when_a_step_body_is_bad_the_400_names_every_field(
    journey: Journey, step: str, body: dict[str, Any], expected: set[tuple[Any, ...]]
) -> None:
    response = journey.post(step, body)
    assert_problem(response, 400)
    assert locs(response) >= expected


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"'])
def test_when_the_body_is_not_a_json_object_it_is_a_400(journey: Journey, raw: bytes) -> None:
    assert_problem(journey.post("lead", None, raw=raw), 400)


def test_when_the_function_key_is_missing_it_is_a_401(journey: Journey) -> None:
    response = journey.post("lead", {"person": {"email": "a@example.com"}, "subject": "x"}, key="")
    assert response.status_code == 401


def test_when_identifiers_need_an_email_and_none_is_given_it_is_a_400(journey: Journey) -> None:
    response = journey.post("lead", {"person": {"firstName": "Ada"}, "subject": "x"})
    assert_problem(response, 400)
    assert ("person", "email") in locs(response)


def test_when_fields_repeat_a_mapped_person_field_it_is_a_400(journey: Journey) -> None:
    response = journey.post("lead", {"person": person(unique_email(), fields={"firstname": "Other"}),
                                     "subject": "x"})
    assert_problem(response, 400)
    assert locs(response) == {("person", "fields", "firstname")}


def test_when_identifiers_do_not_use_email_a_person_without_one_is_served(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    config.set({"identifiers": {"lead": [["firstname", "lastname"]], "contact": [["firstname", "lastname"]]}})
    result = journey.ok("lead", {"person": {"firstName": "Grace", "lastName": f"Hopper {new_id()[:6]}"},
                                 "subject": "x"})
    assert result["outcome"] == "created"


def test_when_dynamics_is_unavailable_the_step_answers_503_with_retry_after(
    journey: Journey, dynamics: Dynamics
) -> None:
    dynamics.faults({"rate5xx": 1.0, "status5xx": 503})
    response = journey.post("lead", {"person": person(unique_email()), "subject": "x"}, timeout=120)
    problem = assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) >= 1
    assert problem["code"] == "dynamicsUnavailable"


def test_when_dynamics_throttles_past_the_budget_the_step_answers_503_with_its_retry_after(
    journey: Journey, dynamics: Dynamics
) -> None:
    dynamics.faults({"rate429": 1.0, "retryAfter": 120})
    response = journey.post("activity", {"person": person(unique_email()),
                                         "activity": {"type": "task", "subject": "x"}})
    problem = assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) >= 100
    assert problem["code"] == "dynamicsThrottled"


def test_when_dynamics_refuses_the_write_the_step_answers_502_with_its_code(
    journey: Journey, dynamics: Dynamics
) -> None:
    dynamics.faults({"failNext": [{"status": 403, "code": "0x80040220", "message": "Principal user is missing "
                                   "prvCreateLead privilege.", "method": "POST", "path": "leads"}]})
    response = journey.post("lead", {"person": person(unique_email()), "subject": "x"})
    problem = assert_problem(response, 502)
    assert "0x80040220" in problem["detail"]
    assert "prvCreateLead" not in response.text  # Dynamics' own message is not passed on


def test_when_the_list_action_is_refused_the_step_answers_502(journey: Journey, dynamics: Dynamics) -> None:
    email, list_id = unique_email(), new_id()
    dynamics.seed({"lists": [{"listid": list_id, "listname": "N", "createdfromcode": 2}],
                   "contacts": [{"contactid": new_id(), "emailaddress1": email, "lastname": "L"}]})
    dynamics.faults({"failNext": [{"status": 400, "code": "0x80040203", "method": "POST",
                                   "path": f"lists({list_id})"}]})
    response = journey.post("list", {"person": person(email), "target": "contact", "list": {"id": list_id}})
    assert_problem(response, 502)
