"""PUT /api/sync/settings end to end: the entry point against Azurite and the emulator's metadata,
and the initial syncs a saved change starts (read back from the sync table)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.app import dependencies, reset_dependencies
from shared.config import SyncSettings
from shared.store.sync_state import KindState
from tests.conftest import Dataverse
from tests.functions._plumbing import app_environment, body_of, load, request

SyncSettingsFunction = load("SyncSettings")

EXAMPLE = {
    "globalSync": True, "frequencyHours": 4, "conflictPolicy": "dynamicsWins",
    "dataConfiguration": {"contact": {"enabled": False, "criteria": []},
                          "lead": {"enabled": True, "criteria": [
                              {"field": "leadsourcecode", "op": "eq", "value": 8},
                              {"field": "emailaddress1", "op": "endsWith", "value": "@contoso.com"}]}},
    "fieldMappings": {"contact": [],
                      "lead": [{"platform": "email", "dynamics": "emailaddress1", "direction": "both"},
                               {"platform": "platformFields.score", "dynamics": "new_score",
                                "direction": "toDynamics"}]},
}


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch, storage_connection_string: str, dataverse: Dataverse) -> Iterator[None]:
    yield from app_environment(monkeypatch, {
        "AzureWebJobsStorage": storage_connection_string,
        "DYNAMICS_URL": dataverse.root,
        "DYNAMICS_STATIC_TOKEN": dataverse.token,
        "CONFIG_CONTAINER": f"cfg-{uuid.uuid4().hex[:12]}",
        "SYNC_TABLE": f"sync{uuid.uuid4().hex[:12]}",
    })


def put(doc: dict[str, Any], etag: str | None = None) -> Any:
    etag = etag or SyncSettingsFunction.main(request("GET", "sync/settings")).headers["ETag"]
    return SyncSettingsFunction.main(request("PUT", "sync/settings", doc, headers={"If-Match": etag}))


def state(kind: str) -> KindState:
    return dependencies().sync_state.get(kind)


def test_when_the_example_fits_the_columns_it_is_stored(dataverse: Dataverse) -> None:
    dataverse.seed({"$entities": {"lead": {"attributes": {"new_score": "int"}}}})
    response = put(EXAMPLE)
    assert response.status_code == 200, body_of(response)
    assert body_of(response) == EXAMPLE
    assert body_of(SyncSettingsFunction.main(request("GET", "sync/settings"))) == EXAMPLE


def test_when_columns_do_not_fit_every_misfit_is_listed_and_nothing_is_stored() -> None:
    doc = json.loads(json.dumps(EXAMPLE))
    doc["dataConfiguration"]["lead"]["criteria"].append({"field": "leadsourcecode", "op": "gt", "value": 1})
    doc["dataConfiguration"]["contact"]["criteria"] = [{"field": "donotemail", "op": "eq", "value": "no"}]
    doc["fieldMappings"]["contact"] = [{"platform": "firstName", "dynamics": "fullname", "direction": "both"}]
    response = put(doc)
    assert response.status_code == 400
    assert [e["loc"] for e in body_of(response)["errors"]] == [
        ["dataConfiguration", "lead", "criteria", 2, "op"],
        ["fieldMappings", "lead", 1, "dynamics"],  # new_score is not a column of lead here
        ["dataConfiguration", "contact", "criteria", 0, "value"],
        ["fieldMappings", "contact", 0, "dynamics"],
    ]
    assert body_of(SyncSettingsFunction.main(request("GET", "sync/settings"))) == json.loads(
        SyncSettings().model_dump_json())
    assert state("lead").etag is None  # nothing started


def test_when_the_schema_is_broken_dynamics_is_not_asked(dataverse: Dataverse) -> None:
    before = dataverse.stats()["total"]
    response = put({"frequencyHours": 5, "dataConfiguration": {"lead": {"criteria": [{"field": "x", "op": "like"}]}}})
    assert response.status_code == 400
    assert {tuple(e["loc"]) for e in body_of(response)["errors"]} == {
        ("frequencyHours",), ("dataConfiguration", "lead", "criteria", 0, "op")}
    assert dataverse.stats()["total"] == before


def test_when_if_match_is_missing_the_answer_is_428_before_dynamics_is_asked(dataverse: Dataverse) -> None:
    before = dataverse.stats()["total"]
    response = SyncSettingsFunction.main(request("PUT", "sync/settings", EXAMPLE))
    assert response.status_code == 428
    assert body_of(response)["code"] == "ifMatchRequired"
    assert dataverse.stats()["total"] == before
    assert state("lead").etag is None  # nothing started


def test_when_dynamics_cannot_be_asked_the_answer_is_503_and_nothing_is_stored(
        monkeypatch: pytest.MonkeyPatch) -> None:
    etag = SyncSettingsFunction.main(request("GET", "sync/settings")).headers["ETag"]
    monkeypatch.setenv("DYNAMICS_URL", "http://127.0.0.1:9")
    reset_dependencies()
    response = put({"dataConfiguration": {"lead": {"enabled": True}}}, etag)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert SyncSettingsFunction.main(request("GET", "sync/settings")).headers["ETag"] == etag


def test_when_a_kind_is_enabled_its_next_run_is_an_initial_sync_from_scratch() -> None:
    sync_state = dependencies().sync_state
    for kind in ("lead", "contact"):
        sync_state.save(KindState(kind, initial_pending=False, delta_link=f"{kind}-link"))
    assert put({"dataConfiguration": {"lead": {"enabled": True}}}).status_code == 200
    assert (state("lead").initial_pending, state("lead").delta_link) == (True, None)
    assert (state("contact").initial_pending, state("contact").delta_link) == (False, "contact-link")
    assert put({"dataConfiguration": {"lead": {"enabled": True}}, "frequencyHours": 2}).status_code == 200
    assert state("contact").initial_pending is False


def test_when_global_sync_is_turned_back_on_every_kind_starts_from_scratch() -> None:
    assert put({"globalSync": False}).status_code == 200
    sync_state = dependencies().sync_state
    for kind in ("lead", "contact"):
        sync_state.save(KindState(kind, initial_pending=False, last_key="k", watermark="2026-01-01T00:00:00Z"))
    assert put({"globalSync": True}).status_code == 200
    for kind in ("lead", "contact"):
        assert (state(kind).initial_pending, state(kind).last_key, state(kind).watermark) == (True, None, None)


def test_when_the_etag_is_stale_nothing_is_stored_and_nothing_starts() -> None:
    first = SyncSettingsFunction.main(request("GET", "sync/settings")).headers["ETag"]
    assert put({"frequencyHours": 2}, first).status_code == 200
    dependencies().sync_state.save(KindState("lead", initial_pending=False, delta_link="kept"))
    response = put({"dataConfiguration": {"lead": {"enabled": True}}}, first)
    assert response.status_code == 412
    assert state("lead").delta_link == "kept"
