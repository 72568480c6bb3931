"""NCRONTAB schedules as the local host's timer triggers read them (devtools/ncrontab.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devtools.ncrontab import Schedule, ScheduleError


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 0 * * * *", "2026-03-01T10:15:00", "2026-03-01T11:00:00"),  # hourly, as ScheduledSync
        ("0 0 * * * *", "2026-12-31T23:30:00", "2027-01-01T00:00:00"),  # rolls over the year
        ("* * * * * *", "2026-03-01T10:15:00.400", "2026-03-01T10:15:01"),  # strictly after, whole seconds
        ("*/15 * * * * *", "2026-03-01T10:15:14", "2026-03-01T10:15:15"),  # step over the field
        ("10/20 * * * * *", "2026-03-01T10:15:31", "2026-03-01T10:15:50"),  # a/n: from a to the end
        ("0 5-7 * * * *", "2026-03-01T10:07:00", "2026-03-01T11:05:00"),  # range
        ("0 0,30 9 * * *", "2026-03-01T09:00:00", "2026-03-01T09:30:00"),  # list
        ("0 0 9 * * MON-FRI", "2026-01-02T10:00:00", "2026-01-05T09:00:00"),  # Friday -> Monday
        ("0 0 9 * * 0", "2026-01-01T00:00:00", "2026-01-04T09:00:00"),  # Sunday is 0
        ("0 0 0 1 JAN *", "2026-06-01T00:00:00", "2027-01-01T00:00:00"),  # month names
        ("0 0 8 1-7 * MON", "2026-01-06T00:00:00", "2026-02-02T08:00:00"),  # both day fields must match
        ("0 0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),  # leap day
    ],
)
def test_when_a_schedule_is_asked_for_its_next_occurrence_it_finds_it(expression: str, after: str, expected: str) -> None:
    assert Schedule.parse(expression).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 * * * *", "six"),  # five fields: Vixie cron, not NCRONTAB
        ("60 * * * * *", "outside 0-59"),
        ("* * 24 * * *", "outside 0-23"),
        ("* * * 0 * *", "outside 1-31"),
        ("* * * * 13 *", "outside 1-12"),
        ("* * * * * 7", "outside 0-6"),
        ("*/0 * * * * *", "positive"),
        ("5-1 * * * * *", "backwards"),
        ("* * * * FOO *", "name"),
        ("1,,2 * * * * *", "empty"),
        ("0 0 0 31 2 *", "never fires"),
    ],
)
def test_when_a_schedule_is_invalid_parsing_says_why(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.parse(expression)


def test_when_a_moment_is_on_the_schedule_it_matches() -> None:
    schedule = Schedule.parse("30 0 9 * * MON")
    assert schedule.matches(at("2026-01-05T09:00:30"))
    assert not schedule.matches(at("2026-01-06T09:00:30"))
