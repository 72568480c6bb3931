"""`PUT /api/config` and `PUT /api/sync/settings` over real HTTP: the `If-Match` rules.

Missing or `*`: 428 `ifMatchRequired`. A list matches when any strong tag is the current ETag
(RFC 9110); weak tags never match; the defaults' ETag only while nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devtools import stack
from shared.store import StorageClients
from tests.functions.journey_helpers import CONFIG_CONTAINER, assert_problem, locs

DOCUMENTS = {"config": "configuration.json", "sync/settings": "sync-settings.json"}


@pytest.fixture
def stored(storage_connection_string: str) -> Iterator[None]:
    """Both documents absent before and after the test (the host reads the same container)."""
    container = StorageClients.from_connection_string(storage_connection_string).container(CONFIG_CONTAINER)

    def clear() -> None:
        for blob in DOCUMENTS.values():
            client = container.get_blob_client(blob)
            if client.exists():
                client.delete_blob()

    clear()
    yield
    clear()


class Documents:
    def __init__(self, root: str, key: str) -> None:
        self.root = root
        self.key = key

    def get(self, route: str) -> requests.Response:
        response = requests.get(f"{self.root}/api/{route}", headers={"x-functions-key": self.key}, timeout=30)
        assert response.status_code == 200, response.text
        return response

    def put(self, route: str, body: Any, if_match: str | None) -> requests.Response:
        headers = {"x-functions-key": self.key}
        if if_match is not None:
            headers["If-Match"] = if_match
        return requests.put(f"{self.root}/api/{route}", json=body, headers=headers, timeout=30)


@pytest.fixture
def documents(function_host: stack.Service, function_key: str, stored: None) -> Documents:
    return Documents(function_host.url, function_key)


ROUTES = pytest.mark.parametrize("route", list(DOCUMENTS))


@ROUTES
@pytest.mark.parametrize("if_match", [None, "*", ""])
def test_when_if_match_is_missing_or_star_a_put_is_428_and_changes_nothing(
    documents: Documents, route: str, if_match: str | None
) -> None:
    before = documents.get(route)
    response = documents.put(route, before.json(), if_match)
    assert_problem(response, 428, "ifMatchRequired")
    assert documents.get(route).headers["ETag"] == before.headers["ETag"]


@ROUTES
def test_when_if_match_lists_the_current_etag_among_others_the_put_succeeds(documents: Documents, route: str) -> None:
    first = documents.get(route)
    saved = documents.put(route, first.json(), f'"0x8D000000000001", {first.headers["ETag"]}')
    assert saved.status_code == 200, saved.text
    etag = saved.headers["ETag"]
    again = documents.put(route, first.json(), f'W/"x", "y" , {etag},')
    assert again.status_code == 200, again.text
    assert documents.get(route).headers["ETag"] == again.headers["ETag"] != etag


@ROUTES
def test_when_no_listed_tag_is_current_the_put_is_412(documents: Documents, route: str) -> None:
    defaults = documents.get(route)
    saved = documents.put(route, defaults.json(), defaults.headers["ETag"])
    assert saved.status_code == 200
    # The defaults' ETag matched only while nothing was stored.
    stale = documents.put(route, defaults.json(), f'"0x8D000000000001", {defaults.headers["ETag"]}')
    assert_problem(stale, 412, "documentModified")
    assert documents.get(route).headers["ETag"] == saved.headers["ETag"]


@ROUTES
def test_when_the_current_etag_is_sent_weak_it_never_matches(documents: Documents, route: str) -> None:
    defaults = documents.get(route)
    saved = documents.put(route, defaults.json(), defaults.headers["ETag"])
    weak = documents.put(route, defaults.json(), f'W/{saved.headers["ETag"]}')
    assert_problem(weak, 412, "documentModified")


@ROUTES
@pytest.mark.parametrize("header", ["0x8D000000000001", '"a" "b"', '"a", *', 'W/ "a"'])
def test_when_if_match_is_not_a_list_of_entity_tags_the_put_is_400_naming_it(
    documents: Documents, route: str, header: str
) -> None:
    defaults = documents.get(route)
    response = documents.put(route, defaults.json(), header)
    assert_problem(response, 400)
    assert locs(response) == {("headers", "If-Match")}
