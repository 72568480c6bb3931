"""`Retry-After` for work in flight, as a table: the age of the work against a typical step,
bounded by its lease and a ceiling, whole seconds, at least 1. No I/O."""

from __future__ import annotations

import pytest

from shared.store.retry_after import MAX_RETRY_AFTER_SECONDS, retry_after_seconds


@pytest.mark.parametrize(
    ("age", "lease_left", "expected"),
    [
        (0.0, 900.0, 2),  # just started: a typical step's time
        (0.4, 900.0, 2),  # 1.6 s left of a typical step, rounded up
        (1.5, 900.0, 1),  # nearly done
        (1.99, 900.0, 1),  # never less than a second
        (2.0, 900.0, 2),  # dragging: as long again as it has run
        (12.3, 900.0, 13),
        (45.0, 900.0, 45),
        (300.0, 600.0, MAX_RETRY_AFTER_SECONDS),  # never more than the ceiling
        (12.0, 3.2, 4),  # the lease runs out first: then the work can be taken over
        (12.0, 0.0, 1),
        (-5.0, 30.0, 2),  # a writer's clock ahead of ours: a fresh start
    ],
)
def test_when_work_is_in_flight_retry_after_follows_its_age(age: float, lease_left: float, expected: int) -> None:
    assert retry_after_seconds(age, lease_left) == expected
