"""The one log line of a step invocation: fields, masking, levels, read back with caplog. No I/O."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from shared.http import ProblemError, as_problem, request_context
from shared.steps.models import LeadRequest, ListRequest
from shared.steps.step_log import error_line, log_step, result_line
from shared.store import PersonBusy

LEAD_ID = "00000000-0000-0000-0000-0000000000a1"
LEAD = LeadRequest.model_validate({"person": {"id": "p-42", "email": "ada.lovelace@example.com",
                                              "firstName": "Ada", "lastName": "Lovelace"}, "subject": "Hi"})
UPDATED = {"outcome": "updated", "entity": "lead", "recordId": LEAD_ID, "activityId": None, "reason": None,
           "detail": "Updated Ada Lovelace's open Lead.", "dynamicsRequests": 2, "idempotent": False,
           "dryRun": False}


def logged(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    lines = [record for record in caplog.records if record.name == "shared.steps.step_log"]
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert message.startswith("[req-1] step {") or message.startswith("step {"), message
    fields = json.loads(message[message.index("{"):])
    assert fields == lines[0].step  # the same fields ride on the record for exporters
    return dict(fields)


def test_when_a_step_updates_a_lead_the_line_names_the_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with request_context("req-1"):
        log_step(result_line("CreateUpdateLead", LEAD, UPDATED, 57))
    line = logged(caplog)
    assert line == {
        "function": "CreateUpdateLead", "status": 200, "outcome": "updated", "reason": None, "code": None,
        "entity": "lead", "recordId": LEAD_ID, "activityId": None, "dynamicsRequests": 2, "durationMs": 57,
        "idempotent": False, "dryRun": False, "personId": "p-42", "email": "a***@example.com", "requestId": "req-1",
    }
    assert caplog.records[-1].levelno == logging.INFO


def test_when_a_line_is_written_it_holds_no_address_name_or_sentence(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log_step(result_line("CreateUpdateLead", LEAD, UPDATED, 1))
    text = caplog.text
    assert "ada.lovelace@" not in text and "Lovelace" not in text and "Ada" not in text


def test_when_a_list_refuses_the_422_line_says_which_list_and_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    request = ListRequest.model_validate({"person": {"email": "ada@example.com"}, "target": "contact",
                                          "list": {"name": "Spring"}})
    problem = ProblemError(422, "Marketing list is locked", "The marketing list 'Spring' is locked, so no members "
                           "can be added.", code="listLocked")
    log_step(error_line("AddToMarketingList", request, problem, 31, 1))
    line = logged(caplog)
    assert (line["status"], line["code"], line["list"], line["dynamicsRequests"]) == (
        422, "listLocked", {"name": "Spring"}, 1)
    assert "'Spring' is locked" in line["detail"]
    assert line["outcome"] is None and line["email"] == "a***@example.com"


def test_when_the_body_is_refused_the_400_line_lists_the_bad_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    problem = ProblemError(400, "Invalid request", "The request has 2 invalid fields.",
                           errors=[{"loc": ["person", "email"], "msg": "is required"},
                                   {"loc": ["person", "fields", "new_x"], "msg": "bad"}])
    log_step(error_line("CreateUpdateLead", LEAD, problem, 3, 0))
    assert logged(caplog)["errors"] == ["person.email", "person.fields.new_x"]


@pytest.mark.parametrize(
    ("error", "status", "code", "level"),
    [
        (PersonBusy(3), 409, "personBusy", logging.INFO),
        (RuntimeError("bug"), 500, None, logging.ERROR),
    ],
)
def test_when_a_step_fails_the_line_carries_the_status_and_code_it_was_answered_with(
    caplog: pytest.LogCaptureFixture, error: Exception, status: int, code: str | None, level: int
) -> None:
    caplog.set_level(logging.INFO)
    log_step(error_line("CreateUpdateLead", LEAD, as_problem(error), 5, 0))
    line = logged(caplog)
    assert (line["status"], line["code"]) == (status, code)
    assert caplog.records[-1].levelno == level


def test_when_the_step_is_part_of_a_batch_the_line_names_batch_and_step(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log_step(result_line("JourneyBatch", LEAD, UPDATED, 4, batch_id="journey-42.run-7", step_id="s1"))
    line = logged(caplog)
    assert (line["batchId"], line["stepId"]) == ("journey-42.run-7", "s1")
