"""Pacing bulk work under Dataverse's service protection: wait out throttling, lower concurrency.

The client already honours `Retry-After` within one call's retry budget (`shared.dynamics.retry`).
A bulk job lasts minutes, so when a call still fails as throttled or unavailable, the `Pacer`
halves the number of round trips in flight, waits the `Retry-After` (or a backoff), and lets
the caller send the same work again. Every success raises the concurrency by one again, up to
the maximum (additive increase, multiplicative decrease). A wait that would pass the deadline
is not started: `DeadlineReached` tells the caller to store what it finished and hand over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from shared.dynamics.errors import DataverseThrottledError, DataverseUnavailableError

__all__ = ["DeadlineReached", "Pacer"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Without a Retry-After (an outage, not throttling): wait this long, doubling, up to the cap.
_OUTAGE_WAIT = 2.0
_OUTAGE_WAIT_MAX = 30.0


class DeadlineReached(Exception):
    """The work cannot finish before the deadline; `retry_after` is the wait Dataverse asked for."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"deadline reached (retry after {retry_after:g} s)")
        self.retry_after = retry_after


@dataclass
class Pacer:
    """Concurrency and waiting for one bulk job. Thread-safe."""

    deadline: float  # on `clock`
    max_concurrency: int = 4
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    concurrency: int = 0
    waits: int = 0
    last_retry_after: float = 0.0
    _outage_wait: float = _OUTAGE_WAIT
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.concurrency = self.concurrency or self.max_concurrency

    @property
    def time_left(self) -> float:
        return self.deadline - self.clock()

    def check(self) -> None:
        """`DeadlineReached` once the deadline has passed."""
        if self.time_left <= 0:
            raise DeadlineReached(self.last_retry_after)

    def succeeded(self) -> None:
        with self._lock:
            self.concurrency = min(self.max_concurrency, self.concurrency + 1)
            self._outage_wait = _OUTAGE_WAIT

    def failed(self, error: DataverseUnavailableError) -> None:
        """Slow down after a throttled or unavailable round trip, then return to resend it."""
        with self._lock:
            self.concurrency = max(1, self.concurrency // 2)
            if isinstance(error, DataverseThrottledError):
                wait = max(error.retry_after or 0.0, 1.0)
            else:
                wait = self._outage_wait
                self._outage_wait = min(_OUTAGE_WAIT_MAX, self._outage_wait * 2)
            self.last_retry_after = wait
            self.waits += 1
            concurrency = self.concurrency
        if self.time_left < wait:
            log.warning("Dynamics asks to wait %.0f s, past this delivery's deadline; handing over", wait)
            raise DeadlineReached(wait)
        log.warning("Dynamics %s; waiting %.1f s, %d round trip(s) in flight from now",
                    "throttled" if isinstance(error, DataverseThrottledError) else "unavailable", wait, concurrency)
        self.sleep(wait)

    def call(self, send: Callable[[], T]) -> T:
        """`send()` until it is not throttled or unavailable, waiting as `failed` says; one round
        trip's worth of work (a look-up `$batch`)."""
        while True:
            self.check()
            try:
                answer = send()
            except DataverseUnavailableError as exc:
                self.failed(exc)
                continue
            self.succeeded()
            return answer
