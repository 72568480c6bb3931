"""Reading a campaign-export message: envelope problems and per-record 400s."""

from __future__ import annotations

from typing import Any

from shared.export.message import envelope_problems, read_records

CAMPAIGN = {"id": "c-1", "name": "Spring"}


def _locs(members: dict[str, Any]) -> list[list[Any]]:
    return [item["loc"] for item in envelope_problems(members)]


def test_an_envelope_lists_every_problem() -> None:
    assert _locs({"exportId": "e", "campaign": {"id": ""}, "contacts": {}, "companies": [{}] * 5001, "x": 1}) == [
        ["x"], ["campaign", "id"], ["campaign", "name"], ["companies"], ["contacts"]]
    assert _locs({"exportId": "e", "campaign": CAMPAIGN}) == [["contacts"]]  # no record at all
    assert _locs({"exportId": "e", "campaign": CAMPAIGN, "companies": [{"name": "A"}]}) == []
    assert _locs({"exportId": "e", "exportBlob": "no-slash"}) == [["exportBlob"]]
    assert _locs({"exportId": "e", "exportBlob": "c/n", "contacts": []}) == [["contacts"]]


def test_a_bad_record_gets_its_own_400_located_from_the_message_root() -> None:
    _, companies, contacts = read_records({"campaign": CAMPAIGN, "companies": [{"name": "A"}, {"domain": "x"}],
                                           "contacts": [{"person": {"email": "bad"}}, 7,
                                                        {"person": {}, "engagement": {"opens": -1}}]})
    assert companies[0].record is not None and companies[1].error is not None
    assert companies[1].error["errors"][0]["loc"] == ["companies", 1, "name"]
    assert contacts[0].error is not None and contacts[0].error["errors"][0]["loc"] == ["contacts", 0, "person",
                                                                                     "email"]
    assert contacts[1].error is not None and contacts[1].error["errors"][0]["loc"] == ["contacts", 1]
    assert contacts[2].error is not None
    assert sorted(e["loc"] for e in contacts[2].error["errors"]) == [
        ["contacts", 2, "engagement", "opens"], ["contacts", 2, "engagement", "participated"]]
