"""CampaignExport end to end: messages through a local host, results over HTTP, real Azurite and
the Dataverse emulator (with the export's custom columns seeded)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devtools import stack
from tests.conftest import FUNCTION_KEY
from tests.functions.export_helpers import (
    DEFAULT_OWNER,
    MAPPED_USER,
    REPLY_MAX,
    Exports,
)
from tests.functions.journey_helpers import Dynamics, new_id, unique_email

pytest_plugins = ["tests.functions.journey_fixtures", "tests.functions.export_fixtures"]

CONTACT_SELECT = ("firstname,lastname,emailaddress1,new_source,new_segment,new_engaged,new_sequence,new_status,"
                  "new_opens,new_clicks,new_replyanalysis,_parentcustomerid_value,_ownerid_value")


def _contact(email: str, company: str | None = None, **more: Any) -> dict[str, Any]:
    person = {"id": f"p-{email}", "email": email, "firstName": "Ada", "lastName": "Lovelace"}
    if company:
        person["company"] = company
    return {"person": person, **more}


def _engaged(**more: Any) -> dict[str, Any]:
    return {"participated": True, "status": "Step 3 of 5", "opens": 2, "clicks": 1, **more}


def _message(export_id: str, contacts: list[dict[str, Any]], companies: list[dict[str, Any]] | None = None,
             ) -> dict[str, Any]:
    return {"exportId": export_id, "campaign": {"id": "c-17", "name": "Spring", "sequence": "5 e-mails"},
            "contacts": contacts, "companies": companies or []}


def test_companies_and_contacts_are_created_linked_owned_and_cut_as_the_mapping_says(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    export_id, company = f"e-{new_id()}", f"Analytical {new_id()[:8]}"
    ada, bob = unique_email("ada"), unique_email("bob")
    long_reply = "Replied: " + "x" * 100
    document = exports.run(_message(export_id, [
        _contact(ada, company, ownerUserId="u-9", exportFields={"new_segment": "Enterprise"},
                 engagement=_engaged(replyAnalysis=long_reply)),
        _contact(bob, company.upper(), ownerUserId="u-off", engagement={"participated": False, "status": "Step 1"}),
    ], [{"name": company, "domain": "https://www.analytical.example/", "exportFields": {"new_tier": "Gold"}}]))
    assert document["status"] == "completed"
    assert document["total"] == {"companies": 1, "contacts": 2}
    assert document["counts"] == {"created": 3, "updated": 0} and document["failed"] == 0
    account = document["companies"][0]
    assert (account["entity"], account["name"], account["outcome"]) == ("account", company, "created")
    assert (account["ownerRule"], account["ownerReason"]) == ("mapped", None)  # its first contact's user
    first, second = document["contacts"]
    assert first["linkedAccountId"] == second["linkedAccountId"] == account["recordId"]
    assert (first["ownerRule"], first["ownerReason"]) == ("mapped", None)
    assert (second["ownerRule"], second["ownerReason"]) == ("defaultOwner", "userDisabled")
    assert first["truncated"] == ["new_replyanalysis"] and second["truncated"] == []
    assert (first["personId"], first["email"]) == (f"p-{ada}", ada)
    common = {"index", "entity", "outcome", "recordId", "duplicates", "linkedAccountId", "ownerRule", "ownerReason",
              "truncated", "detail", "error"}  # openapi.yaml ExportEntry: every member, always present
    assert set(first) == set(second) == common | {"personId", "email"} and set(account) == common | {"name"}
    assert set(document) == {"exportId", "status", "total", "counts", "failed", "dynamicsRequests", "error",
                             "conflicts", "next", "companies", "contacts"}
    stored = columns.record("accounts", account["recordId"], "name,websiteurl,new_tier,new_engaged,_ownerid_value")
    assert (stored["name"], stored["websiteurl"], stored["new_tier"]) == (company, "https://www.analytical.example/",
                                                                          "Gold")
    assert stored["new_engaged"] == "Yes"  # a contact of it participated
    assert stored["_ownerid_value"] == MAPPED_USER
    ada_row = columns.record("contacts", first["recordId"], CONTACT_SELECT)
    assert ada_row["new_source"] == "Platform" and ada_row["new_segment"] == "Enterprise"
    assert (ada_row["new_engaged"], ada_row["new_sequence"], ada_row["new_status"]) == ("Yes", "5 e-mails",
                                                                                        "Step 3 of 5")
    assert (ada_row["new_opens"], ada_row["new_clicks"]) == ("2", "1")
    assert ada_row["new_replyanalysis"] == long_reply[: REPLY_MAX - 1] + "\u2026"
    assert ada_row["_parentcustomerid_value"] == account["recordId"]
    bob_row = columns.record("contacts", second["recordId"], CONTACT_SELECT)
    assert bob_row["new_source"] == "Platform"
    assert bob_row["new_engaged"] is None and bob_row["new_status"] is None  # not a participant
    assert bob_row["_ownerid_value"] == DEFAULT_OWNER
    assert exports.summaries(export_id)[-1] == {"exportId": export_id, "status": "completed",
                                                "total": {"companies": 1, "contacts": 2},
                                                "counts": {"created": 3, "updated": 0}, "failed": 0}


def test_a_company_matched_only_by_domain_is_updated_and_keeps_its_name_and_website(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    account_id, export_id = new_id(), f"e-{new_id()}"
    columns.seed({"accounts": [{"accountid": account_id, "name": "Example Holdings Inc.",
                                "websiteurl": "https://www.Example-Domain.com:443/about?x=1#top"}]})
    document = exports.run(_message(export_id, [], [
        {"name": f"Example {new_id()[:6]}", "domain": "example-domain.com.", "exportFields": {"new_tier": "Gold"}},
    ]))
    entry = document["companies"][0]
    assert (entry["outcome"], entry["recordId"], entry["ownerRule"]) == ("updated", account_id, None)
    stored = columns.record("accounts", account_id, "name,websiteurl,new_tier")
    assert stored == {**stored, "name": "Example Holdings Inc.",
                      "websiteurl": "https://www.Example-Domain.com:443/about?x=1#top", "new_tier": "Gold"}
    assert columns.find("accounts", name="Example Holdings Inc.") != []
    assert len(columns.rows("accounts", **{"$filter": "contains(websiteurl,'example-domain')"})) == 1


def test_an_unlisted_export_field_and_person_fields_fail_that_record_only(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    export_id, good, bad = f"e-{new_id()}", unique_email("good"), unique_email("bad")
    document = exports.run(_message(export_id, [
        _contact(bad, exportFields={"new_segment": "A", "new_unlisted": "x", "new_score": "high"}),
        {**_contact(unique_email("fields")), "person": {"email": unique_email("f"), "fields": {"jobtitle": "CTO"}}},
        _contact(good),
    ]))
    assert [entry["outcome"] for entry in document["contacts"]] == ["failed", "failed", "created"]
    error = document["contacts"][0]["error"]
    assert error["status"] == 400
    assert [item["loc"] for item in error["errors"]] == [["contacts", 0, "exportFields", "new_unlisted"],
                                                         ["contacts", 0, "exportFields", "new_score"]]
    assert document["contacts"][1]["error"]["errors"][0]["loc"] == ["contacts", 1, "person", "fields", "jobtitle"]
    assert columns.find("contacts", emailaddress1=bad) == []
    assert document["failed"] == 2 and document["counts"] == {"created": 1, "updated": 0}


def test_a_redelivery_changes_nothing_down_to_the_etag(exports: Exports, columns: Dynamics,
                                                        export_config: Any) -> None:
    export_id, company = f"e-{new_id()}", f"Redeliver {new_id()[:8]}"
    message = _message(export_id, [_contact(unique_email(), company, engagement=_engaged())],
                       [{"name": company, "domain": "redeliver.example"}])
    first = exports.run(message)
    contact_id, account_id = first["contacts"][0]["recordId"], first["companies"][0]["recordId"]
    etags = (columns.record("contacts", contact_id)["@odata.etag"], columns.record("accounts", account_id)["@odata.etag"])
    before = columns.stats()["total"]
    again = exports.run(message)
    assert again == {**first, "dynamicsRequests": again["dynamicsRequests"]}
    assert again["dynamicsRequests"] == first["dynamicsRequests"]  # no Web API request at all
    assert columns.stats()["total"] == before  # the redelivery sent Dynamics nothing
    assert (columns.record("contacts", contact_id)["@odata.etag"],
            columns.record("accounts", account_id)["@odata.etag"]) == etags
    assert len(exports.summaries(export_id)) == 2


def test_records_an_earlier_delivery_wrote_before_it_stopped_are_reported_created_and_not_written_again(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    export_id, email, company = f"e-{new_id()}", unique_email(), f"Crash {new_id()[:8]}"
    message = _message(export_id, [_contact(email, company)], [{"name": company}])
    first = exports.run(message)
    # Forget the results as a crash before storing them would have: a new export id would derive
    # other ids, so the same message is sent again with the results table row removed.
    contact_id = first["contacts"][0]["recordId"]
    etag = columns.record("contacts", contact_id)["@odata.etag"]
    from shared.store import StorageClients
    table = StorageClients.from_connection_string(exports.connection_string).table("campaignexports")
    for row in list(table.query_entities("PartitionKey eq @p", parameters={"p": export_id})):
        table.delete_entity(row["PartitionKey"], row["RowKey"])
    again = exports.run(message)
    assert [e["outcome"] for e in again["companies"] + again["contacts"]] == ["created", "created"]
    assert again["contacts"][0]["recordId"] == contact_id
    assert columns.record("contacts", contact_id)["@odata.etag"] == etag
    assert len(columns.find("contacts", emailaddress1=email)) == 1


def test_a_known_contact_is_updated_without_blanking_or_rewriting_its_email_and_duplicates_are_counted(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    email, older, newer, inactive = unique_email(), new_id(), new_id(), new_id()
    columns.seed({"contacts": [
        {"contactid": older, "emailaddress1": email.upper(), "lastname": "Old", "new_status": "Kept",
         "modifiedon": "2024-01-01T00:00:00Z"},
        {"contactid": newer, "emailaddress1": email.upper(), "lastname": "New", "new_status": "Kept",
         "modifiedon": "2025-01-01T00:00:00Z"},
        {"contactid": inactive, "emailaddress1": email, "lastname": "Gone", "statecode": 1, "statuscode": 2},
    ]})
    document = exports.run(_message(f"e-{new_id()}", [
        _contact(email, engagement={"participated": False, "status": "Step 1"}),
    ]))
    entry = document["contacts"][0]
    assert (entry["outcome"], entry["recordId"], entry["duplicates"], entry["ownerRule"]) == (
        "updated", newer, 1, None)
    stored = columns.record("contacts", newer, "emailaddress1,lastname,new_status,new_source")
    assert (stored["emailaddress1"], stored["lastname"]) == (email.upper(), "Lovelace")
    assert (stored["new_status"], stored["new_source"]) == ("Kept", "Platform")  # not a participant: kept


def test_an_inactive_only_match_means_a_new_contact(exports: Exports, columns: Dynamics, export_config: Any) -> None:
    email, inactive = unique_email(), new_id()
    columns.seed({"contacts": [{"contactid": inactive, "emailaddress1": email, "statecode": 1, "statuscode": 2}]})
    document = exports.run(_message(f"e-{new_id()}", [_contact(email)]))
    entry = document["contacts"][0]
    assert entry["outcome"] == "created" and entry["recordId"] != inactive
    assert (entry["ownerRule"], entry["ownerReason"]) == ("defaultOwner", "unmapped")


def test_a_contact_whose_company_failed_is_written_without_a_link(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    company = f"Failing {new_id()[:8]}"
    document = exports.run(_message(f"e-{new_id()}", [_contact(unique_email(), company)],
                                    [{"name": company, "exportFields": {"new_tier": "far too long for twenty"}}]))
    assert document["companies"][0]["outcome"] == "failed"
    entry = document["contacts"][0]
    assert (entry["outcome"], entry["linkedAccountId"]) == ("created", None)
    assert "its company could not be written" in entry["detail"]


def test_a_known_index_with_other_content_is_a_conflict_and_new_indexes_run(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    export_id, first_email = f"e-{new_id()}", unique_email()
    exports.run(_message(export_id, [_contact(first_email)]))
    document = exports.run(_message(export_id, [_contact(unique_email()), _contact(unique_email())]))
    assert document["conflicts"] == [{"entity": "contact", "index": 0, "error": document["conflicts"][0]["error"]}]
    assert document["conflicts"][0]["error"]["status"] == 409
    assert document["conflicts"][0]["error"]["code"] == "idempotencyKeyReused"
    assert document["contacts"][0]["email"] == first_email
    assert [e["outcome"] for e in document["contacts"]] == ["created", "created"]
    assert document["total"] == {"companies": 0, "contacts": 2}


def test_a_bad_envelope_is_rejected_with_every_problem_and_a_summary(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    export_id = f"e-{new_id()}"
    outcome = exports.deliver({"exportId": export_id, "campaign": {"name": ""}, "contacts": "x", "extra": 1})
    assert outcome["status"] == "Succeeded"
    document = exports.document(export_id)
    assert document["status"] == "rejected" and document["error"]["status"] == 400
    locs = [item["loc"] for item in document["error"]["errors"]]
    assert locs == [["extra"], ["campaign", "id"], ["campaign", "name"], ["contacts"]]
    assert document["total"] == {"companies": 0, "contacts": 0} and document["failed"] == 0
    document = exports.run({"exportId": f"e-{new_id()}", "campaign": {"id": "c", "name": "n"}, "contacts": [{}, {}],
                            "companies": [{"name": "A"}], "exportBlob": "c/n"})
    assert (document["status"], document["total"], document["failed"]) == ("rejected",
                                                                             {"companies": 1, "contacts": 2}, 3)
    assert (document["companies"], document["contacts"]) == ([], [])
    assert exports.summaries(export_id)[-1]["status"] == "rejected"


def test_an_unreadable_message_fails_the_delivery_and_an_unknown_export_is_404(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    assert exports.deliver({}, raw="not json")["status"] == "Failed"
    assert exports.deliver({"exportId": "bad id!"})["status"] == "Failed"
    assert exports.status(f"e-{new_id()}").status_code == 404
    response = exports.status("bad id!")
    assert response.status_code == 400 and response.json()["errors"][0]["loc"] == ["path", "exportId"]


def test_a_claim_checked_export_is_read_from_its_blob_and_paged(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    export_id = f"e-{new_id()}"
    message = _message(export_id, [_contact(unique_email()) for _ in range(5)])
    exports.upload("exports", f"{export_id}.json", json.dumps(message).encode())
    exports.deliver({"exportId": export_id, "exportBlob": f"exports/{export_id}.json"})
    page = exports.status(export_id, skip=0, top=2).json()
    assert len(page["contacts"]) == 2 and page["next"] == f"/api/campaign-exports/{export_id}?skip=2&top=2"
    assert [e["index"] for e in exports.document(export_id)["contacts"]] == [0, 1, 2, 3, 4]
    assert exports.status(export_id, top=0).status_code == 400


def test_throttling_never_becomes_a_result(exports: Exports, columns: Dynamics, export_config: Any) -> None:
    columns.faults({"rate429": 0.3, "retryAfter": 0, "seed": 7})
    document = exports.run(_message(f"e-{new_id()}", [_contact(unique_email()) for _ in range(20)]))
    columns.faults({})
    assert document["status"] == "completed" and document["failed"] == 0
    assert document["counts"]["created"] == 20


def test_a_record_dynamics_refuses_fails_alone_with_a_502(exports: Exports, columns: Dynamics,
                                                          export_config: Any) -> None:
    taken = unique_email()
    # An alternate key on the e-mail: creating a second Contact with an inactive one's address is refused.
    columns.seed({"$keys": {"contact": [["emailaddress1"]]},
                  "contacts": [{"emailaddress1": taken, "statecode": 1, "statuscode": 2}]})
    document = exports.run(_message(f"e-{new_id()}", [_contact(unique_email()), _contact(taken),
                                                      _contact(unique_email())]))
    assert [e["outcome"] for e in document["contacts"]] == ["created", "failed", "created"]
    assert document["contacts"][1]["error"]["status"] == 502


def test_two_contacts_of_one_person_in_one_export_make_one_contact(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    email, export_id = unique_email(), f"e-{new_id()}"
    message = _message(export_id, [_contact(email, exportFields={"new_segment": "First"}),
                                   _contact(email.upper(), exportFields={"new_segment": "Second"})])
    first = exports.run(message)
    # The second waits for the first one's lock: the delivery hands the message over.
    assert first["status"] == "running"
    assert [e["outcome"] for e in first["contacts"]] == ["created", "pending"]
    again = exports.run(message)  # the hand-over's delivery
    assert [e["outcome"] for e in again["contacts"]] == ["created", "updated"]
    assert again["contacts"][0]["recordId"] == again["contacts"][1]["recordId"]
    rows = columns.find("contacts", emailaddress1=email)
    assert len(rows) == 1
    assert columns.record("contacts", rows[0]["contactid"], "new_segment")["new_segment"] == "Second"


def test_without_a_usable_default_owner_dynamics_owns_the_new_records(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    from tests.functions.export_helpers import CONFIG, DISABLED_USER
    export_config.set({**CONFIG, "userMapping": {"identities": {"u-9": new_id()}, "defaultOwner": DISABLED_USER}})
    document = exports.run(_message(f"e-{new_id()}", [_contact(unique_email(), ownerUserId="u-9")]))
    entry = document["contacts"][0]
    assert (entry["ownerRule"], entry["ownerReason"]) == ("dynamics", "defaultOwnerUnavailable")
    owner = columns.record("contacts", entry["recordId"], "_ownerid_value")["_ownerid_value"]
    assert owner not in (DISABLED_USER, None)  # the calling application user


def test_two_exports_in_flight_with_the_same_new_people_make_one_record_each(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    emails = [unique_email(f"both{n}") for n in range(30)]
    company = f"Shared {new_id()[:8]}"
    messages = [_message(f"e-{new_id()}", [_contact(email, company) for email in emails],
                         [{"name": company, "domain": "shared.example"}]) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(exports.deliver, messages))
    for message in messages:  # what the hand-overs deliver later, at once
        if exports.document(message["exportId"])["status"] != "completed":
            exports.run(message)
    documents = [exports.document(message["exportId"]) for message in messages]
    assert [d["status"] for d in documents] == ["completed", "completed"]
    assert all(d["failed"] == 0 for d in documents)
    for email in emails:
        assert len(columns.find("contacts", emailaddress1=email)) == 1
    assert len(columns.find("accounts", name=company)) == 1
    ids = {d["companies"][0]["recordId"] for d in documents}
    assert len(ids) == 1
    assert {e["linkedAccountId"] for d in documents for e in d["contacts"]} == ids


@pytest.mark.slow
def test_when_dynamics_asks_to_wait_past_the_time_slice_the_export_is_handed_over_and_finished_later(
    stack_logs: Path, azurite: stack.Service, emulator: stack.Service, exports: Exports, columns: Dynamics,
    export_config: Any,
) -> None:
    export_id, email = f"handover-{new_id()}", unique_email()
    env = {**azurite.env, **emulator.env, "LOCAL_FUNCTION_KEY": FUNCTION_KEY, "JOURNEY_BATCH_SLICE_SECONDS": "10"}
    short = stack.start_function_host(stack_logs, env)
    try:
        columns.faults({"failNext": [{"status": 429, "count": 1, "retryAfter": 31, "path": "$batch"}]})
        outcome = Exports(short.url, FUNCTION_KEY, exports.connection_string).deliver(
            _message(export_id, [_contact(email, engagement=_engaged())]))
        assert outcome["status"] == "Succeeded"  # a hand-over is not a failed delivery
        running = exports.document(export_id)
        assert (running["status"], running["contacts"][0]["outcome"]) == ("running", "pending")
        deadline = time.monotonic() + 90
        while exports.document(export_id)["status"] != "completed":  # a host runs the handed-over message
            assert time.monotonic() < deadline, "the handed-over message was not finished"
            time.sleep(2)
    finally:
        short.stop(timeout=30.0)
    assert exports.document(export_id)["contacts"][0]["outcome"] == "created"
    assert len(columns.find("contacts", emailaddress1=email)) == 1
