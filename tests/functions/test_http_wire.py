"""The plumbing over real HTTP: the function app on the local host, real Azurite and the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from devtools import stack


@pytest.fixture
def api(function_host: stack.Service) -> str:
    return f"{function_host.url}/api"


@pytest.fixture
def keyed(function_key: str) -> dict[str, str]:
    return {"x-functions-key": function_key}


@pytest.fixture
def restore_config(function_host: stack.Service) -> Iterator[None]:
    """The shared host keeps its documents in `connector-config`: leave it as it was (nothing stored)."""
    yield
    blobs = BlobServiceClient.from_connection_string(function_host.env["AzureWebJobsStorage"])
    container = blobs.get_container_client("connector-config")
    for name in ("configuration.json", "sync-settings.json"):
        blob = container.get_blob_client(name)
        if blob.exists():
            blob.delete_blob()


def test_health_answers_200_without_a_key(api: str) -> None:
    response = requests.get(f"{api}/health", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "healthy"
    assert response.headers["x-request-id"]


def test_config_round_trip_with_etags_over_http(api: str, keyed: dict[str, str], restore_config: None) -> None:
    got = requests.get(f"{api}/config", headers={**keyed, "x-request-id": "wire-1"}, timeout=30)
    assert got.status_code == 200
    assert got.headers["x-request-id"] == "wire-1"
    etag = got.headers["ETag"]
    doc = got.json() | {"platformName": "Wire"}

    put = requests.put(f"{api}/config", json=doc, headers={**keyed, "If-Match": etag}, timeout=30)
    assert put.status_code == 200, put.text
    assert put.json()["platformName"] == "Wire"

    stale = requests.put(f"{api}/config", json=doc, headers={**keyed, "If-Match": etag}, timeout=30)
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["code"] == "documentModified"


def test_sync_settings_bad_fields_are_listed_over_http(api: str, keyed: dict[str, str]) -> None:
    response = requests.put(f"{api}/sync/settings", json={"frequencyHours": 5, "globalSync": "on"},
                            headers=keyed, timeout=30)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("frequencyHours",), ("globalSync",)}
    assert response.headers["x-request-id"]


def test_malformed_json_over_http_is_400_with_empty_errors(api: str, keyed: dict[str, str]) -> None:
    response = requests.put(f"{api}/config", data=b'{"platformName": ',
                            headers={**keyed, "content-type": "application/json"}, timeout=30)
    assert response.status_code == 400
    assert response.json()["errors"] == []


def test_a_body_over_one_mib_over_http_is_413(api: str, keyed: dict[str, str]) -> None:
    body = b'{"platformName": "' + b"x" * 1_048_576 + b'"}'
    response = requests.put(f"{api}/config", data=body,
                            headers={**keyed, "content-type": "application/json"}, timeout=60)
    assert response.status_code == 413
    assert response.headers["x-request-id"]


def test_without_a_key_the_host_answers_401_problem(api: str) -> None:
    response = requests.get(f"{api}/config", timeout=30)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-request-id"]
