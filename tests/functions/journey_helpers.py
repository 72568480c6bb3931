"""Helpers for the journey-step function tests: real HTTP to the local host, real Azurite, and the
Dataverse emulator read back over OData (never through the product's own client)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from shared.config import Configuration
from shared.store import StorageClients, VersionedDocumentStore

CONFIG_CONTAINER = "connector-config"
CONFIG_BLOB = "configuration.json"

ROUTES = {
    "lead": "journey/create-update-lead",
    "activity": "journey/add-activity",
    "list": "journey/add-to-marketing-list",
}


# The step result (openapi.yaml StepResult): every field, always present.
RESULT_FIELDS = frozenset({"outcome", "entity", "recordId", "activityId", "reason", "detail", "linkedContactId",
                           "linkedAccountId", "duplicates", "dynamicsRequests", "idempotent", "dryRun"})
OUTCOMES = frozenset({"created", "updated", "skipped", "activityLogged", "added", "alreadyMember"})
REASONS = frozenset({"existsAsContact", "noMatchingLead", "noMatchingContact", "noMatch"})
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A problem never echoes a huge value: its size does not grow with the input.
MAX_PROBLEM_BYTES = 16_384


def assert_step_result(body: Any) -> None:
    """The body of a 200 is a step result: every field present, each of its type."""
    assert isinstance(body, dict) and set(body) == RESULT_FIELDS, body
    assert body["outcome"] in OUTCOMES
    assert body["entity"] in ("lead", "contact", None)
    assert body["reason"] in REASONS | {None}
    assert (body["outcome"] == "skipped") == (body["reason"] is not None), body
    for name in ("recordId", "activityId", "linkedContactId", "linkedAccountId"):
        assert body[name] is None or _GUID.fullmatch(body[name]), (name, body[name])
    assert isinstance(body["detail"], str) and body["detail"].endswith("."), body["detail"]
    for name in ("duplicates", "dynamicsRequests"):
        assert type(body[name]) is int and body[name] >= 0
    assert type(body["idempotent"]) is bool and type(body["dryRun"]) is bool


def assert_problem(response: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with `x-request-id`, small whatever the input; a 400 lists `errors`."""
    assert response.status_code == status, response.text[:2000]
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.headers.get("x-request-id")
    assert len(response.content) <= MAX_PROBLEM_BYTES, len(response.content)
    body = dict(response.json())
    assert body["status"] == status and body["title"] and body["detail"]
    if status == 400:
        assert isinstance(body["errors"], list)
    if code is not None:
        assert body.get("code") == code, body
    return body


def locs(response: requests.Response) -> set[tuple[Any, ...]]:
    """The locations a 400 lists."""
    return {tuple(item["loc"]) for item in response.json()["errors"]}


def new_id() -> str:
    return str(uuid.uuid4())


def unique_email(name: str = "ada") -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.com"


@dataclass
class Journey:
    """Posts journey steps to a function host."""

    root: str
    key: str

    def post(self, step: str, body: Any, *, raw: bytes | None = None, key: str | None = None,
             timeout: float = 60.0) -> requests.Response:
        headers = {"x-functions-key": self.key if key is None else key, "Content-Type": "application/json"}
        url = f"{self.root}/api/{ROUTES[step]}"
        if raw is not None:
            return requests.post(url, data=raw, headers=headers, timeout=timeout)
        return requests.post(url, json=body, headers=headers, timeout=timeout)

    def ok(self, step: str, body: Any, *, raw: bytes | None = None) -> dict[str, Any]:
        response = self.post(step, body, raw=raw)
        assert response.status_code == 200, response.text
        assert response.headers.get("x-request-id")
        result = response.json()
        assert_step_result(result)
        return dict(result)


@dataclass
class Dynamics:
    """The emulator as a test sees it: seed, read back over OData, count requests, inject faults."""

    root: str
    api: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                "OData-MaxVersion": "4.0", "OData-Version": "4.0"}

    def hook(self, method: str, path: str, json: Any = None) -> requests.Response:
        response = requests.request(method, f"{self.root}/_emulator/{path}", json=json, timeout=10)
        response.raise_for_status()
        return response

    def seed(self, records: dict[str, Any]) -> dict[str, Any]:
        return dict(self.hook("POST", "seed", records).json())

    def faults(self, config: dict[str, Any]) -> None:
        self.hook("POST", "faults", config)

    def stats(self) -> dict[str, Any]:
        return dict(self.hook("GET", "stats").json())

    def get(self, path: str, **params: str) -> Any:
        response = requests.get(f"{self.api}{path}", params=params, headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def rows(self, entity_set: str, **params: str) -> list[dict[str, Any]]:
        return list(self.get(entity_set, **params)["value"])

    def find(self, entity_set: str, **equals: str) -> list[dict[str, Any]]:
        """Rows whose columns equal these values (literals escaped as OData wants)."""
        condition = " and ".join(f"{name} eq '{value.replace(chr(39), chr(39) * 2)}'" for name, value in equals.items())
        return self.rows(entity_set, **{"$filter": condition})

    def record(self, entity_set: str, record_id: str, select: str | None = None) -> dict[str, Any]:
        params = {"$select": select} if select else {}
        return dict(self.get(f"{entity_set}({record_id})", **params))

    def post(self, path: str, body: Any) -> requests.Response:
        response = requests.post(f"{self.api}{path}", json=body,
                                 headers={**self.headers, "Content-Type": "application/json"}, timeout=10)
        assert response.status_code < 300, response.text
        return response

    def add_member(self, list_id: str, member_id: str) -> None:
        self.post(f"lists({list_id})/Microsoft.Dynamics.CRM.AddMemberList", {"EntityId": member_id})

    def members(self, list_id: str, target: str) -> list[str]:
        nav = "listlead_association" if target == "lead" else "listcontact_association"
        key = "leadid" if target == "lead" else "contactid"
        return [row[key] for row in self.get(f"lists({list_id})/{nav}", **{"$select": key})["value"]]


class Counter:
    """Requests the emulator served between `start()` and a read, by route (`POST leads`)."""

    def __init__(self, dynamics: Dynamics) -> None:
        self.dynamics = dynamics
        self.before: dict[str, Any] = dynamics.stats()

    def delta(self) -> dict[str, int]:
        now = self.dynamics.stats()
        routes = {}
        for route, count in now.get("byRoute", {}).items():
            diff = count - self.before.get("byRoute", {}).get(route, 0)
            if diff:
                routes[route] = diff
        return routes

    def total(self) -> int:
        return int(self.dynamics.stats()["total"]) - int(self.before["total"])

    def writes(self) -> dict[str, int]:
        """Routes other than reads and look-up batches."""
        return {route: n for route, n in self.delta().items() if not route.startswith(("GET ", "POST $batch"))}


class ConfigDocument:
    """The connector configuration in Azurite, as the function app reads it (stored, then removed)."""

    def __init__(self, connection_string: str) -> None:
        storage = StorageClients.from_connection_string(connection_string)
        self._container = lambda: storage.container(CONFIG_CONTAINER)
        self.store = VersionedDocumentStore(self._container, CONFIG_BLOB, Configuration)

    def set(self, document: dict[str, Any]) -> None:
        self.store.put(Configuration.model_validate(document))

    def clear(self) -> None:
        blob = self._container().get_blob_client(CONFIG_BLOB)
        if blob.exists():
            blob.delete_blob()


def config_document(connection_string: str) -> Iterator[ConfigDocument]:
    document = ConfigDocument(connection_string)
    document.clear()
    yield document
    document.clear()


def person(email: str, **more: Any) -> dict[str, Any]:
    return {"email": email, "firstName": "Ada", "lastName": "Lovelace", **more}


@dataclass
class Case:
    """A keyed step whose one write can be watched: what it sends, where it writes, what it made."""

    body: dict[str, Any]
    write_path: str  # the failNext prefix of the step's one write
    written: Callable[[Dynamics], list[str]]  # ids of what the write made (records or members)
    id_field: str  # the result field holding that id


def keyed_case(step: str, dynamics: Dynamics) -> Case:
    """A new person, seeded so that `step` (with an idempotency key) writes exactly one thing."""
    email, key = unique_email(), new_id()
    if step == "lead":
        return Case({"idempotencyKey": key, "person": person(email), "subject": "Webinar"}, "leads",
                    lambda dyn: [row["leadid"] for row in dyn.find("leads", emailaddress1=email)], "recordId")
    if step == "activity":
        lead_id = new_id()
        dynamics.seed({"leads": [{"leadid": lead_id, "emailaddress1": email, "lastname": "L"}]})
        regarding = {"$filter": f"_regardingobjectid_value eq {lead_id}"}
        return Case({"idempotencyKey": key, "person": person(email), "activity": {"type": "task", "subject": "Call"}},
                    "tasks", lambda dyn: [row["activityid"] for row in dyn.rows("tasks", **regarding)], "activityId")
    list_id = new_id()
    dynamics.seed({"lists": [{"listid": list_id, "listname": "Newsletter", "createdfromcode": 2}],
                   "contacts": [{"contactid": new_id(), "emailaddress1": email, "lastname": "L"}]})
    return Case({"idempotencyKey": key, "person": person(email), "target": "contact", "list": {"id": list_id}},
                f"lists({list_id})", lambda dyn: dyn.members(list_id, "contact"), "recordId")
