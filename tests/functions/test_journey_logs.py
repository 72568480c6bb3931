"""The operator's log line of each step invocation, read from the local host's own log file after
real HTTP calls: one `step {...}` line per call, with the request id, the record an update
touched, the list a 422 refused and why, and never a full e-mail address."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import requests

from devtools import stack
from tests.functions.journey_helpers import ROUTES, Dynamics, person, unique_email

pytest_plugins = ("tests.functions.journey_fixtures",)


def _call(host: stack.Service, key: str, step: str, body: dict[str, Any]) -> tuple[str, requests.Response]:
    request_id = f"logs-{uuid.uuid4().hex}"
    response = requests.post(f"{host.url}/api/{ROUTES[step]}", json=body, timeout=60,
                             headers={"x-functions-key": key, "x-request-id": request_id})
    assert response.headers["x-request-id"] == request_id
    return request_id, response


def _step_lines(host: stack.Service, request_id: str) -> list[dict[str, Any]]:
    """The step lines of one request in the host's log (the host writes them as it goes)."""
    deadline = time.monotonic() + 10
    while True:
        found = [json.loads(line[line.index("step {") + 5:])
                 for line in host.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if f"[{request_id}] step {{" in line]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_when_steps_run_each_leaves_one_line_an_operator_can_read(
    function_host: stack.Service, function_key: str, dynamics: Dynamics
) -> None:
    email = unique_email("logs")
    created_id, created = _call(function_host, function_key, "lead", {"person": person(email), "subject": "One"})
    updated_id, updated = _call(function_host, function_key, "lead", {"person": person(email), "subject": "Two"})
    assert created.status_code == updated.status_code == 200
    (created_line,) = _step_lines(function_host, created_id)
    (updated_line,) = _step_lines(function_host, updated_id)
    assert (created_line["function"], created_line["status"], created_line["outcome"]) == (
        "CreateUpdateLead", 200, "created")
    assert (updated_line["outcome"], updated_line["entity"], updated_line["recordId"]) == (
        "updated", "lead", created.json()["recordId"])
    assert updated_line["dynamicsRequests"] == 2 and updated_line["requestId"] == updated_id
    assert updated_line["idempotent"] is False and updated_line["dryRun"] is False
    assert isinstance(updated_line["durationMs"], int)
    assert updated_line["email"] == f"{email[0]}***@example.com"
    assert email not in function_host.log_path.read_text(encoding="utf-8", errors="replace")


def test_when_a_list_is_refused_the_line_says_which_list_and_why(
    function_host: stack.Service, function_key: str, dynamics: Dynamics
) -> None:
    email, list_id = unique_email("logs"), str(uuid.uuid4())
    dynamics.seed({"lists": [{"listid": list_id, "listname": "Locked for logs", "createdfromcode": 2,
                              "lockstatus": True}],
                   "contacts": [{"contactid": str(uuid.uuid4()), "emailaddress1": email, "lastname": "L"}]})
    request_id, response = _call(function_host, function_key, "list",
                                 {"person": person(email), "target": "contact", "list": {"id": list_id}})
    assert response.status_code == 422
    (line,) = _step_lines(function_host, request_id)
    assert (line["status"], line["code"], line["list"]) == (422, "listLocked", {"id": list_id})
    assert "locked" in line["detail"] and line["outcome"] is None


def test_when_the_configuration_makes_the_person_unusable_the_400_line_names_the_fields(
    function_host: stack.Service, function_key: str, dynamics: Dynamics
) -> None:
    request_id, response = _call(function_host, function_key, "lead",
                                 {"person": {"firstName": "Ada"}, "subject": "No identifier"})
    assert response.status_code == 400
    (line,) = _step_lines(function_host, request_id)
    assert line["status"] == 400 and line["errors"] == [".".join(item["loc"]) for item in response.json()["errors"]]
