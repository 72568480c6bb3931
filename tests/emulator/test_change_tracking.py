"""Change tracking: delta links, deleted entities, paging of deltas, rejected options (reference 9)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .conftest import Api, error_of

TRACK = {"Prefer": "odata.track-changes"}


def start(api: Api, query: str = "leads?$select=lastname") -> dict:
    response = api.get(query, headers=TRACK)
    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == "odata.track-changes"
    return response.json()


def test_when_tracking_starts_every_row_comes_with_a_delta_link(api: Api) -> None:
    api.seed({"leads": [{"lastname": "A"}, {"lastname": "B"}]})
    body = start(api)
    assert sorted(r["lastname"] for r in body["value"]) == ["A", "B"]
    link = body["@odata.deltaLink"]
    assert link.startswith(api.base + "leads?$select=lastname&$deltatoken=")
    token = unquote(parse_qs(urlsplit(link).query)["$deltatoken"][0])
    assert re.fullmatch(r"\d+!\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", token)
    assert "%21" in link


def test_when_the_delta_link_is_followed_changes_then_deletions_come_back(api: Api) -> None:
    ids = api.seed({"leads": [{"lastname": "A"}, {"lastname": "B"}, {"lastname": "C"}]})["leads"]
    link = start(api)["@odata.deltaLink"]
    api.patch(f"leads({ids[0]})", {"lastname": "A2"})
    api.delete(f"leads({ids[1]})")
    new = api.create("leads", {"lastname": "D"})
    body = api.get(link).json()
    assert body["@odata.context"].endswith("$metadata#leads(lastname)/$delta")
    changed = [r for r in body["value"] if "lastname" in r]
    deleted = [r for r in body["value"] if "reason" in r]
    assert [r["leadid"] for r in changed] == [ids[0], new]
    assert deleted == [{"@odata.context": f"{api.base}$metadata#leads/$deletedEntity", "id": ids[1],
                        "reason": "deleted"}]
    assert body["value"][-1] == deleted[0]
    assert body["@odata.deltaLink"] != link


def test_when_nothing_changed_the_delta_is_empty_with_a_fresh_link(api: Api) -> None:
    api.seed({"leads": [{"lastname": "A"}]})
    link = start(api)["@odata.deltaLink"]
    body = api.get(link).json()
    assert body["value"] == []
    assert "@odata.deltaLink" in body
    assert api.get(body["@odata.deltaLink"]).json()["value"] == []


def test_when_a_row_is_created_and_deleted_between_polls_it_shows_as_deleted(api: Api) -> None:
    link = start(api)["@odata.deltaLink"]
    lead = api.create("leads", {"lastname": "brief"})
    api.delete(f"leads({lead})")
    assert api.get(link).json()["value"] == [
        {"@odata.context": f"{api.base}$metadata#leads/$deletedEntity", "id": lead, "reason": "deleted"}]


def test_when_tracking_is_combined_with_filter_orderby_expand_or_top_it_is_refused(api: Api) -> None:
    for option in ("$filter=lastname eq 'a'", "$orderby=lastname", "$top=1", "$expand=parentcontactid"):
        response = api.get(f"leads?$select=lastname&{option}", headers=TRACK)
        assert response.status_code == 400, option
        assert "isn't supported when Change Tracking is enabled" in error_of(response)["message"]


def test_when_a_table_is_not_tracked_track_changes_is_refused(api: Api) -> None:
    assert api.get("tasks?$select=subject", headers=TRACK).status_code == 400
    api.seed({"$changeTracking": {"task": True}})
    assert api.get("tasks?$select=subject", headers=TRACK).status_code == 200


def test_when_a_seed_turns_tracking_off_for_leads_they_are_refused_and_metadata_says_so(api: Api) -> None:
    api.seed({"$changeTracking": {"lead": False}})
    response = api.get("leads?$select=lastname", headers=TRACK)
    assert response.status_code == 400
    assert "Change tracking is not enabled for the entity 'lead'" in error_of(response)["message"]
    definition = api.get("EntityDefinitions(LogicalName='lead')?$select=ChangeTrackingEnabled").json()
    assert definition["ChangeTrackingEnabled"] is False
    assert api.get("contacts?$select=lastname", headers=TRACK).status_code == 200


def test_when_a_delta_is_large_it_pages_before_the_delta_link(api: Api) -> None:
    api.seed({"leads": [{"lastname": f"L{i}"} for i in range(5)]})
    headers = {**TRACK, "Prefer": "odata.track-changes,odata.maxpagesize=2"}
    first = api.get("leads?$select=lastname", headers=headers)
    assert first.headers["Preference-Applied"] == "odata.track-changes,odata.maxpagesize=2"
    body = first.json()
    rows = list(body["value"])
    assert "@odata.deltaLink" not in body
    while "@odata.nextLink" in body:
        body = api.get(body["@odata.nextLink"], headers=headers).json()
        rows += body["value"]
    assert len(rows) == 5
    link = body["@odata.deltaLink"]
    for row in rows[:3]:
        api.patch(f"leads({row['leadid']})", {"jobtitle": "x"})
    page = api.get(link, headers=headers).json()
    assert len(page["value"]) == 2 and "@odata.nextLink" in page
    rest = api.get(page["@odata.nextLink"], headers=headers).json()
    assert len(rest["value"]) == 1 and "@odata.deltaLink" in rest


def test_when_a_delta_token_is_garbage_the_answer_is_400(api: Api) -> None:
    response = api.get("leads?$select=lastname&$deltatoken=nonsense")
    assert response.status_code == 400


def test_when_delta_tokens_expire_the_link_fails(api: Api) -> None:
    link = start(api)["@odata.deltaLink"]
    api.dv.hook("POST", "expire-delta-tokens")
    response = api.get(link)
    assert response.status_code == 400
    assert "expired" in error_of(response)["message"]


def test_when_the_emulator_is_reset_old_delta_tokens_are_expired(api: Api) -> None:
    link = start(api)["@odata.deltaLink"]
    api.dv.hook("POST", "reset")
    assert api.get(link).status_code == 400


def test_when_a_delta_token_is_older_than_seven_days_it_has_expired(api: Api) -> None:
    link = start(api)["@odata.deltaLink"]
    token = unquote(parse_qs(urlsplit(link).query)["$deltatoken"][0])
    version = token.split("!", 1)[0]

    def aged(days: float) -> str:
        issued = (datetime.now(UTC) - timedelta(days=days)).strftime("%m/%d/%Y %H:%M:%S")
        return link.split("$deltatoken=", 1)[0] + "$deltatoken=" + quote(f"{version}!{issued}", safe="")

    assert api.get(aged(6.9)).status_code == 200
    response = api.get(aged(7.1))
    assert response.status_code == 400
    assert "expired" in error_of(response)["message"]


def test_when_expiry_is_configured_the_status_follows(api: Api) -> None:
    api.dv.hook("POST", "config", {"expiredDeltaTokenStatus": 410})
    link = start(api)["@odata.deltaLink"]
    api.dv.hook("POST", "expire-delta-tokens")
    assert api.get(link).status_code == 410


def test_when_changes_are_counted_through_count_it_is_the_number_of_changes(api: Api) -> None:
    ids = api.seed({"leads": [{"lastname": "A"}, {"lastname": "B"}]})["leads"]
    link = start(api)["@odata.deltaLink"]
    api.delete(f"leads({ids[0]})")
    token = parse_qs(urlsplit(link).query)["$deltatoken"][0]
    response = api.get(f"leads/$count?$deltatoken={token}")
    assert response.content.decode("utf-8-sig") == "1"
