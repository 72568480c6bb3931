"""The plumbing over real HTTP: the function app on the local host, real Azurite and the emulator."""

from __future__ import annotations

import json
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


def _one_mib_document(api: str, keyed: dict[str, str]) -> tuple[bytes, str]:
    """The current configuration padded with insignificant whitespace to exactly 1,048,576 bytes, and its ETag."""
    current = requests.get(f"{api}/config", headers=keyed, timeout=30)
    text = json.dumps(current.json()).encode()
    body = text[:-1] + b" " * (1_048_576 - len(text)) + b"}"
    assert len(body) == 1_048_576
    return body, current.headers["ETag"]


def _in_chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 65_536):
        yield body[start : start + 65_536]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_one_mib_is_read_and_one_byte_more_is_413(
    api: str, keyed: dict[str, str], restore_config: None, chunked: bool
) -> None:
    exact, etag = _one_mib_document(api, keyed)
    headers = {**keyed, "content-type": "application/json", "If-Match": etag}
    for body, status in ((exact, 200), (exact + b" ", 413)):
        data = _in_chunks(body) if chunked else body
        response = requests.put(f"{api}/config", data=data, headers=headers, timeout=60)
        assert response.status_code == status, response.text[:300]
        assert response.headers["x-request-id"]
        if chunked:
            assert "content-length" not in {name.lower() for name in response.request.headers}
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (problem["status"], problem["code"]) == (413, "bodyTooLarge")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field_errors"),
    [
        (b'{"platformName": ', "application/json", 400, False),  # cut short
        (b'\xff\xfe{"platformName": "x"}', "application/json", 400, False),  # not UTF-8
        (b"[" * 10_000 + b"]" * 10_000, "application/json", 400, False),  # nested past any parser's limit
        (b'{"platformName": ' + b"[" * 300 + b"]" * 300 + b"}", "application/json", 400, False),
        (b'"just a string"', "application/json", 400, True),  # JSON, but not an object
        (b"[1, 2]", "application/json", 400, True),
        (b'{"platformName": 5, "surprise": true}', "application/json", 400, True),  # wrong type, unknown field
        (b'{"platformName": "x"}', "text/plain", 415, False),
        (b'{"platformName": "x"}', "application/json; charset=latin-1", 415, False),
    ],
    ids=["truncated", "invalid-utf8", "deep-10000", "deep-300", "string", "array", "wrong-type", "text-plain",
         "latin-1"],
)
def test_malformed_bodies_over_http_are_problems_with_a_request_id(
    api: str, keyed: dict[str, str], body: bytes, content_type: str, status: int, field_errors: bool
) -> None:
    response = requests.put(f"{api}/config", data=body, headers={**keyed, "content-type": content_type}, timeout=30)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-request-id"]
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if status == 400:
        assert bool(problem["errors"]) is field_errors, problem


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "DELETE"])
def test_methods_a_function_does_not_serve_are_405_with_allow_and_a_request_id(
    api: str, keyed: dict[str, str], method: str
) -> None:
    response = requests.request(method, f"{api}/config", headers=keyed, timeout=30)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, PUT"
    assert response.headers["x-request-id"]
    assert response.headers["content-type"].startswith("application/problem+json")


def test_the_key_works_as_header_or_code_parameter(api: str, function_key: str) -> None:
    assert requests.get(f"{api}/config", headers={"x-functions-key": function_key}, timeout=30).status_code == 200
    assert requests.get(f"{api}/config", params={"code": function_key}, timeout=30).status_code == 200
    wrong = requests.get(f"{api}/config", params={"code": "wrong"}, timeout=30)
    assert wrong.status_code == 401 and wrong.headers["x-request-id"]


def test_without_a_key_the_host_answers_401_problem(api: str) -> None:
    response = requests.get(f"{api}/config", timeout=30)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-request-id"]
