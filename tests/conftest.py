"""Real parts for the whole suite: Azurite and the Dataverse emulator, started once per session.

Each test that touches Dataverse gets a freshly reset emulator (`dataverse`); storage tests get
their own table/queue/container names, so they never see each other's data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from devtools import stack

EMULATOR_TOKEN = "test-token"


@pytest.fixture(scope="session")
def stack_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack-logs")


@pytest.fixture(scope="session")
def azurite(stack_logs: Path) -> Iterator[stack.Service]:
    service = stack.start_azurite(stack_logs)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def storage_connection_string(azurite: stack.Service) -> str:
    return azurite.env["AzureWebJobsStorage"]


@pytest.fixture(scope="session")
def emulator(stack_logs: Path) -> Iterator[stack.Service]:
    service = stack.start_emulator(stack_logs, token=EMULATOR_TOKEN)
    yield service
    service.stop()


@dataclass(frozen=True)
class Dataverse:
    """A reset emulator: `api` is the OData root, `token` its bearer token."""

    root: str
    api: str
    token: str

    def hook(self, method: str, path: str, json: object | None = None) -> requests.Response:
        """Call an emulator test hook (`/_emulator/...`), outside the OData root."""
        response = requests.request(method, f"{self.root}/_emulator/{path}", json=json, timeout=10)
        response.raise_for_status()
        return response

    def seed(self, records: dict) -> dict:
        return self.hook("POST", "seed", records).json()

    def stats(self) -> dict:
        return self.hook("GET", "stats").json()

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                "OData-MaxVersion": "4.0", "OData-Version": "4.0"}


@pytest.fixture
def dataverse(emulator: stack.Service) -> Dataverse:
    requests.post(f"{emulator.url}/_emulator/reset", timeout=10).raise_for_status()
    return Dataverse(root=emulator.url, api=f"{emulator.url}/api/data/v9.2/", token=EMULATOR_TOKEN)



FUNCTION_KEY = "test-function-key"


@pytest.fixture(scope="session")
def function_key() -> str:
    """The function and master key of the `function_host` (send it as `x-functions-key`)."""
    return FUNCTION_KEY


@pytest.fixture(scope="session")
def function_host(stack_logs: Path, azurite: stack.Service, emulator: stack.Service) -> Iterator[stack.Service]:
    """This repository's function app on the local host, wired to the session's Azurite and emulator.

    `function_host.url` is the host root: endpoints are under `/api/`, the admin API under `/admin/`.
    Tests sharing it must use their own names (idempotency keys, list names, e-mails).
    """
    env = {**azurite.env, **emulator.env, "LOCAL_FUNCTION_KEY": FUNCTION_KEY}
    service = stack.start_function_host(stack_logs, env)
    yield service
    service.stop(timeout=60.0)
