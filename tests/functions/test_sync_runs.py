"""Sync runs end to end through the entry points, against Azurite and the emulator: POST
/api/sync/run, the `sync-runs` worker (each call one delivery), the timer with the clock offset,
and what reaches the `platform-updates` queue."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from shared.app import dependencies, reset_dependencies
from shared.store import StorageClients
from tests.conftest import Dataverse
from tests.functions._plumbing import app_environment, body_of, load, request

Run = load("SyncRun")
Worker = load("SyncRunWorker")
Runs = load("SyncRuns")
RunStatus = load("SyncRunStatus")
Timer = load("ScheduledSync")
SettingsFunction = load("SyncSettings")
Links = load("SyncLinks")

WEB = {"field": "leadsourcecode", "op": "eq", "value": 8}


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch, storage_connection_string: str, dataverse: Dataverse) -> Iterator[None]:
    StorageClients.from_connection_string(storage_connection_string).queue("platform-updates").clear_messages()
    yield from app_environment(monkeypatch, {
        "AzureWebJobsStorage": storage_connection_string,
        "DYNAMICS_URL": dataverse.root,
        "DYNAMICS_STATIC_TOKEN": dataverse.token,
        "CONFIG_CONTAINER": f"cfg-{uuid.uuid4().hex[:12]}",
        "SYNC_TABLE": f"sync{uuid.uuid4().hex[:12]}",
        "SYNC_PAGE_SIZE": "2",
    })


def put_settings(doc: dict[str, Any]) -> None:
    etag = SettingsFunction.main(request("GET", "sync/settings")).headers["ETag"]
    response = SettingsFunction.main(request("PUT", "sync/settings", doc, headers={"If-Match": etag}))
    assert response.status_code == 200, body_of(response)


def deliver(run_id: str) -> None:
    now = datetime.now(UTC)
    Worker.main(QueueMessage(id=uuid.uuid4().hex, body=json.dumps({"runId": run_id}).encode(), dequeue_count=1,
                             insertion_time=now, expiration_time=now + timedelta(days=7)))


def status_of(run_id: str) -> dict[str, Any]:
    response = RunStatus.main(func.HttpRequest("GET", f"http://localhost/api/sync/runs/{run_id}", body=b"",
                                               route_params={"runId": run_id}))
    assert response.status_code == 200
    return body_of(response)  # type: ignore[no-any-return]


def start_run() -> str:
    response = Run.main(request("POST", "sync/run"))
    assert response.status_code == 202, body_of(response)
    body = body_of(response)
    assert body["status"] == "queued"
    assert response.headers["Location"] == f"/api/sync/runs/{body['runId']}"
    return str(body["runId"])


def run_to_end() -> dict[str, Any]:
    run_id = start_run()
    for _ in range(10):
        deliver(run_id)
        run = status_of(run_id)
        if run["status"] not in ("queued", "running"):
            return run
    raise AssertionError("the run did not end")


def messages() -> list[dict[str, Any]]:
    queue = dependencies().platform_updates
    found = []
    while True:
        batch = list(queue.receive_messages(max_messages=32, visibility_timeout=60))
        if not batch:
            return found
        for item in batch:
            found.append(json.loads(item.content))
            queue.delete_message(item)


def seed_leads(dataverse: Dataverse, count: int, source: int = 8, prefix: str = "L") -> list[str]:
    return dataverse.seed({"leads": [{"firstname": f"{prefix}{i}", "lastname": "Sync", "leadsourcecode": source,
                                      "emailaddress1": f"{prefix.lower()}{i}@example.com"} for i in range(count)]})["leads"]


def test_when_a_kind_is_enabled_the_first_run_sends_every_selected_record_once(dataverse: Dataverse) -> None:
    web = seed_leads(dataverse, 5)
    seed_leads(dataverse, 2, source=1, prefix="X")
    put_settings({"dataConfiguration": {"lead": {"enabled": True, "criteria": [WEB]}}})
    run = run_to_end()
    assert run["status"] == "succeeded"
    assert run["initialSync"] == ["lead"]
    assert run["counts"]["pulled"] == 5
    assert run["dynamicsRequests"] > 0 and run["start"] and run["end"] and run["durationMs"] >= 0
    sent = messages()
    assert sorted(m["dynamicsId"] for m in sent) == sorted(web)
    first = next(m for m in sent if m["dynamicsId"] == web[0])
    assert set(first) == {"messageId", "runId", "sentAt", "kind", "reason", "entity", "dynamicsId",
                          "platformContactId", "version", "fields", "addTags", "removeTags", "survivor"}
    assert (first["kind"], first["reason"], first["entity"], first["platformContactId"]) == (
        "upsert", "initialSync", "lead", None)
    assert first["fields"] == {"email": "l0@example.com", "firstName": "L0", "lastName": "Sync"}
    assert first["addTags"] == ["D365: Lead", "D365: Pushed from Dynamics"]
    assert first["messageId"] == hashlib.sha256(
        f"lead|{web[0]}|upsert|initialSync|{first['version']}".encode()).hexdigest()
    assert run_to_end()["counts"]["pulled"] == 0  # nothing changed: nothing sent
    assert messages() == []


def test_when_records_change_later_runs_send_updates_creations_and_deletions(dataverse: Dataverse) -> None:
    ids = seed_leads(dataverse, 4)
    put_settings({"dataConfiguration": {"lead": {"enabled": True, "criteria": [WEB]}}})
    run_to_end()
    messages()
    api = dataverse.api
    headers = {**dataverse.auth_headers, "Content-Type": "application/json"}
    import requests

    requests.patch(f"{api}leads({ids[0]})", json={"firstname": "Changed"}, headers=headers, timeout=10)
    # Leaves the selection and changes a mapped field: a known record flows whatever the criteria.
    requests.patch(f"{api}leads({ids[1]})", json={"leadsourcecode": 1, "lastname": "Moved"}, headers=headers,
                   timeout=10)
    requests.patch(f"{api}leads({ids[3]})", json={"leadsourcecode": 3}, headers=headers, timeout=10)
    requests.delete(f"{api}leads({ids[2]})", headers=headers, timeout=10)
    new = seed_leads(dataverse, 1, prefix="N")[0]
    seed_leads(dataverse, 1, source=2, prefix="Z")
    run = run_to_end()
    assert run["initialSync"] == []
    sent = {(m["dynamicsId"], m["kind"], m["reason"]): m for m in messages()}
    assert set(sent) == {(ids[0], "upsert", "updated"), (ids[1], "upsert", "updated"),
                         (ids[2], "unlink", "deleted"), (new, "upsert", "created")}
    assert sent[(ids[0], "upsert", "updated")]["fields"]["firstName"] == "Changed"
    assert sent[(ids[0], "upsert", "updated")]["addTags"] == []
    assert sent[(ids[2], "unlink", "deleted")]["version"] is None
    assert sent[(ids[2], "unlink", "deleted")]["removeTags"] == ["D365: Lead"]
    assert sent[(new, "upsert", "created")]["addTags"] == ["D365: Lead", "D365: Pushed from Dynamics"]
    assert (run["counts"]["pulled"], run["counts"]["deleted"]) == (3, 1)
    assert run["counts"]["echoes"] == 1  # ids[3]: no mapped field changed, nothing to send


def test_when_a_run_dies_mid_initial_sync_the_next_delivery_resumes_and_sends_nothing_twice(
        dataverse: Dataverse) -> None:
    seed_leads(dataverse, 7)
    put_settings({"dataConfiguration": {"lead": {"enabled": True}}})
    dataverse.hook("POST", "faults", {"failNext": [{"status": 400, "count": 1, "contains": "leadid%20gt%20"}]})
    run_id = start_run()
    with pytest.raises(Exception):  # noqa: B017 - the delivery fails as a crash would; the host redelivers
        deliver(run_id)
    assert len(messages_kept := messages()) == 2  # the first page went out before the failure
    deliver(run_id)
    run = status_of(run_id)
    assert run["status"] == "succeeded"
    rest = messages()
    assert len(rest) == 5
    assert len({m["dynamicsId"] for m in messages_kept + rest}) == 7


def test_when_the_delta_token_has_expired_only_what_differs_is_sent(dataverse: Dataverse) -> None:
    ids = seed_leads(dataverse, 3)
    put_settings({"dataConfiguration": {"lead": {"enabled": True}}})
    run_to_end()
    messages()
    import requests

    requests.patch(f"{dataverse.api}leads({ids[1]})", json={"lastname": "Renamed"},
                   headers={**dataverse.auth_headers, "Content-Type": "application/json"}, timeout=10)
    dataverse.hook("POST", "expire-delta-tokens")
    run = run_to_end()
    assert run["status"] == "succeeded"
    sent = messages()
    assert [(m["dynamicsId"], m["reason"], m["fields"]["lastName"]) for m in sent] == [(ids[1], "updated", "Renamed")]
    assert run_to_end()["counts"]["pulled"] == 0  # the new delta link works


def test_when_change_tracking_is_off_a_watermark_finds_the_changes(dataverse: Dataverse) -> None:
    dataverse.seed({"$changeTracking": {"lead": False}})
    ids = seed_leads(dataverse, 2)
    put_settings({"dataConfiguration": {"lead": {"enabled": True}}})
    assert run_to_end()["counts"]["pulled"] == 2
    messages()
    import requests

    requests.patch(f"{dataverse.api}leads({ids[0]})", json={"firstname": "Later"},
                   headers={**dataverse.auth_headers, "Content-Type": "application/json"}, timeout=10)
    run = run_to_end()
    sent = messages()
    assert [(m["dynamicsId"], m["reason"]) for m in sent] == [(ids[0], "updated")]
    assert run["counts"]["pulled"] == 1
    overlap = run_to_end()["counts"]
    assert (overlap["pulled"], overlap["echoes"]) == (0, 0)  # the overlap re-reads, the versions de-duplicate


def test_when_contacts_are_merged_the_subordinate_unlinks_naming_the_survivor_and_the_link_moves(
        dataverse: Dataverse) -> None:
    keep, lose = dataverse.seed({"contacts": [{"lastname": "Keep", "emailaddress1": "k@x.com"},
                                              {"lastname": "Lose", "emailaddress1": "l@x.com"}]})["contacts"]
    put_settings({"dataConfiguration": {"contact": {"enabled": True}}})
    run_to_end()
    messages()
    assert Links.main(request("POST", "sync/links", {"platformContactId": "pc-7", "entity": "contact",
                                                     "dynamicsId": lose})).status_code == 204
    import requests

    merge = {"Target": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": keep},
             "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": lose},
             "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.contact"}, "PerformParentingChecks": False}
    assert requests.post(f"{dataverse.api}Merge", json=merge, timeout=10,
                         headers={**dataverse.auth_headers, "Content-Type": "application/json"}).status_code == 204
    run = run_to_end()
    sent = messages()
    unlink = next(m for m in sent if m["kind"] == "unlink")
    assert (unlink["reason"], unlink["dynamicsId"], unlink["platformContactId"]) == ("merged", lose, "pc-7")
    assert unlink["survivor"] == {"entity": "contact", "dynamicsId": keep, "platformContactId": "pc-7"}
    assert unlink["removeTags"] == [] and unlink["fields"] == {}
    assert run["counts"]["merged"] == 1
    assert dependencies().sync_ledger.get_link("contact", "pc-7").dynamics_id == keep  # type: ignore[union-attr]


def test_when_global_sync_is_off_nothing_is_sent_and_turning_it_on_resends_everything(
        dataverse: Dataverse) -> None:
    seed_leads(dataverse, 2)
    put_settings({"globalSync": False, "dataConfiguration": {"lead": {"enabled": True}}})
    assert run_to_end()["counts"]["pulled"] == 0
    assert messages() == []
    put_settings({"globalSync": True, "dataConfiguration": {"lead": {"enabled": True}}})
    run = run_to_end()
    assert (run["initialSync"], run["counts"]["pulled"]) == (["lead"], 2)
    put_settings({"globalSync": False, "dataConfiguration": {"lead": {"enabled": True}}})
    put_settings({"globalSync": True, "dataConfiguration": {"lead": {"enabled": True}}})
    assert run_to_end()["counts"]["pulled"] == 2  # resent from scratch
    assert [m["reason"] for m in messages()] == ["initialSync"] * 4


def test_when_a_run_is_queued_another_is_refused_with_its_id() -> None:
    run_id = start_run()
    response = Run.main(request("POST", "sync/run"))
    assert response.status_code == 409
    problem = body_of(response)
    assert (problem["code"], problem["runId"]) == ("syncRunning", run_id)
    assert Timer.main(TimerRequest(past_due=False)) is None
    listed = body_of(Runs.main(request("GET", "sync/runs")))["runs"]
    assert [(r["runId"], r["status"], r["trigger"]) for r in listed] == [(run_id, "queued", "manual")]


def test_when_a_run_stays_queued_for_15_minutes_it_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    stale = start_run()
    monkeypatch.setenv("SYNC_CLOCK_OFFSET_SECONDS", str(16 * 60))
    reset_dependencies()
    fresh = start_run()
    assert status_of(stale)["status"] == "cutOff" and status_of(stale)["end"]
    assert status_of(fresh)["status"] == "queued"


def tick_at(monkeypatch: pytest.MonkeyPatch, hours: float) -> list[dict[str, Any]]:
    monkeypatch.setenv("SYNC_CLOCK_OFFSET_SECONDS", str(int(hours * 3600)))
    reset_dependencies()
    Timer.main(TimerRequest(past_due=False))
    queued = [r for r in body_of(Runs.main(request("GET", "sync/runs")))["runs"] if r["status"] == "queued"]
    for run in queued:
        deliver(run["runId"])
    return queued


def test_when_the_frequency_is_four_hours_ticks_queue_a_run_only_when_due(monkeypatch: pytest.MonkeyPatch) -> None:
    put_settings({"frequencyHours": 4})
    assert len(tick_at(monkeypatch, 0)) == 1  # none yet: due
    assert [len(tick_at(monkeypatch, h)) for h in (1, 2, 3)] == [0, 0, 0]
    run_to_end()  # a manual run does not move the schedule
    assert len(tick_at(monkeypatch, 4)) == 1
    assert [len(tick_at(monkeypatch, h)) for h in (5, 6, 7)] == [0, 0, 0]
    runs = body_of(Runs.main(request("GET", "sync/runs", params={"top": "2"})))["runs"]
    assert [r["trigger"] for r in runs] == ["timer", "manual"]


def test_when_runs_are_listed_top_is_checked() -> None:
    response = Runs.main(request("GET", "sync/runs", params={"top": "0"}))
    assert response.status_code == 400
    missing = RunStatus.main(func.HttpRequest("GET", "http://localhost/api/sync/runs/x", body=b"",
                                              route_params={"runId": "nope"}))
    assert missing.status_code == 404


# -- platform to Dynamics -----------------------------------------------------------------------------

Enqueue = load("SyncEnqueue")
Changes = load("SyncChanges")
LEAD_TAGS = ["D365: Lead", "D365: Pulled from Platform"]


def dv(dataverse: Dataverse, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import requests

    response = requests.request(method, f"{dataverse.api}{path}", json=body, timeout=10,
                                headers={**dataverse.auth_headers, "Content-Type": "application/json"})
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def enqueue(person: dict[str, Any], kind: str = "lead") -> None:
    response = Enqueue.main(request("POST", "sync/enqueue", {"person": person, "as": kind}))
    assert response.status_code == 202, body_of(response)


def change(person: dict[str, Any], updated_at: str, tags: list[str] | None = LEAD_TAGS) -> None:
    item: dict[str, Any] = {"person": person, "updatedAt": updated_at}
    if tags is not None:
        item["tags"] = tags
    assert Changes.main(request("POST", "sync/changes", {"changes": [item]})).status_code == 202


def link_of(platform_contact_id: str, kind: str = "lead") -> str:
    record = dependencies().sync_ledger.get_link(kind, platform_contact_id)
    assert record is not None
    return record.dynamics_id


def test_when_an_enqueued_contact_is_new_the_run_creates_it_and_does_not_send_it_back(dataverse: Dataverse) -> None:
    other = seed_leads(dataverse, 1)[0]
    put_settings({"dataConfiguration": {"lead": {"enabled": True}}})
    enqueue({"id": "pc-1", "email": " Ada@Example.com ", "firstName": "Ada", "lastName": "Lovelace",
             "jobTitle": "CTO"})
    run = run_to_end()
    assert (run["counts"]["created"], run["counts"]["linked"]) == (1, 0)
    lead = dv(dataverse, "GET", f"leads({link_of('pc-1')})?$select=emailaddress1,subject,firstname,lastname,jobtitle")
    assert (lead["emailaddress1"], lead["subject"], lead["firstname"], lead["lastname"]) == (
        "Ada@Example.com", "Platform sync", "Ada", "Lovelace")
    assert lead["jobtitle"] is None  # not an identifier column, not mapped
    assert [m["dynamicsId"] for m in messages()] == [other]  # the run's own record is not sent
    assert run_to_end()["counts"]["pulled"] == 0


def test_when_an_enqueued_contact_already_exists_it_is_linked_not_duplicated(dataverse: Dataverse) -> None:
    existing = dataverse.seed({"leads": [{"lastname": "Known", "emailaddress1": "known@example.com"}]})["leads"][0]
    enqueue({"id": "pc-2", "email": "KNOWN@example.com"})
    run = run_to_end()
    assert (run["counts"]["created"], run["counts"]["linked"]) == (0, 1)
    assert link_of("pc-2") == existing
    assert len(dv(dataverse, "GET", "leads?$select=leadid")["value"]) == 1


def test_when_a_lead_is_enqueued_for_a_known_contact_the_new_lead_names_it_and_its_account(
        dataverse: Dataverse) -> None:
    account = dataverse.seed({"accounts": [{"name": "Contoso"}]})["accounts"][0]
    contact = dataverse.seed({"contacts": [{"lastname": "C", "emailaddress1": "c@example.com",
                                            "parentcustomerid_account@odata.bind": f"/accounts({account})"}]})[
        "contacts"][0]
    enqueue({"id": "pc-3", "email": "c@example.com"})
    run_to_end()
    lead = dv(dataverse, "GET", f"leads({link_of('pc-3')})?$select=_parentcontactid_value,_parentaccountid_value")
    assert (lead["_parentcontactid_value"], lead["_parentaccountid_value"]) == (contact, account)


def test_when_a_linked_contact_changes_the_change_is_pushed_and_never_echoes_back(dataverse: Dataverse) -> None:
    put_settings({"dataConfiguration": {"lead": {"enabled": True}}})
    enqueue({"id": "pc-4", "email": "p4@example.com", "firstName": "Old"})
    run_to_end()
    messages()
    change({"id": "pc-4", "firstName": "New", "lastName": None}, "2026-05-01T10:00:00Z")
    run = run_to_end()
    assert (run["counts"]["pushed"], run["counts"]["echoes"]) == (1, 1)  # the pull saw the push's own write
    lead = dv(dataverse, "GET", f"leads({link_of('pc-4')})?$select=firstname,lastname")
    assert (lead["firstname"], lead["lastname"]) == ("New", None)
    assert messages() == []  # the sync's own write is not news
    later = run_to_end()
    assert (later["counts"]["pulled"], messages()) == (0, [])


def test_when_a_change_lacks_the_kinds_tags_it_is_skipped(dataverse: Dataverse) -> None:
    enqueue({"id": "pc-5", "email": "p5@example.com", "firstName": "Same"})
    run_to_end()
    change({"id": "pc-5", "firstName": "Other"}, "2026-05-01T10:00:00Z", tags=["D365: Contact"])
    change({"id": "pc-unknown", "firstName": "Nobody"}, "2026-05-01T10:00:00Z")
    run = run_to_end()
    assert (run["counts"]["pushed"], run["counts"]["skipped"]) == (0, 2)
    assert dv(dataverse, "GET", f"leads({link_of('pc-5')})?$select=firstname")["firstname"] == "Same"


@pytest.mark.parametrize(("policy", "updated_at", "winner"), [
    ("dynamicsWins", "2099-01-01T00:00:00Z", "dynamics"),
    ("platformWins", "2000-01-01T00:00:00Z", "platform"),
    ("newestWins", "2099-01-01T00:00:00Z", "platform"),
    ("newestWins", "2000-01-01T00:00:00Z", "dynamics"),
])
def test_when_a_field_changed_on_both_sides_the_policy_decides(dataverse: Dataverse, policy: str, updated_at: str,
                                                                winner: str) -> None:
    put_settings({"conflictPolicy": policy, "dataConfiguration": {"lead": {"enabled": True}}})
    enqueue({"id": "pc-6", "email": "p6@example.com", "firstName": "Base", "lastName": "Same"})
    run_to_end()
    messages()
    dv(dataverse, "PATCH", f"leads({link_of('pc-6')})", {"firstname": "FromDynamics"})
    change({"id": "pc-6", "firstName": "FromPlatform", "lastName": "Pushed"}, updated_at)
    run = run_to_end()
    assert run["counts"]["conflicts"] == 1
    assert run["conflicts"] == [{"entity": "lead", "dynamicsId": link_of("pc-6"), "platformContactId": "pc-6",
                                 "field": "firstName", "winner": winner}]
    lead = dv(dataverse, "GET", f"leads({link_of('pc-6')})?$select=firstname,lastname")
    assert lead["lastname"] == "Pushed"  # the other field of the change is pushed as usual
    sent = messages()
    if winner == "dynamics":
        assert lead["firstname"] == "FromDynamics"
        assert [(m["reason"], m["fields"]["firstName"]) for m in sent] == [("updated", "FromDynamics")]
    else:
        assert lead["firstname"] == "FromPlatform"
        assert all(m["fields"].get("firstName") != "FromDynamics" for m in sent)
    assert run_to_end()["counts"]["pulled"] == 0
    assert messages() == []


def die_after_first_page(dataverse: Dataverse) -> tuple[str, list[dict[str, Any]]]:
    """Five Leads, a daily schedule, and a run whose delivery dies after its first page (its message
    is lost with it); returns the run's id and what it sent."""
    seed_leads(dataverse, 5)
    put_settings({"frequencyHours": 24, "dataConfiguration": {"lead": {"enabled": True}}})
    dataverse.hook("POST", "faults", {"failNext": [{"status": 400, "count": 1, "contains": "leadid%20gt%20"}]})
    first = start_run()
    with pytest.raises(Exception):  # noqa: B017 - the delivery dies as a crash would
        deliver(first)
    return first, messages()


def test_when_a_run_is_cut_off_mid_initial_sync_the_next_tick_resumes_it_and_sends_nothing_twice(
        dataverse: Dataverse, monkeypatch: pytest.MonkeyPatch) -> None:
    first, sent = die_after_first_page(dataverse)
    assert len(sent) == 2
    Timer.main(TimerRequest(past_due=False))
    assert status_of(first)["status"] == "running"  # idle for less than a lease: maybe between deliveries
    monkeypatch.setenv("SYNC_CLOCK_OFFSET_SECONDS", "120")
    reset_dependencies()
    Timer.main(TimerRequest(past_due=False))  # nobody holds the lease: the run is cut off, and a run is due
    assert status_of(first)["status"] == "cutOff"
    queued = [r for r in body_of(Runs.main(request("GET", "sync/runs")))["runs"] if r["status"] == "queued"]
    assert [r["trigger"] for r in queued] == ["timer"]
    deliver(queued[0]["runId"])
    resumed = status_of(queued[0]["runId"])
    assert (resumed["status"], resumed["initialSync"], resumed["counts"]["pulled"]) == ("succeeded", ["lead"], 3)
    rest = messages()
    assert len({m["dynamicsId"] for m in sent + rest}) == len(sent + rest) == 5


def test_when_a_push_links_a_record_while_an_initial_sync_is_cut_off_the_resumed_sync_sends_it_linked(
        dataverse: Dataverse, monkeypatch: pytest.MonkeyPatch) -> None:
    _, first_page = die_after_first_page(dataverse)
    sent = {m["dynamicsId"] for m in first_page}
    # The ledger knew nothing when this initial sync began, so its pages skip the ledger look-up;
    # a contact enqueued now matches a Lead of a later page, which the next run's push links.
    later = next(m for m in dv(dataverse, "GET", "leads?$select=leadid,emailaddress1")["value"]
                 if m["leadid"] not in sent)
    enqueue({"id": "pc-late", "email": later["emailaddress1"]})
    monkeypatch.setenv("SYNC_CLOCK_OFFSET_SECONDS", "120")
    reset_dependencies()
    Timer.main(TimerRequest(past_due=False))  # the dead run is cut off; a timer run is queued
    queued = [r for r in body_of(Runs.main(request("GET", "sync/runs")))["runs"] if r["status"] == "queued"]
    deliver(queued[0]["runId"])
    resumed = status_of(queued[0]["runId"])
    assert (resumed["status"], resumed["counts"]["linked"], resumed["counts"]["pulled"]) == ("succeeded", 1, 3)
    rest = messages()
    assert later["leadid"] in {m["dynamicsId"] for m in rest}
    for message in rest:
        if message["dynamicsId"] == later["leadid"]:
            # Sent as the platform's own contact: its id, and only the kind tag (linked through an enqueue).
            assert (message["platformContactId"], message["addTags"]) == ("pc-late", ["D365: Lead"])
    assert len({m["dynamicsId"] for m in rest} | sent) == 5


def test_when_dynamics_refuses_a_record_it_is_retried_at_each_run_then_given_up_and_listed(
        dataverse: Dataverse) -> None:
    size = {"platform": "platformFields.size", "dynamics": "numberofemployees", "direction": "toDynamics"}
    put_settings({"fieldMappings": {"lead": [*json.loads(json.dumps(
        [{"platform": "firstName", "dynamics": "firstname", "direction": "both"}])), size]}})
    enqueue({"id": "pc-8", "email": "p8@example.com", "platformFields": {"size": "lots"}})
    enqueue({"id": "pc-9", "email": "p9@example.com", "platformFields": {"size": 12}})
    first = run_to_end()
    assert (first["status"], first["counts"]["created"], first["counts"]["errors"]) == ("partial", 1, 1)
    assert first["firstErrors"][0]["platformContactId"] == "pc-8"
    assert first["firstErrors"][0]["code"] == "0x80048d19"
    change({"id": "pc-9", "platformFields": {"size": "many"}}, "2026-05-01T10:00:00Z")
    codes = []
    for _ in range(5):
        run = run_to_end()
        codes.append(sorted(e["code"] for e in run["firstErrors"]))
    # The enqueue failed at runs 1-5 and is given up at its 5th; the change at runs 2-6.
    assert codes == [["0x80048d19", "0x80048d19"]] * 3 + [["0x80048d19", "gaveUp"], ["gaveUp"]]
    assert dependencies().sync_pending.pending_kinds("pc-8") == []
    assert list(dependencies().sync_pending.pending_changes()) == []
    assert run_to_end()["status"] == "succeeded"


def test_when_a_record_merges_into_one_the_platform_does_not_know_the_survivor_follows_as_created(
        dataverse: Dataverse) -> None:
    keep, lose = dataverse.seed({"contacts": [{"lastname": "Keep", "emailaddress1": "k@x.com"},
                                              {"lastname": "Lose", "emailaddress1": "l@x.com"}]})["contacts"]
    put_settings({"dataConfiguration": {"contact": {"enabled": True, "criteria": [
        {"field": "lastname", "op": "eq", "value": "Lose"}]}}})
    run_to_end()
    assert [m["dynamicsId"] for m in messages()] == [lose]
    assert Links.main(request("POST", "sync/links", {"platformContactId": "pc-7", "entity": "contact",
                                                     "dynamicsId": lose})).status_code == 204
    merge = {"Target": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": keep},
             "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": lose},
             "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.contact"}, "PerformParentingChecks": False}
    dv(dataverse, "POST", "Merge", merge)
    run_to_end()
    sent = {(m["kind"], m["reason"]): m for m in messages()}
    assert set(sent) == {("unlink", "merged"), ("upsert", "created")}
    assert sent[("unlink", "merged")]["survivor"] == {"entity": "contact", "dynamicsId": keep,
                                                      "platformContactId": "pc-7"}
    survivor = sent[("upsert", "created")]
    assert (survivor["dynamicsId"], survivor["platformContactId"]) == (keep, "pc-7")
    assert link_of("pc-7", "contact") == keep
