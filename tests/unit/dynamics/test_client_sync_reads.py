"""The reads the scheduled sync makes, against the emulator over real HTTP: pages by key, re-reads
by id, a delta link taken without keeping rows, the change-tracking flag."""

from __future__ import annotations

import pytest

from shared.dynamics import DataverseClient, DataverseRequestError, DeletedRecord, Filter
from tests.conftest import Dataverse


def seed_leads(dataverse: Dataverse, count: int, **extra: object) -> list[str]:
    return dataverse.seed({"leads": [{"lastname": f"L{i}", **extra} for i in range(count)]})["leads"]


def test_when_pages_are_read_by_key_every_row_comes_once_in_key_order(client: DataverseClient,
                                                                      dataverse: Dataverse) -> None:
    ids = seed_leads(dataverse, 7)
    step = client.counted()
    pages = list(step.list_pages_by_key("leads", select=["lastname"], page_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    keys = [row["leadid"] for page in pages for row in page]
    assert sorted(keys) == sorted(ids)
    everything = [r["leadid"] for r in client.list_records("leads", None)]
    assert keys == everything  # the emulator's default order is the primary key's SQL order
    assert step.request_count == 3


def test_when_a_read_resumes_after_a_key_it_continues_there(client: DataverseClient, dataverse: Dataverse) -> None:
    seed_leads(dataverse, 5)
    first = next(client.list_pages_by_key("leads", select=["lastname"], page_size=2))
    rest = [r["leadid"] for p in client.list_pages_by_key("leads", select=["lastname"], page_size=2,
                                                          after=first[-1]["leadid"]) for r in p]
    everything = [r["leadid"] for p in client.list_pages_by_key("leads", select=[], page_size=5) for r in p]
    assert [r["leadid"] for r in first] + rest == everything


def test_when_a_full_last_page_ends_the_rows_one_empty_request_says_so(client: DataverseClient,
                                                                        dataverse: Dataverse) -> None:
    seed_leads(dataverse, 4)
    step = client.counted()
    assert [len(p) for p in step.list_pages_by_key("leads", select=["lastname"], page_size=2)] == [2, 2]
    assert step.request_count == 3


def test_when_pages_are_read_with_a_filter_only_selected_rows_come(client: DataverseClient,
                                                                    dataverse: Dataverse) -> None:
    seed_leads(dataverse, 3, leadsourcecode=8)
    seed_leads(dataverse, 2, leadsourcecode=1)
    rows = [r for p in client.list_pages_by_key("leads", select=["leadsourcecode"],
                                                filter=Filter.eq("leadsourcecode", 8), page_size=2) for r in p]
    assert [r["leadsourcecode"] for r in rows] == [8, 8, 8]


def test_when_records_are_read_by_id_missing_and_filtered_out_ones_are_absent(client: DataverseClient,
                                                                              dataverse: Dataverse) -> None:
    web = seed_leads(dataverse, 5, leadsourcecode=8)
    other = seed_leads(dataverse, 1, leadsourcecode=1)
    gone = "00000000-0000-0000-0000-00000000dead"
    step = client.counted()
    rows = list(step.list_records_by_id("leads", [*web, *other, gone, web[0]], select=["lastname"],
                                        filter=Filter.eq("leadsourcecode", 8), chunk_size=2))
    assert sorted(r["leadid"] for r in rows) == sorted(web)
    assert step.request_count == 4  # 7 distinct ids, 2 a request


def test_when_a_delta_link_is_taken_later_changes_come_with_ids_only(client: DataverseClient,
                                                                     dataverse: Dataverse) -> None:
    ids = seed_leads(dataverse, 6)
    step = client.counted()
    link = step.get_delta_link("leads")
    assert step.request_count == 1
    client.update_record("leads", ids[0], {"lastname": "changed"})
    client.delete_record("leads", ids[1])
    changes = list(client.track_changes("leads", select=["leadid"], delta_link=link))
    assert [c["leadid"] for c in changes if isinstance(c, dict)] == [ids[0]]
    assert [c for c in changes if isinstance(c, DeletedRecord)] == [DeletedRecord(ids[1])]
    reread = list(client.list_records_by_id("leads", [ids[0]], select=["lastname"]))
    assert reread[0]["lastname"] == "changed"


def test_when_a_table_has_no_change_tracking_the_flag_says_so_and_tracking_is_refused(
        client: DataverseClient, dataverse: Dataverse) -> None:
    assert client.get_change_tracking_enabled("lead") is True
    dataverse.seed({"$changeTracking": {"lead": False}})
    assert client.get_change_tracking_enabled("lead") is False
    with pytest.raises(DataverseRequestError):
        client.get_delta_link("leads")
