"""The step runner over a hand-written fake of the client's interface: one look-up round trip,
at most one write, dry runs write nothing, and a create Dataverse refuses as a duplicate fails
(the client itself returns a create whose derived id is already there: tests/unit/dynamics)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from shared.dynamics.errors import RecordExistsError
from shared.dynamics.metadata import Column, MetadataCache, TableColumns
from shared.dynamics.query import Query
from shared.steps.config import StepConfig
from shared.steps.models import ActivityRequest, LeadRequest
from shared.steps.person import InvalidStepInput
from shared.steps.result import Action, Create, Plan, StepResult, Update
from shared.steps.runner import ADD_ACTIVITY, CREATE_UPDATE_LEAD, act, run_step
from shared.store import IdempotencyStore, StorageClients

LEAD_ID = "00000000-0000-0000-0000-0000000000a1"


class FakeClient:
    """Answers `query_batch` with canned rows per entity set and records every write."""

    def __init__(self, rows: Mapping[str, list[dict[str, Any]]] | None = None):
        self.rows = dict(rows or {})
        self.request_count = 0
        self.batches: list[list[tuple[str, Query | None]]] = []
        self.writes: list[tuple[str, ...]] = []

    def get_table_columns(self, table: str) -> TableColumns:
        self.request_count += 1
        self.writes.append(("columns", table))
        return TableColumns(table, {"address1_city": Column("address1_city", "String", 80)})

    def query_batch(self, queries: list[tuple[str, Query | None]]) -> list[list[dict[str, Any]]]:
        self.request_count += 1
        self.batches.append(list(queries))
        return [list(self.rows.get(entity_set, [])) for entity_set, _ in queries]

    def create_record(self, entity_set: str, data: Mapping[str, Any], *, record_id: str | None = None) -> str:
        self.request_count += 1
        self.writes.append(("create", entity_set))
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


def test_when_dynamics_refuses_the_create_as_a_duplicate_the_error_stands() -> None:
    class Refusing(FakeClient):
        def create_record(self, entity_set: str, data: Mapping[str, Any], *, record_id: str | None = None) -> str:
            raise RecordExistsError(412, "0x80040237", "duplicate")

    with pytest.raises(RecordExistsError):
        act(Refusing(), Plan(StepResult(outcome="created", detail="x"), Create("leads", {})))
    with pytest.raises(RecordExistsError):  # an alternate key matched another row
        act(Refusing(), Plan(StepResult(outcome="created", detail="x"), Create("leads", {}, record_id=LEAD_ID)))


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


def test_when_fields_are_given_the_columns_are_read_once_per_cache_and_misfits_are_400() -> None:
    cache, client = MetadataCache(), FakeClient()
    person = {"email": "ada@example.com", "fields": {"address1_city": "York"}}
    body = run_step(CREATE_UPDATE_LEAD, lead_request(person=person), {}, client=client, store=None,
                    config=StepConfig(), metadata=cache)
    assert body["dynamicsRequests"] == 3 and client.writes[0] == ("columns", "lead")
    warm = FakeClient()
    assert run_step(CREATE_UPDATE_LEAD, lead_request(person=person), {}, client=warm, store=None,
                    config=StepConfig(), metadata=cache)["dynamicsRequests"] == 2
    with pytest.raises(InvalidStepInput) as caught:
        run_step(CREATE_UPDATE_LEAD, lead_request(person={"fields": {"address1_city": "x" * 81, "new_x": 1}}), {},
                 client=FakeClient(), store=None, config=StepConfig(), metadata=cache)
    assert [loc for loc, _ in caught.value.errors] == [
        ("person", "email"), ("person", "fields", "address1_city"), ("person", "fields", "new_x")]


def test_when_a_keyed_step_is_replayed_dynamics_is_not_asked_even_for_columns(storage_connection_string: str) -> None:
    storage = StorageClients.from_connection_string(storage_connection_string)
    table = f"replay{uuid.uuid4().hex[:12]}"
    store = IdempotencyStore(lambda: storage.table(table), retention=timedelta(days=7), lease=timedelta(seconds=60))
    request = lead_request(idempotencyKey="k1", person={"email": "ada@example.com", "fields": {"address1_city": "York"}})
    raw = request.model_dump(mode="json", by_alias=True)
    first = run_step(CREATE_UPDATE_LEAD, request, raw, client=FakeClient(), store=store, config=StepConfig(),
                     metadata=MetadataCache())
    cold, replay_client = MetadataCache(), FakeClient()
    replay = run_step(CREATE_UPDATE_LEAD, request, raw, client=replay_client, store=store, config=StepConfig(),
                      metadata=cold)
    assert replay == {**first, "idempotent": True}
    assert replay_client.request_count == 0
