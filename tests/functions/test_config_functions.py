"""Config and SyncSettings entry points, called directly, against real Azurite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from shared.config import Configuration, SyncSettings
from tests.conftest import Dataverse
from tests.functions._plumbing import app_environment, body_of, load, request

Config = load("Config")
SyncSettingsFunction = load("SyncSettings")


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch, storage_connection_string: str, dataverse: Dataverse) -> Iterator[None]:
    # A PUT of the configuration checks its columns against the emulator's metadata.
    yield from app_environment(monkeypatch, {
        "AzureWebJobsStorage": storage_connection_string,
        "DYNAMICS_URL": dataverse.root,
        "DYNAMICS_STATIC_TOKEN": dataverse.token,
        "CONFIG_CONTAINER": f"cfg-{uuid.uuid4().hex[:12]}",
        "SYNC_TABLE": f"sync{uuid.uuid4().hex[:12]}",
    })


def test_get_config_before_any_put_returns_the_defaults_with_an_etag() -> None:
    response = Config.main(request("GET", "config"))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert body_of(response) == json.loads(Configuration().model_dump_json())
    assert response.headers["ETag"]
    assert response.headers["x-request-id"]


def test_put_config_with_the_current_etag_stores_it_and_returns_a_new_etag() -> None:
    etag = Config.main(request("GET", "config")).headers["ETag"]
    doc = json.loads(Configuration().model_dump_json()) | {"platformName": "Acme"}
    doc["identifiers"]["lead"] = [["emailaddress1"], ["firstname", "lastname", "companyname"]]

    put = Config.main(request("PUT", "config", doc, headers={"If-Match": etag}))
    assert put.status_code == 200, put.get_body()
    assert put.headers["ETag"] != etag

    got = Config.main(request("GET", "config"))
    assert body_of(got)["platformName"] == "Acme"
    assert body_of(got)["identifiers"]["lead"][1] == ["firstname", "lastname", "companyname"]
    assert got.headers["ETag"] == put.headers["ETag"]


def test_put_config_with_a_stale_etag_is_412_problem() -> None:
    etag = Config.main(request("GET", "config")).headers["ETag"]
    doc = json.loads(Configuration().model_dump_json())
    assert Config.main(request("PUT", "config", doc, headers={"If-Match": etag})).status_code == 200

    stale = Config.main(request("PUT", "config", doc | {"platformName": "Late"}, headers={"If-Match": etag}))
    assert stale.status_code == 412
    assert stale.mimetype == "application/problem+json"
    problem = body_of(stale)
    assert problem["status"] == 412
    assert problem["code"] == "documentModified"
    assert stale.headers["x-request-id"]
    assert body_of(Config.main(request("GET", "config")))["platformName"] == "Platform"


def test_put_config_lists_every_bad_field() -> None:
    doc = {
        "platformName": 7,
        "identifiers": {"lead": [], "contact": [["EmailAddress1"]]},
        "userMapping": {"identities": {"u1": "not-a-guid"}, "defaultOwner": "nope"},
        "surprise": True,
    }
    response = Config.main(request("PUT", "config", doc))
    assert response.status_code == 400
    problem = body_of(response)
    locs = {tuple(error["loc"]) for error in problem["errors"]}
    assert locs == {
        ("platformName",),
        ("identifiers", "lead"),
        ("identifiers", "contact", 0, 0),
        ("userMapping", "identities", "u1"),
        ("userMapping", "defaultOwner"),
        ("surprise",),
    }
    assert all(error["msg"] for error in problem["errors"])
    assert "not-a-guid" not in response.get_body().decode()


def test_put_config_missing_a_required_field_names_it() -> None:
    doc = {"identifiers": {"lead": [["emailaddress1"]]}, "exportMapping": {"exportFields": {"contact": [""]}},
           "campaignMapping": {"opens": 1}}
    response = Config.main(request("PUT", "config", doc))
    assert response.status_code == 400
    locs = [error["loc"] for error in body_of(response)["errors"]]
    assert ["exportMapping", "exportFields", "contact", 0] in locs
    assert ["campaignMapping", "opens"] in locs


def test_put_config_with_malformed_json_is_400_with_no_field_errors() -> None:
    response = Config.main(request("PUT", "config", '{"platformName": '))
    assert response.status_code == 400
    problem = body_of(response)
    assert problem["errors"] == []
    assert problem["type"] == "about:blank"
    assert problem["title"] and problem["detail"]


def test_put_config_over_one_mib_is_413_and_exactly_one_mib_is_read() -> None:
    filler = "x" * (1_048_576 - len('{"platformName": ""}'))
    exact = ('{"platformName": "' + filler + '"}').encode()
    assert len(exact) == 1_048_576
    read = Config.main(request("PUT", "config", exact))
    assert read.status_code == 400  # read and validated: the name is too long, not the body
    assert body_of(read)["errors"][0]["loc"] == ["platformName"]

    too_big = Config.main(request("PUT", "config", exact + b" "))
    assert too_big.status_code == 413
    assert body_of(too_big)["status"] == 413


def test_put_config_with_another_content_type_is_415() -> None:
    response = Config.main(request("PUT", "config", "{}", headers={"content-type": "text/plain"}))
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"


def test_get_sync_settings_returns_the_documented_defaults() -> None:
    response = SyncSettingsFunction.main(request("GET", "sync/settings"))
    assert response.status_code == 200
    assert body_of(response) == json.loads(SyncSettings().model_dump_json())
    assert body_of(response)["dataConfiguration"]["lead"] == {"enabled": False, "criteria": []}


def test_put_sync_settings_round_trips_and_412s_when_stale() -> None:
    etag = SyncSettingsFunction.main(request("GET", "sync/settings")).headers["ETag"]
    doc = json.loads(SyncSettings().model_dump_json()) | {"frequencyHours": 6, "globalSync": False}
    put = SyncSettingsFunction.main(request("PUT", "sync/settings", doc, headers={"If-Match": etag}))
    assert put.status_code == 200
    assert body_of(put)["frequencyHours"] == 6

    stale = SyncSettingsFunction.main(request("PUT", "sync/settings", doc, headers={"If-Match": etag}))
    assert stale.status_code == 412


def test_put_sync_settings_lists_wrong_types_and_bad_values() -> None:
    doc = {
        "globalSync": "yes",
        "frequencyHours": 3,
        "dataConfiguration": {"lead": {"criteria": [{"field": "statecode", "op": "like", "value": 1}]}},
        "fieldMappings": {"contact": [{"platform": "email", "dynamics": "emailaddress1", "direction": "sideways"}]},
        "conflictPolicy": "coinFlip",
    }
    response = SyncSettingsFunction.main(request("PUT", "sync/settings", doc))
    assert response.status_code == 400
    locs = {tuple(error["loc"]) for error in body_of(response)["errors"]}
    assert locs == {
        ("globalSync",),
        ("frequencyHours",),
        ("dataConfiguration", "lead", "criteria", 0, "op"),
        ("fieldMappings", "contact", 0, "direction"),
        ("conflictPolicy",),
    }


def test_other_methods_are_405() -> None:
    response = Config.main(request("DELETE", "config"))
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, PUT"


def test_the_callers_request_id_is_echoed_and_an_insane_one_replaced() -> None:
    mine = Config.main(request("GET", "config", headers={"x-request-id": "abc-123"}))
    assert mine.headers["x-request-id"] == "abc-123"
    insane = Config.main(request("GET", "config", headers={"x-request-id": "<script>" + "x" * 300}))
    assert insane.headers["x-request-id"] != "<script>" + "x" * 300
    assert len(insane.headers["x-request-id"]) == 32
