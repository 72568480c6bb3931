"""Change tracking against the emulator over real HTTP."""

from __future__ import annotations

import re

import pytest

from shared.dynamics import DataverseClient, DeletedRecord, DeltaTokenExpiredError
from tests.conftest import Dataverse


def test_when_tracking_starts_every_row_comes_and_then_only_changes_and_deletions(client: DataverseClient) -> None:
    a = client.create_record("leads", {"subject": "a"})
    b = client.create_record("leads", {"subject": "b"})
    c = client.create_record("leads", {"subject": "c"})
    feed = client.track_changes("leads", select=["subject"])
    first = list(feed)
    assert {row["leadid"] for row in first if isinstance(row, dict)} == {a, b, c}
    link = feed.delta_link
    assert "$deltatoken=" in link

    client.update_record("leads", a, {"subject": "a2"})
    client.delete_record("leads", b)
    d = client.create_record("leads", {"subject": "d"})
    delta = client.track_changes("leads", select=["subject"], delta_link=link)
    changes = list(delta)
    changed = {row["leadid"]: row["subject"] for row in changes if isinstance(row, dict)}
    assert changed == {a: "a2", d: "d"}
    assert [c for c in changes if isinstance(c, DeletedRecord)] == [DeletedRecord(b)]
    assert delta.delta_link != link

    empty = client.track_changes("leads", select=["subject"], delta_link=delta.delta_link)
    assert list(empty) == []
    assert empty.delta_link


def test_when_a_delta_spans_pages_every_change_comes_once(client: DataverseClient) -> None:
    feed = client.track_changes("contacts", select=["lastname"])
    assert list(feed) == []
    ids = {client.create_record("contacts", {"lastname": f"c{i}"}) for i in range(5)}
    step = client.counted()
    delta = step.track_changes("contacts", select=["lastname"], delta_link=feed.delta_link, page_size=2)
    seen = [row["contactid"] for row in delta if isinstance(row, dict)]
    assert sorted(seen) == sorted(ids)
    assert delta.delta_link


def test_when_the_delta_link_is_read_too_early_it_says_so(client: DataverseClient) -> None:
    feed = client.track_changes("leads", select=["subject"])
    with pytest.raises(RuntimeError):
        _ = feed.delta_link
    list(feed)
    assert feed.delta_link


@pytest.mark.parametrize("token", ["1%2101%2f01%2f2000%2000%3a00%3a00", "not-a-token"])
def test_when_the_delta_token_is_not_valid_a_distinct_error_asks_for_a_full_resync(
    client: DataverseClient, token: str
) -> None:
    feed = client.track_changes("leads", select=["subject"])
    list(feed)
    broken = re.sub(r"\$deltatoken=[^&]*", "$deltatoken=" + token, feed.delta_link)
    assert broken != feed.delta_link
    with pytest.raises(DeltaTokenExpiredError):
        list(client.track_changes("leads", select=["subject"], delta_link=broken))


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_when_dataverse_expires_the_delta_tokens_the_next_poll_asks_for_a_full_resync(
    dataverse: Dataverse, client: DataverseClient, status: int
) -> None:
    # The status Dataverse uses for an expired token is not documented: any refusal counts.
    dataverse.hook("POST", "config", {"expiredDeltaTokenStatus": status})
    client.create_record("leads", {"subject": "a"})
    feed = client.track_changes("leads", select=["subject"])
    assert len(list(feed)) == 1
    dataverse.hook("POST", "expire-delta-tokens")
    with pytest.raises(DeltaTokenExpiredError) as info:
        list(client.track_changes("leads", select=["subject"], delta_link=feed.delta_link))
    assert info.value.status == status
    # The fallback: start again without a delta link.
    again = client.track_changes("leads", select=["subject"])
    assert len(list(again)) == 1 and again.delta_link
