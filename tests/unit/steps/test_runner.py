"""The step runner over a hand-written fake of the client's interface: one look-up round trip,
at most one write, dry runs write nothing, and a create that meets its own derived id succeeds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shared.dynamics.errors import RecordExistsError
from shared.dynamics.query import Query
from shared.steps.config import StepConfig
from shared.steps.models import ActivityRequest, LeadRequest
from shared.steps.result import Action, Create, Plan, StepResult, Update
from shared.steps.runner import ADD_ACTIVITY, CREATE_UPDATE_LEAD, act, run_step

LEAD_ID = "00000000-0000-0000-0000-0000000000a1"


class FakeClient:
    """Answers `query_batch` with canned rows per entity set and records every write."""

    def __init__(self, rows: Mapping[str, list[dict[str, Any]]] | None = None, *, exists: set[str] | None = None):
        self.rows = dict(rows or {})
        self.exists = exists or set()
        self.request_count = 0
        self.batches: list[list[tuple[str, Query | None]]] = []
        self.writes: list[tuple[str, ...]] = []

    def query_batch(self, queries: list[tuple[str, Query | None]]) -> list[list[dict[str, Any]]]:
        self.request_count += 1
        self.batches.append(list(queries))
        return [list(self.rows.get(entity_set, [])) for entity_set, _ in queries]

    def create_record(self, entity_set: str, data: Mapping[str, Any], *, record_id: str | None = None) -> str:
        self.request_count += 1
        self.writes.append(("create", entity_set))
        if record_id in self.exists:
            raise RecordExistsError(412, "0x80040237", "A record with matching key values already exists.")
        return record_id or "00000000-0000-0000-0000-00000000ffff"

    def update_record(self, entity_set: str, id: str, data: Mapping[str, Any]) -> None:
        self.request_count += 1
        self.writes.append(("update", entity_set, id))

    def call_action(self, name: str, body: Mapping[str, Any] | None = None, *, entity_set: str | None = None,
                    record_id: str | None = None) -> dict[str, Any]:
        self.request_count += 1
        self.writes.append(("action", name))
        return {}


def lead_request(**changes: Any) -> LeadRequest:
    return LeadRequest.model_validate({"person": {"email": "ada@example.com"}, "subject": "Hi", **changes})


def test_when_a_lead_is_created_the_step_makes_two_round_trips() -> None:
    client = FakeClient()
    body = run_step(CREATE_UPDATE_LEAD, lead_request(), {}, client=client, store=None, config=StepConfig())
    assert body["outcome"] == "created"
    assert body["recordId"] == "00000000-0000-0000-0000-00000000ffff"
    assert body["dynamicsRequests"] == 2
    assert len(client.batches) == 1 and len(client.batches[0]) == 2  # lead and contact in one batch
    assert client.writes == [("create", "leads")]


def test_when_a_contact_stops_the_step_one_round_trip_and_no_write() -> None:
    contact = {"contactid": "00000000-0000-0000-0000-0000000000c1", "statecode": 0, "emailaddress1": "ada@example.com"}
    client = FakeClient({"contacts": [contact]})
    body = run_step(CREATE_UPDATE_LEAD, lead_request(), {}, client=client, store=None, config=StepConfig())
    assert (body["outcome"], body["reason"], body["dynamicsRequests"]) == ("skipped", "existsAsContact", 1)
    assert client.writes == []


def test_when_a_dry_run_is_asked_the_lookups_run_and_nothing_is_written() -> None:
    client = FakeClient({"leads": [{"leadid": LEAD_ID, "statecode": 0}]})
    body = run_step(CREATE_UPDATE_LEAD, lead_request(dryRun=True, idempotencyKey="k"), {}, client=client,
                    store=None, config=StepConfig())
    assert (body["outcome"], body["recordId"], body["dryRun"], body["dynamicsRequests"]) == (
        "updated", LEAD_ID, True, 1)
    assert client.writes == []


def test_when_the_create_meets_its_own_derived_id_the_earlier_attempt_is_reported() -> None:
    derived = "00000000-0000-0000-0000-00000000dddd"
    client = FakeClient(exists={derived})
    plan = Plan(StepResult(outcome="activityLogged", detail="x"), Create("tasks", {}, record_id=derived),
                created_id_field="activity_id")
    assert act(client, plan).activity_id == derived


def test_when_the_create_meets_an_existing_id_it_did_not_choose_the_error_stands() -> None:
    class Refusing(FakeClient):
        def create_record(self, entity_set: str, data: Mapping[str, Any], *, record_id: str | None = None) -> str:
            raise RecordExistsError(412, "0x80040237", "duplicate")

    with pytest.raises(RecordExistsError):
        act(Refusing(), Plan(StepResult(outcome="created", detail="x"), Create("leads", {})))


def test_when_plans_update_or_call_an_action_the_client_is_called_once() -> None:
    client = FakeClient()
    act(client, Plan(StepResult(outcome="updated", detail="x"), Update("leads", LEAD_ID, {"subject": "s"})))
    act(client, Plan(StepResult(outcome="added", detail="x"), Action("AddMemberList", "lists", LEAD_ID, {})))
    assert client.writes == [("update", "leads", LEAD_ID), ("action", "AddMemberList")]


def test_when_an_activity_is_logged_the_activity_id_is_reported() -> None:
    client = FakeClient({"leads": [{"leadid": LEAD_ID, "statecode": 0}]})
    request = ActivityRequest.model_validate({"person": {"email": "ada@example.com"},
                                              "activity": {"type": "task", "subject": "Call"}})
    body = run_step(ADD_ACTIVITY, request, {}, client=client, store=None, config=StepConfig())
    assert (body["outcome"], body["entity"], body["recordId"], body["dynamicsRequests"]) == (
        "activityLogged", "lead", LEAD_ID, 2)
    assert body["activityId"] == "00000000-0000-0000-0000-00000000ffff"
