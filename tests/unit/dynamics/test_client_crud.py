"""Reads, writes, errors, actions and counting against the emulator over real HTTP."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests

from shared.dynamics import (
    ConcurrencyError,
    DataverseClient,
    DataverseRequestError,
    Expand,
    Query,
    RecordExistsError,
    RecordNotFoundError,
    StaticTokenCredential,
    bind,
)
from shared.dynamics import Filter as F
from shared.dynamics.transport import new_session
from tests.conftest import Dataverse

GUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def test_when_a_lead_is_created_its_id_comes_from_the_entity_url_and_it_reads_back(client: DataverseClient) -> None:
    step = client.counted()
    lead_id = step.create_record("leads", {"subject": "Webinar", "lastname": "Lovelace", "emailaddress1": "ada@example.com"})
    assert uuid.UUID(lead_id) and lead_id == lead_id.lower()
    assert step.request_count == 1
    record = step.get_record("leads", lead_id, select=["subject", "emailaddress1"])
    assert record["leadid"] == lead_id
    assert record["subject"] == "Webinar" and record["emailaddress1"] == "ada@example.com"
    assert record["@odata.etag"].startswith('W/"')
    assert step.request_count == 2


def test_when_a_record_is_missing_get_raises_not_found_with_the_dataverse_code(client: DataverseClient) -> None:
    with pytest.raises(RecordNotFoundError) as info:
        client.get_record("leads", str(uuid.uuid4()))
    assert info.value.status == 404
    assert info.value.code == "0x80040217"


def test_when_the_entity_set_is_misspelled_it_is_not_found(client: DataverseClient) -> None:
    with pytest.raises(RecordNotFoundError) as info:
        list(client.list_records("Leads"))
    assert info.value.code == "0x8006088a"


def test_when_a_property_is_unknown_it_is_a_request_error(client: DataverseClient) -> None:
    with pytest.raises(DataverseRequestError) as info:
        list(client.list_records("leads", Query(select=["nosuchcolumn"])))
    assert info.value.status == 400
    with pytest.raises(DataverseRequestError):
        client.create_record("leads", {"nosuchcolumn": 1})


def test_when_the_caller_chooses_the_id_the_row_gets_it_and_a_second_create_returns_it_unchanged(
    client: DataverseClient,
) -> None:
    chosen = str(uuid.uuid4())
    assert client.create_record("contacts", {"lastname": "Hopper"}, record_id=chosen) == chosen
    assert client.get_record("contacts", chosen)["lastname"] == "Hopper"
    # Dataverse refuses the second create; the row with the chosen id is there: an earlier call made it.
    assert client.create_record("contacts", {"lastname": "Other"}, record_id=chosen) == chosen
    assert client.get_record("contacts", chosen)["lastname"] == "Hopper"


def test_when_an_alternate_key_refuses_a_create_with_a_chosen_id_it_is_a_duplicate(
    dataverse: Dataverse, client: DataverseClient,
) -> None:
    dataverse.seed({"$keys": {"contact": [["emailaddress1"]]},
                    "contacts": [{"emailaddress1": "taken@example.com", "lastname": "First"}]})
    chosen = str(uuid.uuid4())
    with pytest.raises(RecordExistsError) as info:
        client.create_record("contacts", {"emailaddress1": "taken@example.com"}, record_id=chosen)
    assert info.value.status == 412
    with pytest.raises(RecordNotFoundError):
        client.get_record("contacts", chosen)


def test_when_an_update_targets_a_missing_row_it_raises_and_creates_nothing(client: DataverseClient) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(RecordNotFoundError):
        client.update_record("leads", missing, {"subject": "x"})
    with pytest.raises(RecordNotFoundError):
        client.get_record("leads", missing)


def test_when_an_update_carries_a_stale_etag_it_is_a_concurrency_error(client: DataverseClient) -> None:
    lead_id = client.create_record("leads", {"subject": "v1"})
    etag = client.get_record("leads", lead_id)["@odata.etag"]
    client.update_record("leads", lead_id, {"subject": "v2"}, etag=etag)
    with pytest.raises(ConcurrencyError) as info:
        client.update_record("leads", lead_id, {"subject": "v3"}, etag=etag)
    assert info.value.status == 412
    assert client.get_record("leads", lead_id, select=["subject"])["subject"] == "v2"


def test_when_upserting_created_and_updated_are_told_apart(client: DataverseClient) -> None:
    key = str(uuid.uuid4())
    first = client.upsert_record("contacts", key, {"lastname": "Turing"})
    assert first.created is True and first.record_id == key
    second = client.upsert_record("contacts", key, {"firstname": "Alan"})
    assert second.created is False and second.record_id == key
    row = client.get_record("contacts", key, select=["firstname", "lastname"])
    assert (row["firstname"], row["lastname"]) == ("Alan", "Turing")


def test_when_upsert_must_only_create_an_existing_row_is_a_duplicate(client: DataverseClient) -> None:
    key = str(uuid.uuid4())
    assert client.upsert_record("contacts", key, {"lastname": "A"}, create_only=True).created is True
    with pytest.raises(RecordExistsError):
        client.upsert_record("contacts", key, {"lastname": "B"}, create_only=True)


def test_when_upsert_must_only_update_a_missing_row_is_not_found(client: DataverseClient) -> None:
    with pytest.raises(RecordNotFoundError):
        client.upsert_record("contacts", str(uuid.uuid4()), {"lastname": "A"}, update_only=True)


def test_when_a_record_is_deleted_twice_the_second_delete_succeeds(client: DataverseClient) -> None:
    lead_id = client.create_record("leads", {"subject": "gone soon"})
    client.delete_record("leads", lead_id)
    client.delete_record("leads", lead_id)
    with pytest.raises(RecordNotFoundError):
        client.get_record("leads", lead_id)


def test_when_a_lookup_is_bound_it_reads_back_as_the_value_column(client: DataverseClient) -> None:
    contact_id = client.create_record("contacts", {"lastname": "Parent"})
    lead_id = client.create_record("leads", {"subject": "child", "parentcontactid@odata.bind": bind("contacts", contact_id)})
    row = client.get_record("leads", lead_id, select=["_parentcontactid_value"])
    assert row["_parentcontactid_value"] == contact_id
    rows = list(client.list_records("leads", Query(select=["leadid"], filter=F.eq("_parentcontactid_value", contact_id))))
    assert [r["leadid"] for r in rows] == [lead_id]


def test_when_a_member_is_added_to_a_list_twice_the_action_is_idempotent(client: DataverseClient) -> None:
    list_id = client.create_record("lists", {"listname": "Webinar", "createdfromcode": 4})
    lead_id = client.create_record("leads", {"subject": "member"})
    first = client.call_action("AddMemberList", {"EntityId": lead_id}, entity_set="lists", record_id=list_id)
    second = client.call_action("AddMemberList", {"EntityId": lead_id}, entity_set="lists", record_id=list_id)
    assert first["Id"] and first["Id"] == second["Id"]
    members = list(client.list_records("listmembers", Query(filter=F.eq("_listid_value", list_id))))
    assert len(members) == 1


def test_when_rows_are_associated_and_disassociated_the_link_follows(client: DataverseClient) -> None:
    list_id = client.create_record("lists", {"listname": "Contacts", "createdfromcode": 2})
    contact_id = client.create_record("contacts", {"lastname": "Member"})
    client.associate("lists", list_id, "listcontact_association", "contacts", contact_id)
    linked = client.get_record("lists", list_id, expand=[_expand("listcontact_association")])
    assert [c["contactid"] for c in linked["listcontact_association"]] == [contact_id]
    client.disassociate("lists", list_id, "listcontact_association", contact_id)
    unlinked = client.get_record("lists", list_id, expand=[_expand("listcontact_association")])
    assert unlinked["listcontact_association"] == []


def _expand(navigation: str) -> Expand:
    return Expand(navigation, select=["contactid"])


def test_when_an_unbound_action_answers_204_the_result_is_empty_and_it_took_effect(client: DataverseClient) -> None:
    list_id = client.create_record("lists", {"listname": "Bulk", "createdfromcode": 4})
    leads = [client.create_record("leads", {"subject": f"m{i}"}) for i in range(3)]
    body = {"List": {"listid": list_id, "@odata.type": "Microsoft.Dynamics.CRM.list"},
            "Members": [{"leadid": lead, "@odata.type": "Microsoft.Dynamics.CRM.lead"} for lead in leads]}
    assert client.call_action("AddListMembersList", body) == {}
    assert client.get_record("lists", list_id, select=["membercount"])["membercount"] == 3


def test_when_a_function_is_called_its_result_comes_back(client: DataverseClient) -> None:
    result = client.call_function("WhoAmI")
    assert "UserId" in result


def test_when_views_are_counted_each_counts_its_own_exchanges_and_the_parent_all(client: DataverseClient) -> None:
    lead_id = client.create_record("leads", {"subject": "counted"})
    before = client.request_count
    views = [client.counted() for _ in range(8)]

    def work(view: DataverseClient, n: int) -> None:
        for _ in range(n):
            view.get_record("leads", lead_id, select=["subject"])

    threads = [threading.Thread(target=work, args=(view, i + 1)) for i, view in enumerate(views)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [view.request_count for view in views] == [i + 1 for i in range(8)]
    assert client.request_count - before == sum(range(1, 9))


def test_when_counting_every_exchange_the_client_and_the_server_agree(
    dataverse: Dataverse, client: DataverseClient
) -> None:
    step = client.counted()
    lead_id = step.create_record("leads", {"subject": "s"})
    step.update_record("leads", lead_id, {"subject": "t"})
    step.query_batch([("leads", None), ("contacts", None)])
    list(step.list_records("leads", page_size=1))
    step.delete_record("leads", lead_id)
    step.delete_record("leads", lead_id)
    assert step.request_count == dataverse.stats()["total"] == 6


def test_when_requests_are_sent_they_carry_the_odata_headers_and_the_bearer_token(dataverse: Dataverse) -> None:
    sent: list[requests.PreparedRequest] = []
    session = new_session()
    session.hooks["response"].append(lambda response, *args, **kwargs: sent.append(response.request))
    client = DataverseClient(dataverse.root, StaticTokenCredential(dataverse.token, dataverse.root), session=session)
    lead_id = client.create_record("leads", {"subject": "s"})
    list(client.list_records("leads", Query(select=["subject"]), page_size=10))
    client.update_record("leads", lead_id, {"subject": "t"})
    assert [r.method for r in sent] == ["POST", "GET", "PATCH"]
    for request in sent:
        assert request.headers["Accept"] == "application/json"
        assert request.headers["OData-MaxVersion"] == request.headers["OData-Version"] == "4.0"
        assert request.headers["Authorization"] == f"Bearer {dataverse.token}"
    post, get, patch = sent
    assert post.headers["Content-Type"].startswith("application/json")
    assert get.headers["If-None-Match"] == "null" and get.headers["Prefer"] == "odata.maxpagesize=10"
    assert patch.headers["If-Match"] == "*"
