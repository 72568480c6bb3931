"""What the journey steps answer when the input is bad or Dynamics fails: problem+json, never a 500,
and nothing written twice when the caller retries."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.functions.journey_helpers import (
    ROUTES,
    ConfigDocument,
    Counter,
    Dynamics,
    Journey,
    assert_problem,
    keyed_case,
    locs,
    new_id,
    person,
    unique_email,
)

pytest_plugins = ("tests.functions.journey_fixtures",)


def test_when_a_lead_body_is_bad_every_field_is_listed_and_dynamics_is_not_called(
    journey: Journey, dynamics: Dynamics
) -> None:
    counter = Counter(dynamics)
    response = journey.post("lead", {
        "person": {"email": "not-an-address", "firstName": "F" * 51, "fields": {"Bad-Name": 1}},
        "subject": "", "alwaysCreateLead": "yes", "idempotencyKey": "k" * 201, "surprise": True,
    })
    problem = assert_problem(response, 400)
    assert locs(response) == {("person", "email"), ("person", "firstName"), ("person", "fields", "Bad-Name", "[key]"),
                              ("subject",), ("alwaysCreateLead",), ("idempotencyKey",), ("surprise",)}
    assert problem["detail"] == "The request has 7 invalid fields."
    assert counter.total() == 0


@pytest.mark.parametrize(
    ("step", "body", "expected"),
    [
        ("lead", {"person": {"email": "a@example.com"}}, {("subject",)}),
        ("lead", {"subject": "x"}, {("person",)}),
        ("activity", {"person": {"email": "a@example.com"}, "mode": "sometimes",
                      "activity": {"type": "meeting", "subject": "x" * 201, "priority": "urgent"}},
         {("mode",), ("activity", "type"), ("activity", "subject"), ("activity", "priority")}),
        ("activity", {"person": {"email": "a@example.com"}, "activity": {"type": "task"}}, {("activity", "subject")}),
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
    ids=["lead-no-subject", "lead-no-person", "activity-four-fields", "activity-no-subject", "activity-two-dues",
         "activity-date-time-without-offset", "list-target-and-id", "list-empty-reference"],
)
def test_when_a_step_body_is_bad_the_400_names_every_field(
    journey: Journey, step: str, body: dict[str, Any], expected: set[tuple[Any, ...]]
) -> None:
    response = journey.post(step, body)
    assert_problem(response, 400)
    assert locs(response) == expected


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"NaN", b'{"subject": NaN}'])
def test_when_the_body_is_not_a_json_object_it_is_a_400(journey: Journey, raw: bytes) -> None:
    assert_problem(journey.post("lead", None, raw=raw), 400)


def test_when_the_function_key_is_missing_it_is_a_401(journey: Journey) -> None:
    response = journey.post("lead", {"person": {"email": "a@example.com"}, "subject": "x"}, key="")
    assert_problem(response, 401)


def test_when_identifiers_need_an_email_and_none_is_given_it_is_a_400(journey: Journey) -> None:
    response = journey.post("lead", {"person": {"firstName": "Ada"}, "subject": "x"})
    assert_problem(response, 400)
    assert locs(response) == {("person", "email")}


def test_when_no_identifier_set_of_a_looked_in_table_is_filled_each_missing_member_is_named(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    dynamics.seed({"$entities": {"contact": {"attributes": {"new_platformid": {"type": "string", "maxLength": 100}}}}})
    config.set({"identifiers": {"lead": [["emailaddress1"], ["firstname", "lastname"]],
                                "contact": [["new_platformid"]]}})
    lead = journey.post("lead", {"person": {"firstName": "Ada"}, "subject": "x"})
    assert_problem(lead, 400)
    assert locs(lead) == {("person", "email"), ("person", "lastName"), ("person", "fields", "new_platformid")}
    # Strict Lead mode looks only in Leads: the Contact identifier is not needed.
    strict = journey.post("activity", {"person": {"firstName": "Ada"}, "mode": "lead",
                                       "activity": {"type": "task", "subject": "x"}})
    assert locs(strict) == {("person", "email"), ("person", "lastName")}
    listed = journey.post("list", {"person": {"email": unique_email()}, "target": "contact",
                                   "list": {"name": "Newsletter"}})
    assert locs(listed) == {("person", "fields", "new_platformid")}


def test_when_fields_repeat_a_mapped_person_field_it_is_a_400(journey: Journey) -> None:
    response = journey.post("lead", {"person": person(unique_email(), fields={"firstname": "Other"}),
                                     "subject": "x"})
    assert_problem(response, 400)
    assert locs(response) == {("person", "fields", "firstname")}


def test_when_identifiers_do_not_use_email_a_person_without_one_is_served(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    config.set({"identifiers": {"lead": [["firstname", "lastname"]], "contact": [["firstname", "lastname"]]}})
    last_name = f"Hopper {new_id()[:6]}"
    result = journey.ok("lead", {"person": {"firstName": "Grace", "lastName": last_name}, "subject": "x"})
    assert result["outcome"] == "created"
    lead = dynamics.record("leads", result["recordId"], "firstname,lastname,emailaddress1")
    assert (lead["firstname"], lead["lastname"], lead["emailaddress1"]) == ("Grace", last_name, None)
    again = journey.ok("lead", {"person": {"firstName": "GRACE", "lastName": last_name.lower()}, "subject": "y"})
    assert (again["outcome"], again["recordId"]) == ("updated", result["recordId"])


def test_when_dynamics_is_unavailable_the_step_answers_503_with_retry_after(
    journey: Journey, dynamics: Dynamics
) -> None:
    dynamics.faults({"rate5xx": 1.0, "status5xx": 503})
    response = journey.post("lead", {"person": person(unique_email()), "subject": "x"}, timeout=120)
    assert_problem(response, 503, "dynamicsUnavailable")
    assert int(response.headers["Retry-After"]) >= 1


def test_when_dynamics_throttles_past_the_budget_the_step_answers_503_with_its_retry_after(
    journey: Journey, dynamics: Dynamics
) -> None:
    dynamics.faults({"rate429": 1.0, "retryAfter": 120})
    response = journey.post("activity", {"person": person(unique_email()),
                                         "activity": {"type": "task", "subject": "x"}})
    assert_problem(response, 503, "dynamicsThrottled")
    assert int(response.headers["Retry-After"]) >= 100


def test_when_dynamics_refuses_the_write_the_step_answers_502_with_its_code(
    journey: Journey, dynamics: Dynamics
) -> None:
    email = unique_email()
    dynamics.faults({"failNext": [{"status": 403, "code": "0x80040220", "message": "Principal user is missing "
                                   "prvCreateLead privilege.", "method": "POST", "path": "leads"}]})
    response = journey.post("lead", {"person": person(email), "subject": "x"})
    problem = assert_problem(response, 502, "dynamicsError")
    assert "0x80040220" in problem["detail"]
    assert "prvCreateLead" not in response.text  # Dynamics' own message is not passed on
    assert dynamics.find("leads", emailaddress1=email) == []


def test_when_fields_name_a_missing_column_or_misfit_values_the_step_answers_400_naming_each(
    journey: Journey, dynamics: Dynamics
) -> None:
    email = unique_email()
    fields = {"new_nosuchcolumn": "x", "address1_city": "x" * 81, "donotemail": "yes", "numberofemployees": 1.5,
              "transactioncurrencyid": new_id(), "address1_line1": "fits", "leadsourcecode": 8}
    response = journey.post("lead", {"person": person(email, fields=fields), "subject": "x"})
    assert_problem(response, 400)
    assert locs(response) == {("person", "fields", name) for name in
                              ("new_nosuchcolumn", "address1_city", "donotemail", "numberofemployees",
                               "transactioncurrencyid")}
    assert dynamics.find("leads", emailaddress1=email) == []


def test_when_fields_fit_and_the_metadata_is_cached_the_step_makes_no_extra_round_trip(
    journey: Journey, dynamics: Dynamics
) -> None:
    journey.post("lead", {"person": person(unique_email(), fields={"address1_city": "Leeds"}), "subject": "warm"})
    email = unique_email()
    counter = Counter(dynamics)
    result = journey.ok("lead", {"person": person(email, fields={"address1_city": "York", "donotemail": True}),
                                 "subject": "x"})
    assert result["outcome"] == "created" and result["dynamicsRequests"] == 2
    assert counter.total() == 2
    [lead] = dynamics.find("leads", emailaddress1=email)
    assert (lead["address1_city"], lead["donotemail"]) == ("York", True)


def test_when_the_list_action_is_refused_the_step_answers_502(journey: Journey, dynamics: Dynamics) -> None:
    email, list_id = unique_email(), new_id()
    dynamics.seed({"lists": [{"listid": list_id, "listname": "N", "createdfromcode": 2}],
                   "contacts": [{"contactid": new_id(), "emailaddress1": email, "lastname": "L"}]})
    dynamics.faults({"failNext": [{"status": 400, "code": "0x80040203", "method": "POST",
                                   "path": f"lists({list_id})"}]})
    response = journey.post("list", {"person": person(email), "target": "contact", "list": {"id": list_id}})
    problem = assert_problem(response, 502, "dynamicsError")
    assert "0x80040203" in problem["detail"]
    assert dynamics.members(list_id, "contact") == []


@pytest.mark.parametrize("step", ["lead", "list"])
def test_when_the_record_found_vanishes_before_the_write_the_step_answers_503_and_a_retry_decides_afresh(
    journey: Journey, dynamics: Dynamics, step: str
) -> None:
    """A Lead merged away, or a list deleted, between the look-up and the write (Dataverse: 404)."""
    email, record_id, list_id = unique_email(), new_id(), new_id()
    if step == "lead":
        dynamics.seed({"leads": [{"leadid": record_id, "emailaddress1": email, "lastname": "L"}]})
        body, method, path = {"person": person(email), "subject": "x"}, "PATCH", "leads"
    else:
        dynamics.seed({"lists": [{"listid": list_id, "listname": "N", "createdfromcode": 2}],
                       "contacts": [{"contactid": record_id, "emailaddress1": email, "lastname": "L"}]})
        body, method, path = {"person": person(email), "target": "contact", "list": {"id": list_id}}, "POST", "lists"
    dynamics.faults({"failNext": [{"status": 404, "code": "0x80040217", "method": method, "path": path}]})
    response = journey.post(step, body)
    assert_problem(response, 503, "dynamicsChanged")
    assert response.headers["Retry-After"] == "1"
    retried = journey.ok(step, body)
    assert (retried["outcome"], retried["recordId"]) == ("updated" if step == "lead" else "added", record_id)


# -- Dynamics fails between the look-up and the write; the caller retries with the same key ---------


# Each fault outlasts the client's retry budget (5 attempts, 30 s) on the step's write only.
FAULTS = {
    "503": ({"status": 503, "count": 10}, "dynamicsUnavailable", False),
    "429-past-budget": ({"status": 429, "retryAfter": 120, "count": 10}, "dynamicsThrottled", False),
    "dropped-after-commit": ({"drop": True, "after": True, "count": 10}, "dynamicsUnavailable", True),
}
# The outcome a retry reports once the fault is gone: after a landed write the list step can
# only see that the person is a member (membership has no id it chose).
RETRIED = {"lead": "created", "activity": "activityLogged", "list": "added"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "fault"),
    [("lead", "503"), ("lead", "dropped-after-commit"), ("activity", "429-past-budget"),
     ("activity", "dropped-after-commit"), ("list", "503"), ("list", "dropped-after-commit")],
)
def test_when_dynamics_fails_at_the_write_the_step_answers_503_and_the_retry_writes_once(
    journey: Journey, dynamics: Dynamics, step: str, fault: str
) -> None:
    case = keyed_case(step, dynamics)
    rule, code, lands = FAULTS[fault]
    dynamics.faults({"failNext": [{**rule, "method": "POST", "path": case.write_path}]})
    response = journey.post(step, case.body, timeout=120)
    assert_problem(response, 503, code)
    assert int(response.headers["Retry-After"]) >= (100 if fault == "429-past-budget" else 1)
    landed = case.written(dynamics)
    assert len(landed) == (1 if lands else 0)

    dynamics.faults({})
    retried = journey.ok(step, case.body)
    assert retried["idempotent"] is False  # a failure is never stored for replay
    outcome = "alreadyMember" if step == "list" and lands else RETRIED[step]
    assert retried["outcome"] == outcome
    # After a landed write the look-up alone tells a Lead or a membership; a Task's create meets 412,
    # and a read of its chosen id tells the earlier attempt from another key's row.
    assert retried["dynamicsRequests"] == {(True, "activity"): 3, (True, "lead"): 1, (True, "list"): 1}.get(
        (lands, step), 2)
    written = case.written(dynamics)
    assert len(written) == 1
    assert not landed or written == landed
    assert retried[case.id_field] == written[0]
    assert journey.ok(step, case.body) == {**retried, "idempotent": True}


@pytest.mark.parametrize("step", ["lead", "activity", "list"])
@pytest.mark.parametrize(("content_type", "status"), [
    ("text/plain", 415), ("application/xml", 415), ("application/json; charset=iso-8859-1", 415),
    ("application/x-www-form-urlencoded", 415), ("application/json; charset=UTF-8", 400),
    ("application/vnd.platform+json", 400), (None, 400),
])
def test_when_the_body_is_not_json_by_its_content_type_the_step_is_415(
    journey: Journey, step: str, content_type: str | None, status: int
) -> None:
    headers = {"x-functions-key": journey.key}
    if content_type is not None:
        headers["Content-Type"] = content_type
    # `{}` is JSON that breaks the schema: a content type read as JSON gets the 400 listing fields.
    response = requests.post(f"{journey.root}/api/{ROUTES[step]}", data=b"{}", headers=headers, timeout=30)
    assert_problem(response, status)
