"""JourneyBatch end to end: messages through the local host, results over HTTP, real Azurite and
the Dataverse emulator."""

from __future__ import annotations

from typing import Any

import pytest

from devtools import stack
from tests.functions.batch_helpers import Batches
from tests.functions.journey_helpers import Dynamics, new_id, person, unique_email

pytest_plugins = ["tests.functions.journey_fixtures"]


@pytest.fixture
def batches(function_host: stack.Service, function_key: str, storage_connection_string: str) -> Batches:
    return Batches(function_host.url, function_key, storage_connection_string)


def _lead(step_id: str, email: str, **more: Any) -> dict[str, Any]:
    return {"stepId": step_id, "type": "createUpdateLead", "person": person(email), "subject": "Webinar", **more}


def test_when_a_lead_is_created_then_given_an_activity_and_added_to_a_list_each_step_sees_the_one_before(
    batches: Batches, dynamics: Dynamics
) -> None:
    email, list_id, batch_id = unique_email(), new_id(), f"b-{new_id()}"
    dynamics.seed({"lists": [{"listid": list_id, "listname": "Webinar", "createdfromcode": 4}]})
    document = batches.run({"batchId": batch_id, "steps": [
        _lead("s1", email),
        {"stepId": "s2", "type": "addActivity", "person": person(email), "activity": {"type": "task", "subject": "Call"}},
        _lead("s3", email, description="Second visit"),
        {"stepId": "s4", "type": "addToMarketingList", "person": person(email), "target": "lead",
         "list": {"id": list_id}},
    ]})
    assert document["status"] == "completed"
    outcomes = [step["outcome"] for step in document["steps"]]
    assert outcomes == ["created", "activityLogged", "updated", "added"]
    lead_id = document["steps"][0]["recordId"]
    assert [step["recordId"] for step in document["steps"]] == [lead_id] * 4
    assert dynamics.members(list_id, "lead") == [lead_id]
    assert dynamics.record("leads", lead_id, "description")["description"] == "Second visit"
    assert document["counts"] == {"created": 1, "updated": 1, "skipped": 0, "activityLogged": 1, "added": 1,
                                  "alreadyMember": 0}
    assert document["failed"] == 0 and document["total"] == 4
    assert all(step["dynamicsRequests"] is None for step in document["steps"])
    assert batches.summaries(batch_id)[-1] == {"batchId": batch_id, "status": "completed", "total": 4,
                                               "counts": document["counts"], "failed": 0}
