"""NCRONTAB schedules, read the way Azure Functions timer triggers read them.

Six fields, seconds first: ``second minute hour day month day-of-week``. Each field is ``*``,
a value, a range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n`` (from ``a`` to the field's end),
or a comma-separated list of those. Months and days of the week also take three-letter English
names (``JAN``, ``MON``); Sunday is 0. As in NCRONTAB, and unlike Vixie cron, a day must match
both the day-of-month and the day-of-week field (``0 0 8 1-7 * MON``: the first Monday).

    >>> s = Schedule.parse("0 */15 9-17 * * MON-FRI")
    >>> s.next_after(datetime(2026, 1, 2, 17, 50, tzinfo=UTC))   # a Friday
    datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Schedule", "ScheduleError"]

_MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

# (name, lowest, highest, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _WEEKDAYS),
)

# Feb 29 on a given weekday recurs within 28 years; a schedule silent for longer never fires.
_HORIZON = timedelta(days=366 * 29)


class ScheduleError(ValueError):
    """The expression is not a valid six-field NCRONTAB schedule."""


def _parse_value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    token = text.strip().upper()
    if token in names:
        return names[token]
    if not token.isdigit():
        raise ScheduleError(f"{field}: {text!r} is not a number" + (" or a name" if names else ""))
    value = int(token)
    if not low <= value <= high:
        raise ScheduleError(f"{field}: {value} is outside {low}-{high}")
    return value


def _parse_field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{field}: empty list item in {text!r}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _parse_value(first, field, low, high, names)
            end = _parse_value(last, field, low, high, names)
            if start > end:
                raise ScheduleError(f"{field}: range {base!r} runs backwards")
        else:
            start = _parse_value(base, field, low, high, names)
            # `a/n` steps from a to the end of the field; a bare value is just itself.
            end = high if slash else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; times are compared in the timezone of the datetime given (UTC here)."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        parts = expression.split()
        if len(parts) != 6:
            raise ScheduleError(
                f"{expression!r} has {len(parts)} fields; NCRONTAB needs six: second minute hour day month day-of-week"
            )
        fields = [_parse_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
        schedule = cls(expression, *fields)
        probe = datetime(2000, 1, 1, tzinfo=UTC)
        if schedule._search(probe, probe + _HORIZON) is None:
            raise ScheduleError(f"{expression!r} never fires")
        return schedule

    def matches(self, moment: datetime) -> bool:
        return (
            moment.second in self.seconds
            and moment.minute in self.minutes
            and moment.hour in self.hours
            and self._day_matches(moment)
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (whole seconds, same tzinfo)."""
        start = moment.replace(microsecond=0) + timedelta(seconds=1)
        found = self._search(start, start + _HORIZON)
        if found is None:  # parse() already proved an occurrence exists; kept for safety
            raise ScheduleError(f"{self.expression!r} never fires")
        return found

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Python: Monday is 0; NCRONTAB: Sunday is 0
        return moment.month in self.months and moment.day in self.days and weekday in self.weekdays

    def _search(self, moment: datetime, limit: datetime) -> datetime | None:
        # Walk from the coarsest field to the finest, jumping to the next candidate at each level,
        # so even a yearly schedule costs a few hundred steps.
        while moment < limit:
            if not self._day_matches(moment):
                moment = moment.replace(hour=0, minute=0, second=0) + timedelta(days=1)
                continue
            hour = _next_in(self.hours, moment.hour)
            if hour is None:
                moment = moment.replace(hour=0, minute=0, second=0) + timedelta(days=1)
                continue
            if hour != moment.hour:
                moment = moment.replace(hour=hour, minute=0, second=0)
            minute = _next_in(self.minutes, moment.minute)
            if minute is None:
                moment = moment.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if minute != moment.minute:
                moment = moment.replace(minute=minute, second=0)
            second = _next_in(self.seconds, moment.second)
            if second is None:
                moment = moment.replace(second=0) + timedelta(minutes=1)
                continue
            return moment.replace(second=second)
        return None


def _next_in(values: frozenset[int], current: int) -> int | None:
    """The smallest value >= current, or None when the field has to roll over."""
    candidates = [value for value in values if value >= current]
    return min(candidates) if candidates else None
