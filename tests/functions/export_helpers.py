"""Helpers for the CampaignExport tests: the seed and the configuration they use, deliveries
through the host's admin API, the results endpoint, the summary queue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from shared.store import StorageClients

RESULTS_QUEUE = "campaign-export-results"
MAPPED_USER = "5e000000-0000-4000-8000-0000000000a1"
DISABLED_USER = "5e000000-0000-4000-8000-0000000000a2"
DEFAULT_OWNER = "5e000000-0000-4000-8000-0000000000a3"
REPLY_MAX = 40  # MaxLength of new_replyanalysis: an analysis longer than that is cut

COLUMNS: dict[str, Any] = {
    "$entities": {
        "contact": {"attributes": {
            "new_source": {"type": "text", "maxLength": 100},
            "new_segment": {"type": "text", "maxLength": 100},
            "new_engaged": {"type": "text", "maxLength": 10},
            "new_sequence": {"type": "text", "maxLength": 200},
            "new_status": {"type": "text", "maxLength": 100},
            "new_opens": {"type": "text", "maxLength": 100},
            "new_clicks": {"type": "text", "maxLength": 100},
            "new_replyanalysis": {"type": "memo", "maxLength": REPLY_MAX},
            "new_score": "int",
        }},
        "account": {"attributes": {
            "new_tier": {"type": "text", "maxLength": 20},
            "new_engaged": {"type": "text", "maxLength": 10},
        }},
    },
    "systemusers": [
        {"systemuserid": MAPPED_USER, "firstname": "Dana", "lastname": "Seller", "isdisabled": False},
        {"systemuserid": DISABLED_USER, "firstname": "Former", "lastname": "Seller", "isdisabled": True},
        {"systemuserid": DEFAULT_OWNER, "firstname": "Default", "lastname": "Owner", "isdisabled": False},
    ],
}

CONFIG: dict[str, Any] = {
    "exportMapping": {
        "fixedFields": {"contact": {"new_source": "Platform"}, "account": {}},
        "exportFields": {"contact": ["new_segment", "new_score"], "account": ["new_tier"]},
        "engagementFields": {"contact": {"new_engaged": "Yes"}, "account": {"new_engaged": "Yes"}},
    },
    "campaignMapping": {"sequenceDetails": "new_sequence", "engagementStatus": "new_status", "opens": "new_opens",
                        "clicks": "new_clicks", "replyAnalysis": "new_replyanalysis"},
    "userMapping": {"identities": {"u-9": MAPPED_USER, "u-off": DISABLED_USER}, "defaultOwner": DEFAULT_OWNER},
}


@dataclass
class Exports:
    """Runs CampaignExport deliveries on a function host and reads what they left behind."""

    root: str
    key: str
    connection_string: str

    def deliver(self, message: Any, *, raw: str | None = None) -> dict[str, Any]:
        text = raw if raw is not None else json.dumps(message)
        response = requests.post(f"{self.root}/admin/functions/CampaignExport?wait=true", json={"input": text},
                                 headers={"x-functions-key": self.key}, timeout=300)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def run(self, message: dict[str, Any]) -> dict[str, Any]:
        outcome = self.deliver(message)
        assert outcome["status"] == "Succeeded", outcome
        return self.document(message["exportId"])

    def status(self, export_id: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.root}/api/campaign-exports/{export_id}", params=params,
                            headers={"x-functions-key": self.key}, timeout=30)

    def document(self, export_id: str) -> dict[str, Any]:
        """Every page of the results, joined."""
        response = self.status(export_id)
        assert response.status_code == 200, response.text
        document = dict(response.json())
        next_path = document["next"]
        while next_path:
            page = requests.get(f"{self.root}{next_path}", headers={"x-functions-key": self.key}, timeout=30).json()
            document["companies"] += page["companies"]
            document["contacts"] += page["contacts"]
            next_path = page["next"]
        return document

    def summaries(self, export_id: str) -> list[dict[str, Any]]:
        queue = StorageClients.from_connection_string(self.connection_string).queue(RESULTS_QUEUE)
        found = []
        for message in queue.peek_messages(max_messages=32):
            body = json.loads(message.content)
            if body.get("exportId") == export_id:
                found.append(body)
        return found

    def upload(self, container: str, name: str, content: bytes) -> None:
        storage = StorageClients.from_connection_string(self.connection_string)
        storage.container(container).upload_blob(name, content, overwrite=True)
