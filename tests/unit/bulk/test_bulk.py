"""`shared.bulk` against the Dataverse emulator: chunked look-ups answer every person as their own
query would, writes isolate a bad record, throttling is waited out and never a write's failure."""

from __future__ import annotations

import uuid

import pytest
import requests

from shared.bulk import BulkLookup, DeadlineReached, Pacer, write_all
from shared.dynamics import BatchRequest, DataverseClient, Filter, Query
from shared.resolution import Criterion
from tests.conftest import Dataverse
from tests.unit.dynamics.conftest import Sleeps

ACTIVE = Filter.eq("statecode", 0)


def _id() -> str:
    return str(uuid.uuid4())


def _pacer(sleeps: Sleeps, seconds: float = 600.0) -> Pacer:
    return Pacer(deadline=seconds, clock=lambda: 0.0, sleep=sleeps)


def _faults(dataverse: Dataverse, config: dict) -> None:
    requests.post(f"{dataverse.root}/_emulator/faults", json=config, timeout=10).raise_for_status()


def test_when_many_people_are_looked_up_each_gets_the_rows_of_its_own_query_in_one_round_trip(
    client: DataverseClient, dataverse: Dataverse
) -> None:
    emails = [f"p{n}.o'brien@example.com" for n in range(1500)]
    dataverse.seed({"leads": [{"emailaddress1": e, "lastname": "L"} for e in emails[:1000]]
                    + [{"emailaddress1": emails[0].upper(), "lastname": "Dup"},
                       {"emailaddress1": emails[1], "lastname": "Closed", "statecode": 2, "statuscode": 4}]})
    lookup = BulkLookup(values_budget=4000)
    handles = [lookup.person("leads", Criterion("lead", (("emailaddress1", f" {e} "),)),
                             select=["leadid", "lastname"], also=ACTIVE) for e in emails]
    list_handles = [lookup.query("lists", Query(select=["listid"])) for _ in range(3)]
    before = dataverse.stats()["total"]
    lookup.run(client)
    assert dataverse.stats()["total"] - before == 1  # one $batch for every chunk and query
    assert lookup.queries_sent > 1 + 1  # several In chunks, the list query once
    assert sorted(row["lastname"] for row in lookup.rows(handles[0])) == ["Dup", "L"]
    assert [row["lastname"] for row in lookup.rows(handles[1])] == ["L"]  # the closed one is not a match
    assert all(len(lookup.rows(h)) == 1 for h in handles[2:1000])
    assert all(lookup.rows(h) == [] for h in handles[1000:])
    assert all(lookup.rows(h) == [] for h in list_handles)


def test_when_a_multi_column_identifier_is_looked_up_only_rows_equal_on_every_column_match(
    client: DataverseClient, dataverse: Dataverse
) -> None:
    dataverse.seed({"contacts": [{"firstname": "Ada", "lastname": "Lovelace"},
                                 {"firstname": "Ada", "lastname": "Byron"}]})
    lookup = BulkLookup()
    handle = lookup.person("contacts", Criterion("contact", (("firstname", "ada"), ("lastname", "LOVELACE"))),
                           select=["contactid"], also=ACTIVE)
    lookup.run(client)
    assert len(lookup.rows(handle)) == 1


def test_when_one_write_of_a_change_set_is_refused_only_it_fails(
    client: DataverseClient, dataverse: Dataverse, sleeps: Sleeps
) -> None:
    writes = [BatchRequest.create("leads", {"lastname": f"L{n}"}, record_id=_id()) for n in range(250)]
    writes[42] = BatchRequest.create("leads", {"lastname": "Bad", "new_notacolumn": 1}, record_id=_id())
    outcomes = write_all(client, writes, _pacer(sleeps))
    assert [n for n, outcome in enumerate(outcomes) if not outcome.ok] == [42]
    assert outcomes[42].error is not None and outcomes[42].error.status == 400
    rows = requests.get(f"{dataverse.api}leads?$select=leadid", headers=dataverse.auth_headers, timeout=10).json()
    assert len(rows["value"]) == 249


def test_when_a_create_meets_its_own_id_it_landed_earlier(
    client: DataverseClient, dataverse: Dataverse, sleeps: Sleeps
) -> None:
    lead_id = _id()
    dataverse.seed({"leads": [{"leadid": lead_id, "lastname": "Already"}]})
    outcomes = write_all(client, [BatchRequest.create("leads", {"lastname": "Again"}, record_id=lead_id),
                                  BatchRequest.create("leads", {"lastname": "New"}, record_id=_id())], _pacer(sleeps))
    assert outcomes[0].ok and outcomes[0].existed
    assert outcomes[1].ok and not outcomes[1].existed


def test_when_dynamics_throttles_past_the_client_budget_the_pacer_waits_and_slows_down(
    make_client: object, dataverse: Dataverse, sleeps: Sleeps
) -> None:
    client = make_client(max_attempts=1)  # type: ignore[operator]
    _faults(dataverse, {"failNext": [{"status": 429, "count": 2, "retryAfter": 7, "path": "$batch"}]})
    pacer = _pacer(sleeps)
    writes = [BatchRequest.create("leads", {"lastname": f"L{n}"}, record_id=_id()) for n in range(10)]
    outcomes = write_all(client, writes, pacer)
    assert all(outcome.ok for outcome in outcomes)
    assert sleeps == [7, 7]
    assert pacer.waits == 2


def test_when_the_wait_would_pass_the_deadline_the_caller_is_told_to_hand_over(
    make_client: object, dataverse: Dataverse, sleeps: Sleeps
) -> None:
    client = make_client(max_attempts=1)  # type: ignore[operator]
    _faults(dataverse, {"failNext": [{"status": 429, "count": 1, "retryAfter": 60, "path": "$batch"}]})
    with pytest.raises(DeadlineReached) as reached:
        write_all(client, [BatchRequest.create("leads", {"lastname": "L"}, record_id=_id())], _pacer(sleeps, 30.0))
    assert reached.value.retry_after == 60
    assert sleeps == []


def test_a_write_that_is_not_safe_to_resend_is_refused() -> None:
    with pytest.raises(ValueError, match="safe to resend"):
        write_all(object(), [BatchRequest.create("leads", {"lastname": "L"})], Pacer(deadline=1.0))  # type: ignore[arg-type]
