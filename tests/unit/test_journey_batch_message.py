"""Reading journey-steps messages (pure): unreadable messages, envelope problems, step slots."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.journey_batch.message import (
    UnreadableMessage,
    envelope_problems,
    read_envelope,
    read_steps,
    read_steps_blob,
)

STEP = {"stepId": "s1", "type": "createUpdateLead", "person": {"email": "ada@example.com"}, "subject": "Demo"}


@pytest.mark.parametrize("body", [b"\xff\xfe", b"not json", b"[]", b'"text"', b'{"steps": []}', b'{"batchId": ""}',
                                  b'{"batchId": "a/b"}', b'{"batchId": 7}', b'{"batchId": "x", "n": NaN}',
                                  json.dumps({"batchId": "x" * 201}).encode()])
def test_when_a_message_cannot_be_read_as_a_batch_it_is_unreadable(body: bytes) -> None:
    with pytest.raises(UnreadableMessage):
        read_envelope(body)


@pytest.mark.parametrize(
    ("members", "locs"),
    [
        ({"steps": [STEP]}, set()),
        ({"stepsBlob": "container/name.json"}, set()),
        ({}, {("steps",)}),
        ({"steps": []}, {("steps",)}),
        ({"steps": {"a": 1}}, {("steps",)}),
        ({"steps": [STEP] * 5001}, {("steps",)}),
        ({"steps": [STEP], "stepsBlob": "c/n"}, {("stepsBlob",)}),
        ({"stepsBlob": "no-slash"}, {("stepsBlob",)}),
        ({"stepsBlob": 3}, {("stepsBlob",)}),
        ({"steps": [STEP], "priority": 1, "extra": 2}, {("priority",), ("extra",)}),
    ],
)
def test_envelope_problems_name_every_bad_member(members: dict[str, Any], locs: set[tuple[str, ...]]) -> None:
    envelope = read_envelope(json.dumps({"batchId": "b.1:x-y_z", **members}).encode())
    assert {tuple(item["loc"]) for item in envelope_problems(envelope)} == locs


def test_a_claim_check_blob_that_is_missing_or_not_a_json_array_is_unreadable() -> None:
    envelope = read_envelope(b'{"batchId": "b", "stepsBlob": "c/n"}')

    def missing(_: str) -> bytes:
        raise LookupError("the claim-check blob c/... does not exist")

    with pytest.raises(UnreadableMessage):
        read_steps_blob(envelope, missing)
    with pytest.raises(UnreadableMessage):
        read_steps_blob(envelope, lambda _: b'{"not": "an array"}')
    assert read_steps_blob(envelope, lambda _: json.dumps([STEP]).encode()) == [STEP]


def test_each_bad_step_gets_its_own_400_and_a_repeated_step_id_is_not_addressable() -> None:
    slots = read_steps([STEP, 42, {**STEP, "stepId": ""}, STEP, {**STEP, "stepId": "s2", "type": "x"},
                        {**STEP, "stepId": "s3", "subject": ""}])
    assert slots[0].request is not None and slots[0].error is None
    assert [slot.error["status"] for slot in slots[1:] if slot.error] == [400] * 5
    assert slots[1].step_id is None and not slots[1].addressable
    assert {tuple(e["loc"]) for e in slots[2].error["errors"]} == {("stepId",)}  # type: ignore[index]
    assert slots[3].step_id == "s1" and not slots[3].addressable
    assert {tuple(e["loc"]) for e in slots[4].error["errors"]} == {("type",)}  # type: ignore[index]
    assert {tuple(e["loc"]) for e in slots[5].error["errors"]} == {("subject",)}  # type: ignore[index]
    assert slots[0].body_hash != slots[5].body_hash
