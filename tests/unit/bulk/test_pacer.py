"""The pacer's rules (pure): halve on throttling, add one on success, wait what Dataverse asks,
and hand over instead of waiting past the deadline."""

from __future__ import annotations

import pytest

from shared.bulk import DeadlineReached, Pacer
from shared.dynamics.errors import DataverseThrottledError, DataverseUnavailableError


def _pacer(deadline: float = 100.0) -> tuple[Pacer, list[float]]:
    waits: list[float] = []
    return Pacer(deadline=deadline, max_concurrency=8, clock=lambda: 0.0, sleep=waits.append), waits


def test_when_throttled_the_pacer_halves_the_concurrency_and_waits_the_retry_after() -> None:
    pacer, waits = _pacer()
    pacer.failed(DataverseThrottledError(429, "0x80072322", "throttled", retry_after=7))
    pacer.failed(DataverseThrottledError(429, "0x80072322", "throttled", retry_after=3))
    assert (pacer.concurrency, waits) == (2, [7, 3])
    pacer.succeeded()
    assert pacer.concurrency == 3
    for _ in range(10):
        pacer.succeeded()
    assert pacer.concurrency == 8


def test_when_dynamics_is_unavailable_the_waits_double_up_to_a_cap_and_reset_after_a_success() -> None:
    pacer, waits = _pacer(deadline=1000.0)
    for _ in range(6):
        pacer.failed(DataverseUnavailableError(503, "", "down"))
    assert waits == [2, 4, 8, 16, 30, 30]
    assert pacer.concurrency == 1
    pacer.succeeded()
    pacer.failed(DataverseUnavailableError(503, "", "down"))
    assert waits[-1] == 2


def test_when_the_wait_would_pass_the_deadline_it_is_not_started() -> None:
    pacer, waits = _pacer(deadline=5.0)
    with pytest.raises(DeadlineReached) as reached:
        pacer.failed(DataverseThrottledError(429, "", "throttled", retry_after=40))
    assert reached.value.retry_after == 40 and waits == []
    expired, _ = _pacer(deadline=0.0)
    with pytest.raises(DeadlineReached):
        expired.check()
