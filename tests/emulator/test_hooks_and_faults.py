"""Test hooks: reset, seed, faults, service protection limits and stats."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from .conftest import Api, error_of

ACCOUNT = "aaaaaaaa-0000-4000-8000-000000000001"


def test_when_seeded_binds_may_point_anywhere_in_the_seed(api: Api) -> None:
    created = api.seed({
        "contacts": [{"lastname": "Linked", "parentcustomerid_account@odata.bind": f"/accounts({ACCOUNT})",
                      "statecode": 1, "statuscode": 2, "createdon": "2020-05-01T10:00:00Z",
                      "modifiedon": "2020-05-02T10:00:00Z"}],
        "accounts": [{"accountid": ACCOUNT, "name": "Contoso"}],
    })
    assert created["accounts"] == [ACCOUNT]
    contact = api.get(f"contacts({created['contacts'][0]})").json()
    assert contact["_parentcustomerid_value"] == ACCOUNT
    assert (contact["statecode"], contact["statuscode"]) == (1, 2)
    assert (contact["createdon"], contact["modifiedon"]) == ("2020-05-01T10:00:00Z", "2020-05-02T10:00:00Z")


def test_when_a_seed_is_invalid_nothing_is_created(api: Api) -> None:
    response = requests.post(f"{api.dv.root}/_emulator/seed", timeout=5, json={
        "accounts": [{"name": "Fine"}], "contacts": [{"lastname": "Bad", "nosuch": 1}]})
    assert response.status_code == 400
    assert api.get("accounts").json()["value"] == []


def test_when_a_seed_declares_entities_they_are_served(api: Api) -> None:
    api.seed({
        "$entities": {"contact": {"attributes": {"new_campaignopens": "int"}},
                      "new_event": {"entitySet": "new_events", "primaryKey": "new_eventid", "primaryName": "new_name",
                                    "attributes": {"new_score": {"type": "int"}}, "changeTracking": True}},
        "new_events": [{"new_name": "Opened", "new_score": 3}],
    })
    assert api.create("contacts", {"lastname": "C", "new_campaignopens": 2})
    rows = api.get("new_events?$select=new_name,new_score&$filter=new_score gt 2").json()["value"]
    assert [r["new_name"] for r in rows] == ["Opened"]
    assert api.post("new_events", {"new_name": "x", "unknown": 1}).status_code == 400
    free = api.seed({"widgets": [{"colour": "blue"}]})
    assert api.get(f"widgets({free['widgets'][0]})").json()["colour"] == "blue"


def test_when_reset_is_called_state_returns_to_the_start(api: Api) -> None:
    api.create("leads", {"lastname": "X"})
    api.dv.hook("POST", "faults", {"rate5xx": 1.0})
    api.dv.hook("POST", "reset")
    assert api.get("leads").json()["value"] == []
    assert api.dv.stats()["total"] == 1


def test_when_failures_are_scripted_the_next_matching_requests_fail(api: Api) -> None:
    api.dv.hook("POST", "faults", {"failNext": [{"status": 503, "count": 2, "path": "leads"}]})
    assert api.get("contacts").status_code == 200
    assert api.get("leads").status_code == 503
    assert api.post("leads", {"lastname": "x"}).status_code == 503
    assert api.get("leads").json()["value"] == []


def test_when_a_scripted_429_fires_it_carries_retry_after_and_the_code(api: Api) -> None:
    api.dv.hook("POST", "faults", {"failNext": [{"status": 429, "count": 1, "retryAfter": 2}]})
    response = api.get("leads")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert error_of(response)["code"] == "0x80072322"


def test_when_a_drop_is_scripted_the_connection_closes_without_an_answer(api: Api) -> None:
    api.dv.hook("POST", "faults", {"failNext": [{"drop": True, "count": 1, "path": "leads"}]})
    with pytest.raises(requests.ConnectionError):
        requests.get(api.url("leads"), headers=api.dv.auth_headers, timeout=5)
    assert api.get("leads").status_code == 200


def test_when_a_failure_is_scripted_after_the_work_the_write_happens_but_the_client_sees_an_error(api: Api) -> None:
    api.dv.hook("POST", "faults", {"failNext": [{"status": 500, "count": 1, "method": "POST", "after": True}]})
    assert api.post("leads", {"lastname": "landed"}).status_code == 500
    assert [r["lastname"] for r in api.get("leads").json()["value"]] == ["landed"]


def test_when_random_faults_have_a_seed_they_repeat_exactly(api: Api) -> None:
    def run() -> list[int]:
        api.dv.hook("POST", "faults", {"rate429": 0.3, "rate5xx": 0.2, "retryAfter": 1, "seed": 7})
        return [api.get("leads").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert {200, 429, 503} <= set(first)


def test_when_the_request_limit_is_exceeded_the_answer_is_429_with_code(api: Api) -> None:
    api.dv.hook("POST", "faults", {"limits": {"requests": 3, "windowSeconds": 60}})
    assert [api.get("WhoAmI").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("WhoAmI")
    assert response.status_code == 429
    assert error_of(response)["code"] == "0x80072322"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_when_limits_are_per_user_another_token_is_not_throttled(api: Api) -> None:
    api.dv.hook("POST", "config", {"additionalTokens": ["second-user"]})
    api.dv.hook("POST", "faults", {"limits": {"requests": 1, "windowSeconds": 60}})
    assert api.get("WhoAmI").status_code == 200
    assert api.get("WhoAmI").status_code == 429
    other = {"Authorization": "Bearer second-user"}
    assert api.get("WhoAmI", headers=other).status_code == 200
    assert api.get("WhoAmI", headers=other).status_code == 429


def test_when_execution_time_is_exceeded_the_answer_is_429_execution_code(api: Api) -> None:
    api.dv.hook("POST", "faults", {"limits": {"executionMs": 70, "msPerOperation": 20, "windowSeconds": 60}})
    body = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": str(i)} for i in range(3)]}
    assert api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", body).status_code == 200
    assert api.get("WhoAmI").status_code == 200
    response = api.get("WhoAmI")
    assert response.status_code == 429
    assert error_of(response)["code"] == "0x80072321"


def test_when_too_many_requests_run_at_once_the_answer_is_429_concurrency(api: Api) -> None:
    api.dv.hook("POST", "faults", {"latencyMs": 400, "limits": {"concurrent": 2}})
    statuses: list[int] = []
    codes: list[str] = []

    def call() -> None:
        response = requests.get(api.url("WhoAmI"), headers=api.dv.auth_headers, timeout=10)
        statuses.append(response.status_code)
        if response.status_code == 429:
            codes.append(response.json()["error"]["code"])

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(200) == 2 and statuses.count(429) == 2
    assert set(codes) == {"0x80072326"}


def test_when_stats_are_read_they_count_requests_by_method_and_path(api: Api) -> None:
    api.get("leads")
    api.post("leads", {"lastname": "x"})
    api.get("contacts")
    stats = api.dv.stats()
    assert stats["total"] == 3
    assert stats["byMethod"] == {"GET": 2, "POST": 1}
    assert stats["byPath"] == {"leads": 2, "contacts": 1}
    assert stats["byRoute"]["POST leads"] == 1
    assert stats["requests"][1]["status"] == 204


def test_when_records_are_dumped_lookups_show_their_table(api: Api) -> None:
    account = api.create("accounts", {"name": "A"})
    api.create("contacts", {"lastname": "C", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    row = api.records("contacts")[0]
    assert row["parentcustomerid"] == {"table": "account", "id": account}


def test_when_limits_are_on_by_default_the_53rd_concurrent_request_is_rejected_at_once(api: Api) -> None:
    # Dataverse's defaults: 52 concurrent requests per user; the next is refused without waiting.
    api.dv.hook("POST", "faults", {"latencyMs": 2000, "limits": {}})
    results: list[tuple[int, str, float]] = []
    lock = threading.Lock()

    def call() -> None:
        started = time.monotonic()
        response = requests.get(api.url("WhoAmI"), headers=api.dv.auth_headers, timeout=20)
        code = response.json()["error"]["code"] if response.status_code == 429 else ""
        with lock:
            results.append((response.status_code, code, time.monotonic() - started))

    threads = [threading.Thread(target=call) for _ in range(53)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 52 and statuses.count(429) == 1
    [(_, code, waited)] = [r for r in results if r[0] == 429]
    assert code == "0x80072326" and waited < 1.5


def test_when_a_batch_runs_its_parts_count_towards_the_execution_time_limit(api: Api) -> None:
    api.dv.hook("POST", "faults", {"limits": {"executionMs": 100, "msPerOperation": 20, "windowSeconds": 60}})
    parts = "".join("--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                    "GET WhoAmI HTTP/1.1\r\n\r\n\r\n" for _ in range(6))
    response = api.post("$batch", data=parts + "--b--\r\n", headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert response.status_code == 200  # one request, six operations: 120 ms of the 100 allowed
    throttled = api.get("WhoAmI")
    assert throttled.status_code == 429
    assert error_of(throttled)["code"] == "0x80072321"
    assert int(throttled.headers["Retry-After"]) >= 1


def test_when_a_rule_names_a_text_only_requests_containing_it_fail(api: Api) -> None:
    api.seed({"leads": [{"lastname": "A"}]})
    api.dv.hook("POST", "faults", {"failNext": [{"status": 400, "count": 1, "contains": "lastname%20eq%20'B'"}]})
    assert api.get("leads?$filter=lastname eq 'A'").status_code == 200
    assert api.get("leads?$filter=lastname%20eq%20'B'").status_code == 400
    assert api.get("leads?$filter=lastname%20eq%20'B'").status_code == 200
