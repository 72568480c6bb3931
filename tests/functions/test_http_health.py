"""Health entry point, called directly, against real Azurite and the Dataverse emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools import stack
from tests.functions._plumbing import app_environment, body_of, load, request

Health = load("Health")


@pytest.fixture
def healthy_env(
    monkeypatch: pytest.MonkeyPatch, storage_connection_string: str, emulator: stack.Service
) -> Iterator[None]:
    yield from app_environment(monkeypatch, {"AzureWebJobsStorage": storage_connection_string, **emulator.env})


def test_when_dynamics_and_storage_answer_health_is_200(healthy_env: None) -> None:
    response = Health.main(request("GET", "health"))
    assert response.status_code == 200, response.get_body()
    report = body_of(response)
    assert report["status"] == "healthy"
    for name in ("dynamics", "storage"):
        assert report["checks"][name]["ok"] is True
        assert report["checks"][name]["latencyMs"] >= 0
    assert response.headers["x-request-id"]


def test_when_dynamics_does_not_answer_health_is_503(
    monkeypatch: pytest.MonkeyPatch, storage_connection_string: str
) -> None:
    port = stack.free_port()
    env = {"AzureWebJobsStorage": storage_connection_string, "DYNAMICS_URL": f"http://127.0.0.1:{port}",
           "DYNAMICS_STATIC_TOKEN": "health-test-token"}
    for _ in app_environment(monkeypatch, env):
        response = Health.main(request("GET", "health"))
        assert response.status_code == 503
        report = body_of(response)
        assert report["checks"]["dynamics"] == {"ok": False, "latencyMs": report["checks"]["dynamics"]["latencyMs"],
                                                "error": "unavailable"}
        assert report["checks"]["storage"]["ok"] is True
        assert "health-test-token" not in response.get_body().decode()


def test_when_storage_does_not_answer_health_is_503(monkeypatch: pytest.MonkeyPatch, emulator: stack.Service) -> None:
    port = stack.free_port()
    dead = stack.azurite_connection_string(port, port, port)
    for _ in app_environment(monkeypatch, {"AzureWebJobsStorage": dead, **emulator.env}):
        response = Health.main(request("GET", "health"))
        assert response.status_code == 503
        report = body_of(response)
        assert report["checks"]["storage"]["ok"] is False
        assert report["checks"]["storage"]["error"] == "unavailable"
        assert report["checks"]["dynamics"]["ok"] is True
        assert stack.AZURITE_KEY not in response.get_body().decode()


def test_when_settings_are_invalid_health_is_503_without_details(monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in app_environment(monkeypatch, {"DYNAMICS_URL": "http://dynamics.example.com"}):
        monkeypatch.delenv("AzureWebJobsStorage", raising=False)
        response = Health.main(request("GET", "health"))
        assert response.status_code == 503
        assert body_of(response)["checks"]["storage"]["error"] == "misconfigured"
        assert "example.com" not in response.get_body().decode()
