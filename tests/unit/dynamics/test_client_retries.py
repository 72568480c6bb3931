"""Retries, throttling, service-protection limits and token refresh against the emulator.

The fault hook (`POST /_emulator/faults`) makes the emulator misbehave over real HTTP; the
client's sleep is recorded (and skipped) unless a test needs real time to pass.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from devtools.stack import free_port
from shared.dynamics import (
    BatchRequest,
    ChangeSet,
    DataverseAuthError,
    DataverseClient,
    DataverseThrottledError,
    DataverseUnavailableError,
    Query,
    RetryPolicy,
    StaticTokenCredential,
)
from shared.dynamics import Filter as F
from tests.conftest import Dataverse

from .conftest import Sleeps


def faults(dataverse: Dataverse, **settings: Any) -> None:
    dataverse.hook("POST", "faults", settings)


def test_when_every_call_is_throttled_the_client_waits_retry_after_then_gives_up_typed(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    faults(dataverse, rate429=1.0, retryAfter=1, rate5xx=0.0, latencyMs=0, seed=1)
    step = client.counted()
    with pytest.raises(DataverseThrottledError) as info:
        list(step.list_records("leads"))
    assert info.value.status == 429 and info.value.retry_after == 1
    assert step.request_count == 5  # the default budget: 5 attempts
    assert sleeps == [1, 1, 1, 1]


def test_when_some_calls_are_throttled_they_all_succeed_after_waiting_retry_after(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    lead_id = client.create_record("leads", {"subject": "s"})
    faults(dataverse, rate429=0.3, retryAfter=1, rate5xx=0.0, latencyMs=0, seed=1)
    step = client.counted()
    for _ in range(20):
        assert step.get_record("leads", lead_id, select=["subject"])["subject"] == "s"
    assert sleeps and set(sleeps) == {1}
    assert step.request_count == 20 + len(sleeps)


def test_when_a_create_is_throttled_it_is_retried_because_dataverse_did_not_run_it(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    faults(dataverse, rate429=0.5, retryAfter=1, rate5xx=0.0, latencyMs=0, seed=3)
    ids = [client.create_record("leads", {"subject": f"t{i}"}) for i in range(10)]
    faults(dataverse, rate429=0.0, rate5xx=0.0, latencyMs=0)
    assert sleeps
    assert len(list(client.list_records("leads", Query(select=["subject"])))) == len(set(ids)) == 10


def test_when_retry_after_exceeds_the_time_budget_the_client_fails_at_once(
    dataverse: Dataverse, make_client: Callable[..., DataverseClient], sleeps: Sleeps
) -> None:
    client = make_client(max_elapsed=3.0)
    faults(dataverse, rate429=1.0, retryAfter=30, rate5xx=0.0, latencyMs=0, seed=1)
    step = client.counted()
    with pytest.raises(DataverseThrottledError) as info:
        list(step.list_records("leads"))
    assert info.value.retry_after == 30
    assert step.request_count == 1 and sleeps == []


def test_when_reads_meet_5xx_they_back_off_exponentially_then_raise_unavailable(
    dataverse: Dataverse, make_client: Callable[..., DataverseClient], sleeps: Sleeps
) -> None:
    client = make_client(random=lambda: 1.0)
    faults(dataverse, rate429=0.0, rate5xx=1.0, latencyMs=0, seed=1)
    step = client.counted()
    with pytest.raises(DataverseUnavailableError) as info:
        list(step.list_records("leads"))
    assert not isinstance(info.value, DataverseThrottledError)
    assert info.value.status in (502, 503, 504)
    assert step.request_count == 5
    assert sleeps == [0.5, 1.0, 2.0, 4.0]


def test_when_a_create_without_a_chosen_id_meets_5xx_it_is_not_resent(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    faults(dataverse, rate429=0.0, rate5xx=1.0, latencyMs=0, seed=1)
    step = client.counted()
    with pytest.raises(DataverseUnavailableError):
        step.create_record("leads", {"subject": "maybe"})
    assert step.request_count == 1 and sleeps == []


def test_when_a_create_with_a_chosen_id_meets_5xx_it_is_resent_and_lands_once(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    faults(dataverse, rate429=0.0, rate5xx=0.5, latencyMs=0, seed=2)
    ids = [str(uuid.uuid4()) for _ in range(8)]
    for chosen in ids:
        assert client.create_record("contacts", {"lastname": "once"}, record_id=chosen) == chosen
    faults(dataverse, rate429=0.0, rate5xx=0.0, latencyMs=0)
    assert sleeps  # some attempts failed and were resent
    rows = list(client.list_records("contacts", Query(select=["contactid"])))
    assert sorted(r["contactid"] for r in rows) == sorted(ids)


def test_when_the_service_protection_request_limit_is_hit_the_client_waits_and_finishes(
    dataverse: Dataverse, make_client: Callable[..., DataverseClient], sleeps: Sleeps
) -> None:
    lead_id = make_client().create_record("leads", {"subject": "s"})
    faults(dataverse, limits={"requests": 5, "windowSeconds": 2, "concurrent": 52,
                              "executionMs": 1200000, "msPerOperation": 20})
    sleeps.real = True
    client = make_client(max_elapsed=20.0, max_attempts=10)
    step = client.counted()
    started = time.monotonic()
    for _ in range(12):
        step.get_record("leads", lead_id, select=["subject"])
    elapsed = time.monotonic() - started
    # 12 requests through a limit of 5 per 2 s cannot finish before two more windows open.
    assert sleeps and elapsed >= 2.0
    assert step.request_count == 12 + len(sleeps)
    # Every wait followed one 429 the emulator counted, and every wait was the Retry-After it sent.
    assert dataverse.stats()["throttled"] == len(sleeps)


def test_when_the_concurrency_limit_is_hit_rejected_calls_are_retried_and_all_finish(
    dataverse: Dataverse, make_client: Callable[..., DataverseClient], sleeps: Sleeps
) -> None:
    client = make_client(max_elapsed=20.0, max_attempts=20)
    lead_id = client.create_record("leads", {"subject": "s"})
    faults(dataverse, latencyMs=200, limits={"requests": 6000, "windowSeconds": 300, "concurrent": 2,
                                             "executionMs": 1200000, "msPerOperation": 20})
    sleeps.real = True
    errors: list[BaseException] = []

    def read() -> None:
        try:
            client.get_record("leads", lead_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sleeps  # at least one call was turned away and retried


class FirstTokenWrong:
    """Hands out a revoked token first, the real one afterwards."""

    def __init__(self, good: str, bad_tokens: int = 1) -> None:
        self.good = good
        self.bad_tokens = bad_tokens
        self.calls = 0
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: object) -> object:
        self.calls += 1
        self.scopes.extend(scopes)
        token = "revoked" if self.calls <= self.bad_tokens else self.good
        return type("AccessToken", (), {"token": token, "expires_on": int(time.time()) + 3600})()


def test_when_dataverse_refuses_the_token_it_is_refreshed_once_and_the_call_succeeds(
    dataverse: Dataverse, make_client: Callable[..., DataverseClient]
) -> None:
    credential = FirstTokenWrong(dataverse.token)
    step = make_client(credential=credential).counted()
    assert list(step.list_records("leads")) == []
    assert credential.calls == 2
    assert step.request_count == 2
    assert credential.scopes == [f"{dataverse.root}/.default"] * 2
    list(step.list_records("leads"))
    assert credential.calls == 2  # the good token is cached


def test_when_the_refreshed_token_is_refused_too_it_is_an_auth_error(
    dataverse: Dataverse, make_client: Callable[..., DataverseClient]
) -> None:
    credential = FirstTokenWrong(dataverse.token, bad_tokens=10)
    step = make_client(credential=credential).counted()
    with pytest.raises(DataverseAuthError) as info:
        list(step.list_records("leads"))
    assert info.value.status == 401
    assert step.request_count == 2


def test_when_dataverse_answers_after_the_read_timeout_reads_are_retried_and_creates_are_not(
    dataverse: Dataverse, make_client: Callable[..., DataverseClient], sleeps: Sleeps
) -> None:
    fast = DataverseClient(dataverse.root, StaticTokenCredential(dataverse.token, dataverse.root),
                           timeout=(2.0, 0.3), retry=RetryPolicy(sleep=sleeps, max_attempts=3))
    faults(dataverse, latencyMs=800)
    step = fast.counted()
    with pytest.raises(DataverseUnavailableError) as info:
        list(step.list_records("leads"))
    assert info.value.status == 0 and step.request_count == 3 and len(sleeps) == 2
    step = fast.counted()
    with pytest.raises(DataverseUnavailableError):
        step.create_record("leads", {"subject": "slow"})
    assert step.request_count == 1
    time.sleep(1.0)  # the emulator finishes the write it was given
    faults(dataverse, latencyMs=0)
    assert [r["subject"] for r in make_client().list_records("leads")] == ["slow"]


def test_when_nothing_listens_the_call_fails_unavailable_after_its_retries(
    sleeps: Sleeps,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = DataverseClient(url, StaticTokenCredential("t", url), retry=RetryPolicy(sleep=sleeps, max_attempts=3))
    step = client.counted()
    with pytest.raises(DataverseUnavailableError) as info:
        step.create_record("leads", {"subject": "never sent"})  # safe: no connection was ever made
    assert info.value.status == 0
    assert step.request_count == 3 and len(sleeps) == 2
    assert info.value.__cause__ is not None


# Scripted failures: `failNext` rules fail (or drop) the next matching requests, optionally after
# carrying them out, so the client cannot know whether its write landed.


def fail_next(dataverse: Dataverse, *rules: dict[str, Any]) -> None:
    faults(dataverse, failNext=list(rules))


def test_when_a_read_meets_scripted_503s_it_is_retried_until_it_succeeds(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    fail_next(dataverse, {"status": 503, "count": 2, "path": "leads", "method": "GET"})
    step = client.counted()
    assert list(step.list_records("leads")) == []
    assert step.request_count == 3 and len(sleeps) == 2
    assert dataverse.stats()["total"] == 3


def test_when_a_read_connection_is_dropped_it_is_retried(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    fail_next(dataverse, {"drop": True, "count": 1, "path": "leads", "method": "GET"})
    step = client.counted()
    assert list(step.list_records("leads")) == []
    assert step.request_count == 2 and len(sleeps) == 1


def test_when_a_create_without_a_chosen_id_is_dropped_it_is_not_resent(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    fail_next(dataverse, {"drop": True, "count": 1, "path": "leads", "method": "POST", "after": True})
    step = client.counted()
    with pytest.raises(DataverseUnavailableError) as info:
        step.create_record("leads", {"subject": "landed, but the answer was lost"})
    assert info.value.status == 0 and info.value.__cause__ is not None
    assert step.request_count == 1 and sleeps == []
    # Not resending was right: the first attempt did land, a retry would have made a duplicate.
    assert len(list(client.list_records("leads"))) == 1


def test_when_a_create_is_throttled_by_script_it_waits_the_given_retry_after(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    fail_next(dataverse, {"status": 429, "count": 1, "retryAfter": 2, "path": "leads", "method": "POST"})
    client.create_record("leads", {"subject": "after a wait"})
    assert sleeps == [2]
    assert len(list(client.list_records("leads"))) == 1


@pytest.mark.parametrize("failure", [{"drop": True}, {"status": 503}, {"status": 504}])
def test_when_a_create_with_a_chosen_id_landed_but_its_answer_was_lost_the_retry_succeeds_once(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps, failure: dict[str, Any]
) -> None:
    chosen = str(uuid.uuid4())
    fail_next(dataverse, {**failure, "count": 1, "path": "contacts", "method": "POST", "after": True})
    step = client.counted()
    assert step.create_record("contacts", {"lastname": "Once"}, record_id=chosen) == chosen
    # The retry met 412, and the read of the chosen id found it: the first attempt landed.
    assert step.request_count == 3 and len(sleeps) == 1
    rows = list(client.list_records("contacts", Query(select=["lastname"])))
    assert [(r["contactid"], r["lastname"]) for r in rows] == [(chosen, "Once")]


def test_when_a_create_only_upsert_landed_but_its_answer_was_lost_it_reports_created(
    dataverse: Dataverse, client: DataverseClient
) -> None:
    key = str(uuid.uuid4())
    fail_next(dataverse, {"drop": True, "count": 1, "path": "contacts", "method": "PATCH", "after": True})
    result = client.upsert_record("contacts", key, {"lastname": "Upserted"}, create_only=True)
    assert result.record_id == key and result.created is True


def test_when_a_plain_upsert_created_the_row_but_its_answer_was_lost_it_reports_updated(
    dataverse: Dataverse, client: DataverseClient
) -> None:
    # Documented limit: the resend finds the row the lost attempt created and cannot tell.
    key = str(uuid.uuid4())
    fail_next(dataverse, {"drop": True, "count": 1, "path": "contacts", "method": "PATCH", "after": True})
    step = client.counted()
    result = step.upsert_record("contacts", key, {"lastname": "Upserted"})
    assert result.record_id == key and result.created is False
    assert step.request_count == 2
    rows = list(client.list_records("contacts", Query(select=["lastname"])))
    assert [(r["contactid"], r["lastname"]) for r in rows] == [(key, "Upserted")]


def test_when_a_delete_landed_but_its_answer_was_lost_the_retry_succeeds(
    dataverse: Dataverse, client: DataverseClient
) -> None:
    lead_id = client.create_record("leads", {"subject": "to delete"})
    fail_next(dataverse, {"drop": True, "count": 1, "path": "leads", "method": "DELETE", "after": True})
    step = client.counted()
    step.delete_record("leads", lead_id)
    assert step.request_count == 2
    assert list(client.list_records("leads")) == []


def test_when_add_member_list_landed_but_its_answer_was_lost_the_retry_adds_no_second_member(
    dataverse: Dataverse, client: DataverseClient
) -> None:
    list_id = client.create_record("lists", {"listname": "Webinar", "createdfromcode": 4})
    lead_id = client.create_record("leads", {"subject": "member"})
    fail_next(dataverse, {"drop": True, "count": 1, "path": "lists", "method": "POST", "after": True})
    step = client.counted()
    result = step.call_action("AddMemberList", {"EntityId": lead_id}, entity_set="lists", record_id=list_id)
    assert result["Id"] and step.request_count == 2
    members = list(client.list_records("listmembers", Query(filter=F.eq("_listid_value", list_id))))
    assert len(members) == 1


def test_when_a_read_only_batch_is_dropped_it_is_resent_and_a_writing_one_is_not(
    dataverse: Dataverse, client: DataverseClient
) -> None:
    fail_next(dataverse, {"drop": True, "count": 1, "path": "$batch"})
    step = client.counted()
    assert step.query_batch([("leads", Query(select=["leadid"])), ("contacts", None)]) == [[], []]
    assert step.request_count == 2

    fail_next(dataverse, {"drop": True, "count": 1, "path": "$batch", "after": True})
    step = client.counted()
    with pytest.raises(DataverseUnavailableError):
        step.execute_batch([ChangeSet([BatchRequest.create("leads", {"subject": "batched"})])])
    assert step.request_count == 1
    assert len(list(client.list_records("leads"))) == 1  # it landed once; no duplicate


def test_when_a_whole_batch_is_throttled_it_is_resent_after_retry_after(
    dataverse: Dataverse, client: DataverseClient, sleeps: Sleeps
) -> None:
    fail_next(dataverse, {"status": 429, "count": 1, "retryAfter": 3, "path": "$batch"})
    responses = client.execute_batch([ChangeSet([BatchRequest.create("leads", {"subject": "batched"})])])
    assert [r.status for r in responses] == [204] and sleeps == [3]
    assert len(list(client.list_records("leads"))) == 1



def test_when_batches_exceed_the_execution_time_limit_the_client_waits_for_the_window(
    dataverse: Dataverse, make_client: Callable[..., DataverseClient], sleeps: Sleeps
) -> None:
    faults(dataverse, limits={"requests": 6000, "windowSeconds": 2, "concurrent": 52,
                              "executionMs": 150, "msPerOperation": 20})
    sleeps.real = True
    client = make_client(max_elapsed=20.0, max_attempts=10)
    step = client.counted()
    for _ in range(3):
        # Ten parts cost 200 ms of the 150 ms allowed per 2 s: the next batch must wait.
        assert step.query_batch([("leads", None)] * 10) == [[]] * 10
    assert sleeps and all(s >= 1 for s in sleeps)
    assert dataverse.stats()["throttled"] == len(sleeps) == step.request_count - 3
