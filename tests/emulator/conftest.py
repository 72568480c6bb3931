"""Raw-HTTP helpers for the emulator conformance suite: no project client, just `requests`."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import Dataverse


class Api:
    """Thin raw-HTTP access to the emulator's OData root, with Dataverse's usual request headers."""

    def __init__(self, dataverse: Dataverse) -> None:
        self.dv = dataverse
        self.base = dataverse.api
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path.lstrip("/")

    def request(self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
                data: bytes | str | None = None, auth: bool = True) -> requests.Response:
        merged = dict(self.dv.auth_headers) if auth else {"Accept": "application/json"}
        if json is not None:
            merged["Content-Type"] = "application/json"
        merged.update(headers or {})
        return self.session.request(method, self.url(path), json=json, data=data, headers=merged, timeout=15)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        response = self.post(entity_set, body)
        assert response.status_code == 204, response.text
        return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    def seed(self, records: dict[str, Any]) -> dict[str, list[str]]:
        return self.dv.seed(records)

    def records(self, entity_set: str) -> list[dict[str, Any]]:
        return self.dv.hook("GET", f"records/{entity_set}").json()["value"]


def error_of(response: requests.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.fixture
def api(dataverse: Dataverse) -> Api:
    return Api(dataverse)
