"""The retry policy: the one place that decides whether, and how long to wait before, trying again.

What is retried (and why it is safe):

- 429 Too Many Requests, for every request: Dataverse's service protection rejects a request
  before executing it, so resending cannot apply it twice. The wait is Dataverse's `Retry-After`
  (exponential backoff when absent).
- Connection failures before the request was sent (refused, connect timeout), for every request.
- 502/503/504, connection resets after sending, and read timeouts: only for requests that are
  safe to repeat. The caller marks each request: GET, PATCH with `If-Match`, PUT and DELETE are
  idempotent; an upsert PATCH addresses one key and converges on the same row; a POST create is
  safe only with a client-chosen primary key (a retry that meets 412 duplicate means the first
  attempt landed, and counts as success); a `$batch` only when every part is a GET;
  `AddMemberList` is idempotent in Dataverse. Anything else is not retried after it may have
  reached the server.

Every call has a budget: at most `max_attempts` exchanges and `max_elapsed` seconds including
the waits. A wait that would overrun the budget is not started: the call fails at once with
the typed error (`DataverseThrottledError` carries the `Retry-After` for the caller to pass on).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to retry one logical call.

    `sleep`, `clock` and `random` are injectable so tests control time.
    """

    max_attempts: int = 5
    max_elapsed: float = 30.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_elapsed < 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("retry times must not be negative")

    def backoff(self, retry_number: int) -> float:
        """Wait before retry `retry_number` (1-based): exponential, capped, with jitter in [d/2, d]."""
        delay = min(self.backoff_max, self.backoff_base * (2 ** (retry_number - 1)))
        return delay / 2 + self.random() * delay / 2

    def start(self) -> RetryBudget:
        return RetryBudget(self, self.clock())


class RetryBudget:
    """The attempts and time left for one logical call."""

    def __init__(self, policy: RetryPolicy, started: float) -> None:
        self.policy = policy
        self.started = started
        self.attempts = 0
        self.retries = 0

    def attempt(self) -> None:
        self.attempts += 1

    def can_wait(self, seconds: float) -> bool:
        """Whether another attempt after waiting `seconds` fits the budget."""
        if self.attempts >= self.policy.max_attempts:
            return False
        elapsed = self.policy.clock() - self.started
        return elapsed + seconds <= self.policy.max_elapsed

    def wait(self, seconds: float) -> None:
        self.retries += 1
        if seconds > 0:
            self.policy.sleep(seconds)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta seconds or an HTTP date), None when absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
