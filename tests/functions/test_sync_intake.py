"""POST /api/sync/enqueue, /api/sync/changes, /api/sync/links and GET/DELETE /api/sync/links/{id}:
the entry points against Azurite (and the emulator's settings), and one round through the host."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
import requests

from devtools import stack
from shared.app import dependencies
from shared.store.sync_ledger import LedgerRecord
from tests.conftest import Dataverse
from tests.functions._plumbing import app_environment, body_of, load, request

Enqueue = load("SyncEnqueue")
Changes = load("SyncChanges")
Links = load("SyncLinks")
ContactLinks = load("SyncContactLinks")
Config = load("Config")
RECORD = "00000000-0000-0000-0000-0000000000a1"


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch, storage_connection_string: str, dataverse: Dataverse) -> Iterator[None]:
    yield from app_environment(monkeypatch, {
        "AzureWebJobsStorage": storage_connection_string,
        "DYNAMICS_URL": dataverse.root,
        "DYNAMICS_STATIC_TOKEN": dataverse.token,
        "CONFIG_CONTAINER": f"cfg-{uuid.uuid4().hex[:12]}",
        "SYNC_TABLE": f"sync{uuid.uuid4().hex[:12]}",
        "IDEMPOTENCY_TABLE": f"idem{uuid.uuid4().hex[:12]}",
    })


def enqueue(body: dict[str, Any]) -> Any:
    return Enqueue.main(request("POST", "sync/enqueue", body))


def contact_request(method: str, platform_contact_id: str, params: dict[str, str] | None = None) -> Any:
    return func.HttpRequest(method, f"http://localhost/api/sync/links/{platform_contact_id}", headers={},
                            params=params or {}, route_params={"platformContactId": platform_contact_id}, body=b"")


def links_of(platform_contact_id: str) -> Any:
    response = ContactLinks.main(contact_request("GET", platform_contact_id))
    assert response.status_code == 200
    return body_of(response)


def delete_links(platform_contact_id: str, entity: str | None = None) -> Any:
    return ContactLinks.main(contact_request("DELETE", platform_contact_id, {"entity": entity} if entity else None))


def test_when_a_contact_is_enqueued_the_answer_is_its_tags_and_it_waits_for_the_run() -> None:
    response = enqueue({"person": {"id": "pc-1", "email": "ada@example.com"}, "as": "lead"})
    assert response.status_code == 202
    assert body_of(response) == {"tags": ["D365: Lead", "D365: Pulled from Platform"], "idempotent": False}
    assert links_of("pc-1") == {"platformContactId": "pc-1", "links": [], "pending": ["lead"]}


def test_when_the_platform_is_renamed_the_origin_tag_follows() -> None:
    etag = Config.main(request("GET", "config")).headers["ETag"]
    assert Config.main(request("PUT", "config", {"platformName": "Acme"}, headers={"If-Match": etag})).status_code == 200
    response = enqueue({"person": {"id": "pc-1", "email": "ada@example.com"}, "as": "contact"})
    assert body_of(response)["tags"] == ["D365: Contact", "D365: Pulled from Acme"]


@pytest.mark.parametrize(("body", "locs"), [
    ({"person": {"id": "pc-1", "firstName": "Ada"}, "as": "lead"}, [["person", "email"]]),
    ({"person": {"id": "pc-1", "email": "a@x.com", "fields": {"x": 1}}, "as": "lead"}, [["person", "fields"]]),
    ({"person": {"email": "a@x.com"}, "as": "lead"}, [["person", "id"]]),
    ({"person": {"id": "", "email": "a@x.com"}, "as": "account"}, [["person", "id"], ["as"]]),
    ({"person": {"id": "pc-1", "email": "a@x.com", "platformFields": {"bad-name": 1}}, "as": "lead"},
     [["person", "platformFields", "bad-name", "[key]"]]),
    ({"person": {"id": "pc-1", "email": "a@x.com"}, "as": "lead", "dryRun": True}, [["dryRun"]]),
])
def test_when_an_enqueue_is_wrong_every_bad_field_is_named_and_nothing_waits(body: dict[str, Any],
                                                                             locs: list[list[str]]) -> None:
    response = enqueue(body)
    assert response.status_code == 400
    assert [e["loc"] for e in body_of(response)["errors"]] == locs
    assert links_of("pc-1")["pending"] == []


def test_when_an_enqueue_is_replayed_with_its_key_the_first_answer_comes_back() -> None:
    body = {"idempotencyKey": "k-1", "person": {"id": "pc-1", "email": "a@x.com"}, "as": "lead"}
    assert body_of(enqueue(body))["idempotent"] is False
    replay = enqueue(body)
    assert replay.status_code == 202
    assert body_of(replay) == {"tags": ["D365: Lead", "D365: Pulled from Platform"], "idempotent": True}
    other = enqueue({**body, "as": "contact"})
    assert other.status_code == 409
    assert body_of(other)["code"] == "idempotencyKeyReused"
    assert links_of("pc-1")["pending"] == ["lead"]


def test_when_a_linked_contact_is_enqueued_it_is_treated_as_a_change() -> None:
    ledger = dependencies().sync_ledger
    ledger.remember(LedgerRecord("lead", RECORD, version=1))
    ledger.link("lead", "pc-1", RECORD, "2026-05-01T10:00:00Z")
    assert enqueue({"person": {"id": "pc-1", "email": "new@x.com"}, "as": "lead"}).status_code == 202
    assert links_of("pc-1")["pending"] == []
    assert dependencies().sync_pending.get_change("pc-1").fields["email"][0] == "new@x.com"


def test_when_changes_arrive_they_are_accepted_unless_older_than_the_last_applied() -> None:
    changes = [{"person": {"id": "pc-1", "firstName": "Ada", "lastName": None}, "updatedAt": "2026-05-01T12:00:00+02:00",
                "tags": ["D365: Lead", "D365: Pulled from Platform"]},
               {"person": {"id": "pc-2", "platformFields": {"score": 3}}, "updatedAt": "2026-05-01T10:00:00Z"}]
    response = Changes.main(request("POST", "sync/changes", {"changes": changes}))
    assert (response.status_code, body_of(response)) == (202, {"accepted": 2})
    pending = dependencies().sync_pending
    first = pending.get_change("pc-1")
    assert first.fields == {"firstName": ("Ada", "2026-05-01T10:00:00.000000Z"),
                            "lastName": (None, "2026-05-01T10:00:00.000000Z")}
    assert first.tags == ["D365: Lead", "D365: Pulled from Platform"]
    pending.finish_change(first)
    older = [{"person": {"id": "pc-1", "firstName": "Old"}, "updatedAt": "2026-05-01T09:00:00Z"}]
    assert body_of(Changes.main(request("POST", "sync/changes", {"changes": older}))) == {"accepted": 0}


@pytest.mark.parametrize(("body", "loc"), [
    ({"changes": []}, ["changes"]),
    ({"changes": [{"person": {"id": "p"}, "updatedAt": "2026-05-01T10:00:00"}]}, ["changes", 0, "updatedAt"]),
    ({"changes": [{"person": {"id": "p"}}]}, ["changes", 0, "updatedAt"]),
    ({"changes": [{"person": {"id": "p"}, "updatedAt": "2026-05-01T10:00:00Z"}] * 1001}, ["changes"]),
])
def test_when_changes_are_malformed_the_answer_is_400(body: dict[str, Any], loc: list[Any]) -> None:
    response = Changes.main(request("POST", "sync/changes", body))
    assert response.status_code == 400
    assert [e["loc"] for e in body_of(response)["errors"]] == [loc]


def test_when_a_record_the_sync_never_sent_is_linked_the_answer_is_422() -> None:
    response = Links.main(request("POST", "sync/links", {"platformContactId": "pc-1", "entity": "lead",
                                                         "dynamicsId": RECORD}))
    assert response.status_code == 422
    assert body_of(response)["code"] == "unknownRecord"


def test_when_a_sent_record_is_linked_the_link_shows_and_ends_on_delete() -> None:
    deps = dependencies()
    deps.sync_ledger.remember(LedgerRecord("contact", RECORD, version=7))
    link = {"platformContactId": "pc/1", "entity": "contact", "dynamicsId": RECORD.upper()}
    response = Links.main(request("POST", "sync/links", link))
    assert response.status_code == 204
    shown = links_of("pc/1")
    assert [(x["entity"], x["dynamicsId"]) for x in shown["links"]] == [("contact", RECORD)]
    assert shown["links"][0]["linkedAt"].endswith("Z")
    deps.sync_pending.enqueue("lead", "pc/1", {"id": "pc/1"})
    deps.sync_pending.add_change("pc/1", {"firstName": "Ada"}, None, "2026-05-01T10:00:00Z")
    assert delete_links("pc/1", "lead").status_code == 204
    assert links_of("pc/1")["pending"] == []
    assert deps.sync_pending.get_change("pc/1").fields  # the contact link still stands: its change waits
    assert delete_links("pc/1").status_code == 204
    assert links_of("pc/1") == {"platformContactId": "pc/1", "links": [], "pending": []}
    assert deps.sync_pending.get_change("pc/1").fields == {}
    assert deps.sync_ledger.get_record("contact", RECORD) is None  # not sent again unless selected anew
    assert delete_links("pc/1").status_code == 204
    assert delete_links("pc/1", "account").status_code == 400


def test_through_the_host_the_routes_answer(function_host: stack.Service, function_key: str) -> None:
    headers = {"x-functions-key": function_key}
    contact = f"pc-{uuid.uuid4().hex[:8]}"
    response = requests.post(f"{function_host.url}/api/sync/enqueue", headers=headers, timeout=30,
                             json={"person": {"id": contact, "email": f"{contact}@example.com"}, "as": "contact"})
    assert response.status_code == 202, response.text
    shown = requests.get(f"{function_host.url}/api/sync/links/{contact}", headers=headers, timeout=30)
    assert json.loads(shown.text)["pending"] == ["contact"]
    gone = requests.delete(f"{function_host.url}/api/sync/links/{contact}", headers=headers, timeout=30)
    assert gone.status_code == 204
    assert requests.get(f"{function_host.url}/api/sync/links/{contact}", headers=headers,
                        timeout=30).json()["pending"] == []
