"""Helpers for the JourneyBatch tests: run a delivery through the local host's admin API (as
Core Tools would), read the results endpoint, read the queues and blobs in Azurite."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import requests
from azure.storage.queue import QueueClient

from shared.store import StorageClients

STEPS_QUEUE = "journey-steps"
RESULTS_QUEUE = "journey-results"


@dataclass
class Batches:
    """Runs JourneyBatch deliveries on a function host and reads what they left behind."""

    root: str
    key: str
    connection_string: str

    def deliver(self, message: Any, *, raw: str | None = None) -> dict[str, Any]:
        """One delivery of `message` (a dict sent as JSON text); the admin API's outcome."""
        text = raw if raw is not None else json.dumps(message)
        response = requests.post(f"{self.root}/admin/functions/JourneyBatch?wait=true", json={"input": text},
                                 headers={"x-functions-key": self.key}, timeout=300)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def run(self, message: Any) -> dict[str, Any]:
        """Deliver and expect success; returns the whole results document."""
        outcome = self.deliver(message)
        assert outcome["status"] == "Succeeded", outcome
        return self.document(message["batchId"])

    def status(self, batch_id: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.root}/api/journey/batches/{batch_id}", params=params,
                            headers={"x-functions-key": self.key}, timeout=30)

    def document(self, batch_id: str) -> dict[str, Any]:
        """Every page of the results, joined."""
        response = self.status(batch_id)
        assert response.status_code == 200, response.text
        document = dict(response.json())
        steps = list(document["steps"])
        next_path = document["next"]
        while next_path:
            page = requests.get(f"{self.root}{next_path}", headers={"x-functions-key": self.key}, timeout=30).json()
            steps.extend(page["steps"])
            next_path = page["next"]
        document["steps"] = steps
        return document

    def queue(self, name: str) -> QueueClient:
        return StorageClients.from_connection_string(self.connection_string).queue(name)

    def summaries(self, batch_id: str) -> list[dict[str, Any]]:
        """Summaries of this batch waiting on journey-results (peeked, left in place)."""
        found = []
        for message in self.queue(RESULTS_QUEUE).peek_messages(max_messages=32):
            body = json.loads(message.content)
            if body.get("batchId") == batch_id:
                found.append(body)
        return found

    def upload(self, container: str, name: str, content: bytes) -> None:
        storage = StorageClients.from_connection_string(self.connection_string)
        storage.container(container).upload_blob(name, content, overwrite=True)


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
