"""Injected failures and Dataverse's service protection limits, applied before a request runs."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .errors import ODataError

REQUESTS_CODE = "0x80072322"
EXECUTION_CODE = "0x80072321"
CONCURRENCY_CODE = "0x80072326"


@dataclass
class ScriptedFailure:
    status: int
    count: int
    path: str | None = None
    method: str | None = None
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    drop: bool = False
    after: bool = False  # fail after the request has been carried out (its effect stays)
    contains: str | None = None  # a text the path and query (as sent, percent-encoded) must contain

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.contains and self.contains not in path:
            return False
        return not self.path or path.startswith(self.path)


@dataclass
class Verdict:
    """What to do with a request instead of (or after) running it."""

    drop: bool = False
    error: ODataError | None = None
    after: bool = False


def _throttle_error(code: str, message: str, retry_after: float) -> ODataError:
    seconds = max(1, math.ceil(retry_after))
    return ODataError(429, code, message, {"Retry-After": str(seconds)})


def _failure_error(failure: ScriptedFailure, default_retry: float) -> ODataError:
    if failure.status == 429:
        return _throttle_error(failure.code or REQUESTS_CODE, failure.message or
                               "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                               failure.retry_after if failure.retry_after is not None else default_retry)
    error = ODataError(failure.status, failure.code or "0x80040216",
                       failure.message or f"Injected failure: HTTP {failure.status}.")
    if failure.retry_after is not None:
        error.headers["Retry-After"] = str(max(0, math.ceil(failure.retry_after)))
    return error


@dataclass
class Limits:
    requests: int = 6000
    window_seconds: float = 300
    concurrent: int = 52
    execution_ms: float = 1_200_000
    ms_per_operation: float = 20


@dataclass
class _UserUsage:
    requests: deque[float] = field(default_factory=deque)
    execution: deque[tuple[float, float]] = field(default_factory=deque)
    in_flight: int = 0


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.config: dict[str, Any] = {}
            self.rate429 = 0.0
            self.rate5xx = 0.0
            self.status5xx = 503
            self.drop_rate = 0.0
            self.retry_after = 1.0
            self.latency_ms = 0.0
            self.random = random.Random()
            self.scripted: list[ScriptedFailure] = []
            self.limits: Limits | None = None
            self.usage: dict[str, _UserUsage] = {}

    def configure(self, config: dict[str, Any]) -> dict[str, Any]:
        """Replaces the whole fault configuration."""
        self.clear()
        with self._lock:
            self.config = dict(config)
            self.rate429 = float(config.get("rate429", 0.0))
            self.rate5xx = float(config.get("rate5xx", 0.0))
            self.status5xx = int(config.get("status5xx", 503))
            self.drop_rate = float(config.get("dropRate", 0.0))
            self.retry_after = float(config.get("retryAfter", 1.0))
            self.latency_ms = float(config.get("latencyMs", 0.0))
            if "seed" in config:
                self.random = random.Random(config["seed"])
            for item in config.get("failNext", []) or []:
                self.scripted.append(ScriptedFailure(
                    status=int(item.get("status", 503)), count=int(item.get("count", 1)), path=item.get("path"),
                    method=item.get("method"), retry_after=item.get("retryAfter"), code=item.get("code"),
                    message=item.get("message"), drop=bool(item.get("drop", False)),
                    after=bool(item.get("after", False)), contains=item.get("contains")))
            limits = config.get("limits")
            if isinstance(limits, dict):
                self.limits = Limits(
                    requests=int(limits.get("requests", 6000)),
                    window_seconds=float(limits.get("windowSeconds", 300)),
                    concurrent=int(limits.get("concurrent", 52)),
                    execution_ms=float(limits.get("executionMs", 1_200_000)),
                    ms_per_operation=float(limits.get("msPerOperation", 20)))
            return dict(self.config)

    # -- injected failures -----------------------------------------------------------------
    def before(self, method: str, path: str) -> Verdict:
        with self._lock:
            for failure in self.scripted:
                if failure.count > 0 and failure.matches(method, path):
                    failure.count -= 1
                    if failure.after:
                        return Verdict(drop=failure.drop, error=None if failure.drop else
                                       _failure_error(failure, self.retry_after), after=True)
                    if failure.drop:
                        return Verdict(drop=True)
                    return Verdict(error=_failure_error(failure, self.retry_after))
            roll = self.random.random() if (self.rate429 or self.rate5xx or self.drop_rate) else 1.0
            if roll < self.drop_rate:
                return Verdict(drop=True)
            if roll < self.drop_rate + self.rate429:
                return Verdict(error=_throttle_error(
                    REQUESTS_CODE, "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                    self.retry_after))
            if roll < self.drop_rate + self.rate429 + self.rate5xx:
                return Verdict(error=ODataError(self.status5xx, "0x80040216",
                                                f"Injected failure: HTTP {self.status5xx}."))
        return Verdict()

    def latency(self) -> None:
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)

    # -- service protection ----------------------------------------------------------------
    def admit(self, user: str) -> ODataError | None:
        """Checks the limits for `user` and, when admitted, counts the request as in flight."""
        limits = self.limits
        if limits is None:
            return None
        now = time.monotonic()
        with self._lock:
            usage = self.usage.setdefault(user, _UserUsage())
            self._expire(usage, now, limits.window_seconds)
            if usage.in_flight >= limits.concurrent:
                return _throttle_error(CONCURRENCY_CODE,
                                       f"Number of concurrent requests exceeded the limit of {limits.concurrent}.",
                                       self.retry_after)
            if len(usage.requests) >= limits.requests:
                wait = usage.requests[0] + limits.window_seconds - now
                return _throttle_error(
                    REQUESTS_CODE, f"Number of requests exceeded the limit of {limits.requests} over time window "
                                   f"of {int(limits.window_seconds)} seconds.", wait)
            if sum(ms for _, ms in usage.execution) > limits.execution_ms:
                wait = usage.execution[0][0] + limits.window_seconds - now
                return _throttle_error(
                    EXECUTION_CODE, f"Combined execution time of incoming requests exceeded limit of "
                                    f"{int(limits.execution_ms)} milliseconds over time window of "
                                    f"{int(limits.window_seconds)} seconds. Decrease number of concurrent requests "
                                    "or reduce the duration of requests and try again later.", wait)
            usage.requests.append(now)
            usage.in_flight += 1
        return None

    def release(self, user: str, operations: int) -> None:
        limits = self.limits
        if limits is None:
            return
        with self._lock:
            usage = self.usage.setdefault(user, _UserUsage())
            usage.in_flight = max(0, usage.in_flight - 1)
            usage.execution.append((time.monotonic(), operations * limits.ms_per_operation))

    @staticmethod
    def _expire(usage: _UserUsage, now: float, window: float) -> None:
        while usage.requests and usage.requests[0] <= now - window:
            usage.requests.popleft()
        while usage.execution and usage.execution[0][0] <= now - window:
            usage.execution.popleft()


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.total = 0
            self.operations = 0
            self.batch_operations = 0
            self.by_method: dict[str, int] = {}
            self.by_path: dict[str, int] = {}
            self.by_route: dict[str, int] = {}
            self.by_status: dict[str, int] = {}
            self.throttled = 0
            self.faults = 0
            self.log: deque[dict[str, Any]] = deque(maxlen=2000)

    def record(self, method: str, path: str, status: int, operations: int, *, batch: bool, injected: bool) -> None:
        resource = path.split("?", 1)[0].strip("/").split("/")[0].split("(")[0] or "/"
        with self._lock:
            self.total += 1
            self.operations += operations
            if batch:
                self.batch_operations += operations
            self.by_method[method] = self.by_method.get(method, 0) + 1
            self.by_path[resource] = self.by_path.get(resource, 0) + 1
            route = f"{method} {resource}"
            self.by_route[route] = self.by_route.get(route, 0) + 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            if status == 429:
                self.throttled += 1
            if injected:
                self.faults += 1
            self.log.append({"method": method, "path": path, "status": status, "operations": operations})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self.total, "operations": self.operations, "batchOperations": self.batch_operations,
                    "byMethod": dict(self.by_method), "byPath": dict(self.by_path), "byRoute": dict(self.by_route),
                    "byStatus": dict(self.by_status), "throttled": self.throttled, "faults": self.faults,
                    "requests": list(self.log)}
