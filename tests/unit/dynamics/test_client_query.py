"""Queries, escaping, paging and query_batch against the emulator over real HTTP."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest

from shared.dynamics import DataverseClient, DataverseRequestError, Expand, Query
from shared.dynamics import Filter as F
from tests.conftest import Dataverse

AWKWARD = [
    "o'brien@example.com",
    "a+tag@example.com",
    "a&b@example.com",
    "hash#tag@example.com",
    "100%real@example.com",
    "zoë@exämple.com",
    "' or 1 eq 1 or '@example.com",
]


def test_when_emails_have_special_characters_each_filter_matches_exactly_its_row(client: DataverseClient) -> None:
    ids = {email: client.create_record("leads", {"subject": "s", "emailaddress1": email}) for email in AWKWARD}
    # Decoys that a badly escaped literal would also match (or match instead).
    client.create_record("leads", {"subject": "s", "emailaddress1": "obrien@example.com"})
    client.create_record("leads", {"subject": "s", "emailaddress1": "a tag@example.com"})
    client.create_record("leads", {"subject": "s", "emailaddress1": "a"})
    for email, lead_id in ids.items():
        rows = list(client.list_records("leads", Query(select=["emailaddress1"], filter=F.eq("emailaddress1", email))))
        assert [(r["leadid"], r["emailaddress1"]) for r in rows] == [(lead_id, email)], email


def test_when_in_has_a_quoted_value_it_matches_those_rows(client: DataverseClient) -> None:
    a = client.create_record("leads", {"subject": "s", "emailaddress1": "o'brien@example.com"})
    b = client.create_record("leads", {"subject": "s", "emailaddress1": "plain@example.com"})
    client.create_record("leads", {"subject": "s", "emailaddress1": "other@example.com"})
    query = Query(select=["leadid"], filter=F.in_("emailaddress1", ["o'brien@example.com", "plain@example.com"]))
    assert {r["leadid"] for r in client.list_records("leads", query)} == {a, b}


def test_when_a_string_function_value_holds_sql_wildcards_they_match_only_literally(client: DataverseClient) -> None:
    names = ["100% sure", "1000 sure", "first_last", "firstXlast", "[draft] plan", "d plan", "t"]
    ids = {name: client.create_record("leads", {"subject": name}) for name in names}

    def subjects(filter_: F) -> list[str]:
        rows = client.list_records("leads", Query(select=["subject"], filter=filter_))
        return sorted(row["subject"] for row in rows)

    # Unescaped, each of these would also match its decoy (`1000 sure`, `firstXlast`, `d plan`).
    assert subjects(F.contains("subject", "100%")) == ["100% sure"]
    assert subjects(F.startswith("subject", "first_")) == ["first_last"]
    assert subjects(F.startswith("subject", "[d")) == ["[draft] plan"]
    assert subjects(F.endswith("subject", "] plan")) == ["[draft] plan"]
    assert len(ids) == len(names)


def test_when_in_values_pass_850_characters_every_row_is_still_found_in_one_request(client: DataverseClient) -> None:
    emails = [f"subscriber.number{i:03d}@example.com" for i in range(60)]  # ~2,200 characters
    ids = {client.create_record("leads", {"subject": "s", "emailaddress1": email}) for email in emails}
    client.create_record("leads", {"subject": "s", "emailaddress1": "someone.else@example.com"})
    step = client.counted()
    # The emulator refuses an In over 850 characters, as Dataverse does: this passes only split.
    rows = list(step.list_records("leads", Query(select=["leadid"], filter=F.in_("emailaddress1", emails))))
    assert {row["leadid"] for row in rows} == ids
    assert step.request_count == 1


def test_when_a_query_has_too_many_conditions_nothing_is_sent(client: DataverseClient) -> None:
    step = client.counted()
    with pytest.raises(ValueError):
        list(step.list_records("leads", Query(filter=F.or_(*(F.eq("subject", str(i)) for i in range(501))))))
    assert step.request_count == 0


def test_when_filters_combine_and_or_not_and_string_functions_the_right_rows_match(client: DataverseClient) -> None:
    ada = client.create_record("leads", {"subject": "s", "firstname": "Ada", "lastname": "Lovelace", "companyname": "Engines"})
    grace = client.create_record("leads", {"subject": "s", "firstname": "Grace", "lastname": "Hopper"})
    client.create_record("leads", {"subject": "s", "firstname": "Alan", "lastname": "Turing", "companyname": "Engines"})

    def ids(filter_: F) -> set[str]:
        return {r["leadid"] for r in client.list_records("leads", Query(select=["leadid"], filter=filter_))}

    assert ids(F.startswith("lastname", "love") & F.eq("statecode", 0)) == {ada}
    assert ids(F.endswith("lastname", "PER") | F.contains("firstname", "da")) == {ada, grace}
    assert ids(F.is_null("companyname")) == {grace}
    assert ids(~F.is_null("companyname") & ~F.eq("firstname", "Alan")) == {ada}


def test_when_results_span_pages_every_row_comes_once_in_order_and_each_page_is_a_request(
    client: DataverseClient,
) -> None:
    created = [client.create_record("leads", {"subject": f"lead {i:02d}", "lastname": f"L{i:02d}"}) for i in range(7)]
    step = client.counted()
    rows = list(step.list_records("leads", Query(select=["lastname"], orderby=["lastname", "leadid"]), page_size=2))
    assert [r["leadid"] for r in rows] == created
    assert step.request_count == 4  # pages of 2, 2, 2, 1


def test_when_top_is_set_no_more_rows_come_back(client: DataverseClient) -> None:
    for i in range(4):
        client.create_record("leads", {"subject": f"t{i}"})
    rows = list(client.list_records("leads", Query(select=["subject"], orderby=[("subject", "desc")], top=2)))
    assert [r["subject"] for r in rows] == ["t3", "t2"]


def test_when_count_is_asked_the_rows_still_come(client: DataverseClient) -> None:
    client.create_record("leads", {"subject": "c"})
    assert len(list(client.list_records("leads", Query(select=["subject"], count=True)))) == 1


def test_when_nothing_matches_the_listing_is_empty(client: DataverseClient) -> None:
    assert list(client.list_records("leads", Query(filter=F.eq("emailaddress1", "nobody@example.com")))) == []


def test_when_several_lookups_run_as_one_batch_they_take_one_round_trip(client: DataverseClient) -> None:
    lead = client.create_record("leads", {"subject": "s", "emailaddress1": "o'brien@example.com"})
    contact = client.create_record("contacts", {"lastname": "C", "emailaddress1": "o'brien@example.com"})
    list_id = client.create_record("lists", {"listname": "Webinar & more", "createdfromcode": 4})
    step = client.counted()
    leads, contacts, lists, nobody = step.query_batch(
        [
            ("leads", Query(select=["leadid"], filter=F.eq("emailaddress1", "o'brien@example.com"))),
            ("contacts", Query(select=["contactid"], filter=F.eq("emailaddress1", "o'brien@example.com"))),
            ("lists", Query(select=["listid"], filter=F.eq("listname", "Webinar & more"))),
            ("contacts", Query(select=["contactid"], filter=F.eq("emailaddress1", "o'brien+1@example.com"))),
        ]
    )
    assert step.request_count == 1
    assert [r["leadid"] for r in leads] == [lead]
    assert [r["contactid"] for r in contacts] == [contact]
    assert [r["listid"] for r in lists] == [list_id]
    assert nobody == []


def test_when_a_batched_query_fails_its_typed_error_is_raised(client: DataverseClient) -> None:
    with pytest.raises(DataverseRequestError) as info:
        client.query_batch([("leads", Query(select=["leadid"])), ("leads", Query(select=["nosuchcolumn"]))])
    assert info.value.status == 400


def test_when_no_query_is_batched_nothing_is_sent(client: DataverseClient) -> None:
    step = client.counted()
    assert step.query_batch([]) == []
    assert step.request_count == 0


def test_when_dates_and_guids_are_compared_they_are_sent_unquoted_and_match(client: DataverseClient) -> None:
    contact = client.create_record("contacts", {"lastname": "Parent"})
    lead = client.create_record("leads", {"subject": "s", "parentcontactid@odata.bind": f"/contacts({contact})"})
    now = dt.datetime.now(dt.UTC)
    recent = Query(select=["leadid"], filter=F.ge("createdon", now - dt.timedelta(minutes=5)) & F.eq("leadid", uuid.UUID(lead)))
    assert [r["leadid"] for r in client.list_records("leads", recent)] == [lead]
    future = Query(select=["leadid"], filter=F.gt("createdon", now + dt.timedelta(hours=1)))
    assert list(client.list_records("leads", future)) == []


def test_when_a_text_column_ending_in_id_holds_a_guid_it_is_found_by_that_text(
    dataverse: Dataverse, client: DataverseClient
) -> None:
    platform_id = str(uuid.uuid4())
    dataverse.seed({"$entities": {"contact": {"attributes": {"new_platformcontactid": "string"}}}})
    contact = client.create_record("contacts", {"lastname": "P", "new_platformcontactid": platform_id})
    query = Query(select=["contactid"], filter=F.eq("new_platformcontactid", platform_id))
    assert [row["contactid"] for row in client.list_records("contacts", query)] == [contact]


def test_when_related_rows_are_expanded_nested_select_and_filter_apply(client: DataverseClient) -> None:
    contact = client.create_record("contacts", {"lastname": "Parent", "emailaddress1": "p@example.com"})
    lead = client.create_record("leads", {"subject": "s", "parentcontactid@odata.bind": f"/contacts({contact})"})
    open_task = client.create_record("tasks", {"subject": "open", "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"})
    done = client.create_record("tasks", {"subject": "done", "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"})
    client.update_record("tasks", done, {"statecode": 1, "statuscode": 5})
    query = Query(
        select=["subject"],
        expand=[
            Expand("parentcontactid", select=["emailaddress1"]),
            Expand("Lead_Tasks", select=["subject"], filter=F.eq("statecode", 0)),
        ],
    )
    (row,) = client.list_records("leads", query)
    assert row["parentcontactid"]["emailaddress1"] == "p@example.com"
    assert [t["activityid"] for t in row["Lead_Tasks"]] == [open_task]
    single = client.get_record("leads", lead, select=["subject"], expand=[Expand("parentcontactid", select=["lastname"])])
    assert single["parentcontactid"]["lastname"] == "Parent"


def test_when_operations_are_logged_no_address_or_token_appears(
    client: DataverseClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="shared.dynamics")
    email = "secret.person@example.com"
    lead = client.create_record("leads", {"subject": "s", "emailaddress1": email})
    list(client.list_records("leads", Query(filter=F.eq("emailaddress1", email))))
    client.query_batch([("leads", Query(filter=F.eq("emailaddress1", email)))])
    with pytest.raises(DataverseRequestError):
        client.get_record("leads", {"emailaddress1": email})  # no such alternate key: refused
    client.update_record("leads", lead, {"emailaddress1": email})
    assert caplog.records
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert email not in text and "secret.person%40" not in text
    assert "test-token" not in text
