"""$batch writes and change sets against the emulator over real HTTP."""

from __future__ import annotations

import uuid

from shared.dynamics import BatchRequest, ChangeSet, DataverseClient, DataverseRequestError, Query
from shared.dynamics import Filter as F
from tests.conftest import Dataverse


def test_when_a_change_set_creates_related_rows_both_exist_and_ids_come_back(client: DataverseClient) -> None:
    step = client.counted()
    responses = step.execute_batch(
        [
            ChangeSet(
                [
                    BatchRequest.create("contacts", {"lastname": "Lovelace", "emailaddress1": "ada@example.com"}),
                    BatchRequest.create("tasks", {"subject": "Call back", "regardingobjectid_contact_task@odata.bind": "$1"}),
                ]
            ),
            BatchRequest.get("contacts", Query(select=["fullname"], filter=F.eq("emailaddress1", "ada@example.com"))),
        ]
    )
    assert step.request_count == 1
    assert [r.status for r in responses] == [204, 204, 200]
    assert [r.content_id for r in responses[:2]] == ["1", "2"]
    contact_id, task_id = responses[0].entity_id, responses[1].entity_id
    assert contact_id and task_id
    assert client.get_record("tasks", task_id, select=["_regardingobjectid_value"])["_regardingobjectid_value"] == contact_id
    assert [r["contactid"] for r in responses[2].body["value"]] == [contact_id]


def test_when_a_change_set_part_fails_the_whole_change_set_is_rolled_back(client: DataverseClient) -> None:
    responses = client.execute_batch(
        [
            ChangeSet(
                [
                    BatchRequest.create("contacts", {"lastname": "Rolled back", "emailaddress1": "rb@example.com"}),
                    BatchRequest.create("tasks", {"subject": "x" * 201}),  # longer than MaxLength 200
                ]
            )
        ]
    )
    failed = [r for r in responses if not r.ok]
    assert failed and isinstance(failed[-1].error(), DataverseRequestError)
    assert failed[-1].status == 400
    assert list(client.list_records("contacts", Query(filter=F.eq("emailaddress1", "rb@example.com")))) == []


def test_when_a_batch_stops_at_a_failure_the_responses_end_with_the_failed_part(client: DataverseClient) -> None:
    responses = client.execute_batch(
        [
            BatchRequest.get("leads", Query(select=["leadid"])),
            BatchRequest.get("leads", Query(select=["nosuchcolumn"])),
            ChangeSet([BatchRequest.create("leads", {"subject": "never"})]),
        ]
    )
    assert [r.status for r in responses] == [200, 400]
    assert list(client.list_records("leads")) == []


def test_when_a_batch_continues_on_error_every_part_answers(client: DataverseClient) -> None:
    missing = str(uuid.uuid4())
    responses = client.execute_batch(
        [
            ChangeSet([BatchRequest.update("leads", missing, {"subject": "x"})]),
            ChangeSet([BatchRequest.create("leads", {"subject": "kept"})]),
        ],
        continue_on_error=True,
    )
    assert [r.status for r in responses] == [404, 204]
    assert responses[1].entity_id is not None
    assert client.get_record("leads", responses[1].entity_id)["subject"] == "kept"


def test_when_a_batch_holds_more_than_1000_operations_it_takes_two_round_trips(
    dataverse: Dataverse, client: DataverseClient
) -> None:
    lead = client.create_record("leads", {"subject": "found"})
    step = client.counted()
    results = step.query_batch([("leads", Query(select=["leadid"]))] * 1001)
    assert step.request_count == 2
    assert len(results) == 1001 and all([r["leadid"] for r in rows] == [lead] for rows in results)
    assert dataverse.stats()["batchOperations"] == 1001
