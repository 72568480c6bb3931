"""A local host for the function folders. A development tool, never deployed.

Azure Functions Core Tools cannot be installed everywhere (its npm package downloads a binary
at install time), so this module runs the folders of a v1-model Python function app itself,
as their ``function.json`` and the app's ``host.json`` say::

    python -m devtools.localhost --host 127.0.0.1 --port 7071 [--root DIR]

- ``httpTrigger``: ``/<routePrefix>/<route>``, methods, function keys (``LOCAL_FUNCTION_KEY``
  in ``x-functions-key`` or ``?code=``); host-made errors are problem+json with x-request-id.
- ``queueTrigger``: polls Azure Storage (Azurite) with ``extensions.queues`` from host.json,
  retries after ``visibilityTimeout`` and moves a message to ``<queue>-poison`` after
  ``maxDequeueCount`` failed deliveries.
- ``timerTrigger``: six-field NCRONTAB schedules in UTC, ``%Setting%``, ``runOnStartup``.
- ``POST /admin/functions/<Name>`` runs a queue or timer function now (master key =
  ``LOCAL_FUNCTION_KEY``), as Core Tools does; ``GET /admin/host/ping`` answers when ready.

Settings come from the environment, then from the ``Values`` of ``local.settings.json`` (or
``local.settings.example.json`` when there is none) under the app root; the environment wins.
SIGINT/SIGTERM stop the listeners, let running invocations finish, then exit.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import contextvars
import hmac
import importlib
import inspect
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient

from devtools.ncrontab import Schedule, ScheduleError
from devtools.routing import RouteError, RouteTemplate

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG = logging.getLogger("devtools.localhost")

KEY_SETTING = "LOCAL_FUNCTION_KEY"
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
# What a function without `methods` in function.json serves. TRACE only reaches a function that
# lists it; any other method (FOO) never reaches a function: the host answers 405 with `Allow`.
DEFAULT_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# How long a dequeued message stays hidden while it is processed; renewed at half-time.
# The Functions host uses 10 minutes too, so a crashed host delays a message the same way.
QUEUE_LEASE_SECONDS = 600
MIN_POLL_SECONDS = 0.1
PAST_DUE_TOLERANCE = timedelta(seconds=1)
SHUTDOWN_GRACE_SECONDS = 230.0  # the longest an HTTP response may take in Azure

_invocation: contextvars.ContextVar[str] = contextvars.ContextVar("invocation", default="host")


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


def settings_file(root: Path) -> Path | None:
    """``local.settings.json`` when present, else the committed example, else nothing."""
    for name in ("local.settings.json", "local.settings.example.json"):
        path = root / name
        if path.is_file():
            return path
    return None


def apply_settings(root: Path, environ: MutableMapping[str, str]) -> Path | None:
    """Fill `environ` with the settings file's `Values` that the environment does not set."""
    path = settings_file(root)
    if path is None:
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("IsEncrypted"):
        raise SystemExit(f"{path.name} is encrypted; the local host reads plain settings only")
    for name, value in (document.get("Values") or {}).items():
        environ.setdefault(name, "" if value is None else str(value))
    return path


def expand_settings(text: str, environ: MutableMapping[str, str]) -> str:
    """Replace ``%Name%`` with the setting's value, as the host does in binding properties."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise KeyError(f"setting {name!r} (used as %{name}%) is not defined")
        return environ[name]

    return re.sub(r"%([^%]+)%", lookup, text)


# --------------------------------------------------------------------------------------------
# host.json
# --------------------------------------------------------------------------------------------


def parse_timespan(text: str | int | float) -> float:
    """Seconds in a .NET TimeSpan string: ``hh:mm:ss``, ``d.hh:mm:ss``, ``hh:mm:ss.fff``."""
    if isinstance(text, int | float):
        return float(text)
    match = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a TimeSpan (hh:mm:ss)")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` with the Functions host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"

    @classmethod
    def from_json(cls, section: dict[str, Any]) -> QueueOptions:
        batch_size = int(section.get("batchSize", 16))
        if not 1 <= batch_size <= 32:
            raise ValueError(f"queues.batchSize must be 1-32, not {batch_size}")
        encoding = str(section.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ValueError(f"queues.messageEncoding must be base64 or none, not {encoding!r}")
        options = cls(
            batch_size=batch_size,
            new_batch_threshold=int(section.get("newBatchThreshold", batch_size // 2)),
            max_dequeue_count=int(section.get("maxDequeueCount", 5)),
            visibility_timeout=parse_timespan(section.get("visibilityTimeout", "00:00:00")),
            max_polling_interval=parse_timespan(section.get("maxPollingInterval", "00:01:00")),
            message_encoding=encoding,
        )
        if options.max_dequeue_count < 1:
            raise ValueError("queues.maxDequeueCount must be at least 1")
        return options


@dataclass(frozen=True)
class HostOptions:
    route_prefix: str = "api"
    queues: QueueOptions = field(default_factory=QueueOptions)
    function_timeout: float | None = None
    log_level: str = "Information"

    @classmethod
    def read(cls, root: Path) -> HostOptions:
        path = root / "host.json"
        if not path.is_file():
            raise SystemExit(f"no host.json in {root}: not a function app root")
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != "2.0":
            raise SystemExit('host.json must say "version": "2.0"')
        extensions = document.get("extensions") or {}
        timeout = document.get("functionTimeout")
        return cls(
            route_prefix=str((extensions.get("http") or {}).get("routePrefix", "api")).strip("/"),
            queues=QueueOptions.from_json(extensions.get("queues") or {}),
            function_timeout=parse_timespan(timeout) if timeout and timeout != "-1" else None,
            log_level=str(((document.get("logging") or {}).get("logLevel") or {}).get("default", "Information")),
        )


# --------------------------------------------------------------------------------------------
# Function folders
# --------------------------------------------------------------------------------------------


@dataclass
class Function:
    """One function folder: its bindings and, once loaded, its entry point (or why not)."""

    name: str
    directory: Path
    bindings: list[dict[str, Any]]
    main: Callable[..., Any] | None = None
    error: str | None = None
    timeout: float | None = None  # host.json functionTimeout, in seconds

    @property
    def trigger(self) -> dict[str, Any]:
        triggers = [b for b in self.bindings if str(b.get("type", "")).endswith("Trigger")]
        if len(triggers) != 1:
            raise ValueError(f"{self.name}: function.json needs exactly one trigger binding, has {len(triggers)}")
        return triggers[0]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def http_output(self) -> str | None:
        for binding in self.bindings:
            if binding.get("type") == "http" and binding.get("direction") == "out":
                return str(binding.get("name", "$return"))
        return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def discover(root: Path, environ: MutableMapping[str, str]) -> list[Function]:
    """Every folder under `root` with a function.json, loaded; failures are kept, not raised."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # the worker puts the app root first, for `from shared...`
    functions = []
    for config_path in sorted(root.glob("*/function.json")):
        directory = config_path.parent
        if directory.name.startswith((".", "_")):
            continue
        config = json.loads(config_path.read_text(encoding="utf-8"))
        function = Function(directory.name, directory, list(config.get("bindings") or []))
        if config.get("disabled") or _truthy(environ.get(f"AzureWebJobs.{function.name}.Disabled")):
            LOG.info("Function %s is disabled", function.name)
            continue
        try:
            function.main = _load_entry_point(function, config)
        except Exception as exc:
            function.error = f"{type(exc).__name__}: {exc}"
            LOG.error("Function %s failed to load:\n%s", function.name, traceback.format_exc())
        functions.append(function)
    return functions


def _load_entry_point(function: Function, config: dict[str, Any]) -> Callable[..., Any]:
    function.trigger  # noqa: B018 - validates the binding count early
    script = Path(config.get("scriptFile") or "__init__.py")
    if script.parts[0] == "..":
        raise ValueError("scriptFile outside the function folder is not supported by the local host")
    module_name = function.name if script.name == "__init__.py" else f"{function.name}.{script.stem}"
    module = importlib.import_module(module_name)
    entry = getattr(module, config.get("entryPoint") or "main", None)
    if not callable(entry):
        raise AttributeError(f"{module_name} has no callable {config.get('entryPoint') or 'main'}")
    bound = {str(b.get("name")) for b in function.bindings}
    for parameter in inspect.signature(entry).parameters.values():
        if parameter.name not in bound and parameter.name != "context" and parameter.default is inspect.Parameter.empty:
            raise TypeError(f"parameter {parameter.name!r} of {module_name}.main has no binding in function.json")
    return entry


class _Out(func.Out[Any]):
    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


@dataclass(frozen=True)
class InvocationContext:
    """What the worker passes as `context` (duck-typed like ``azure.functions.Context``)."""

    invocation_id: str
    function_name: str
    function_directory: str
    thread_local_storage: threading.local = field(default_factory=threading.local)
    trace_context: Any = None
    retry_context: Any = None


def invoke(function: Function, trigger_value: Any) -> Any:
    """Call the entry point with its bindings by name; returns the ``$return`` or http output."""
    if function.main is None:
        raise RuntimeError(f"function {function.name} is not loaded: {function.error}")
    invocation_id = str(uuid.uuid4())
    token = _invocation.set(f"{function.name} {invocation_id[:8]}")
    started = time.monotonic()
    try:
        trigger_name = str(function.trigger.get("name"))
        outputs: dict[str, _Out] = {}
        kwargs: dict[str, Any] = {}
        for parameter in inspect.signature(function.main).parameters.values():
            if parameter.name == trigger_name:
                kwargs[parameter.name] = trigger_value
            elif parameter.name == "context":
                kwargs["context"] = InvocationContext(invocation_id, function.name, str(function.directory))
            elif any(b.get("name") == parameter.name and b.get("direction") == "out" for b in function.bindings):
                outputs[parameter.name] = kwargs[parameter.name] = _Out()
        LOG.info("Executing '%s' (Id=%s)", function.name, invocation_id)
        try:
            try:
                result = function.main(**kwargs)
                if inspect.isawaitable(result):
                    result = asyncio.run(_awaited(result))
            finally:
                elapsed = time.monotonic() - started
                if function.timeout is not None and elapsed > function.timeout:
                    # Azure would have stopped it; a Python thread cannot be stopped, so say it loudly.
                    LOG.error("'%s' ran %.0f s, over host.json functionTimeout (%.0f s): Azure would cut it off",
                              function.name, elapsed, function.timeout)
        except Exception:
            LOG.exception("Executed '%s' (Failed, Id=%s, Duration=%dms)", function.name, invocation_id,
                          (time.monotonic() - started) * 1000)
            raise
        LOG.info("Executed '%s' (Succeeded, Id=%s, Duration=%dms)", function.name, invocation_id,
                 (time.monotonic() - started) * 1000)
        output = function.http_output
        if output is not None and output != "$return":
            return outputs[output].get() if output in outputs else None
        return result
    finally:
        _invocation.reset(token)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRoute:
    function: Function
    template: RouteTemplate
    methods: frozenset[str]
    auth_level: str


def build_routes(functions: list[Function]) -> list[HttpRoute]:
    routes = []
    for function in functions:
        if function.error is not None and not function.bindings:
            continue
        try:
            trigger = function.trigger
        except ValueError as exc:
            function.error = str(exc)
            continue
        if trigger.get("type") != "httpTrigger":
            continue
        methods = trigger.get("methods")
        try:
            template = RouteTemplate(str(trigger.get("route") or function.name))
        except RouteError as exc:
            function.error = str(exc)
            LOG.error("Function %s: %s", function.name, exc)
            continue
        auth_level = str(trigger.get("authLevel", "function")).lower()
        if auth_level not in ("anonymous", "function", "admin"):
            function.error = f"unknown authLevel {auth_level!r}"
            continue
        served = frozenset(str(m).upper() for m in methods) if methods else DEFAULT_METHODS
        routes.append(HttpRoute(function, template, served, auth_level))
    routes.sort(key=lambda route: route.template.specificity)
    return routes


def _request_id(incoming: str | None) -> str:
    # The same rule as the app's (shared.http), so host-made and app-made answers look alike.
    offered = (incoming or "").strip()
    return offered if re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", offered) else uuid.uuid4().hex


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def problem(status: int, detail: str, request_id: str, *, headers: list[tuple[str, str]] | None = None) -> Reply:
    """An RFC 9457 problem, shaped like the app's own (type, title, status, detail, errors)."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, "errors": []}
    return Reply(
        status,
        [("Content-Type", "application/problem+json"), ("x-request-id", request_id), *(headers or [])],
        json.dumps(body).encode(),
    )


def reply_from_response(response: Any) -> Reply:
    if not isinstance(response, func.HttpResponse):
        raise TypeError(f"an HTTP function must return azure.functions.HttpResponse, not {type(response).__name__}")
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", "transfer-encoding")]
    if not any(k.lower() == "content-type" for k, _ in headers):
        mimetype = response.mimetype
        headers.append(("Content-Type", f"{mimetype}; charset={response.charset}" if mimetype.startswith("text/") else mimetype))
    return Reply(int(response.status_code), headers, response.get_body())


# --------------------------------------------------------------------------------------------
# Queue triggers
# --------------------------------------------------------------------------------------------


@dataclass
class _Lease:
    message: Any  # azure.storage.queue.QueueMessage
    pop_receipt: str
    renew_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    settled: bool = False


def storage_connection(binding: dict[str, Any], environ: MutableMapping[str, str]) -> str:
    name = str(binding.get("connection") or "AzureWebJobsStorage")
    for candidate in (name, f"AzureWebJobs{name}"):
        if environ.get(candidate):
            return environ[candidate]
    raise KeyError(f"storage connection setting {name!r} is not set")


class QueueListener:
    """Polls one queue for one function, as the Functions host's queue listener does."""

    def __init__(self, function: Function, connection_string: str, queue_name: str, options: QueueOptions) -> None:
        self.function = function
        self.queue_name = queue_name
        self.options = options
        self._queue = QueueClient.from_connection_string(connection_string, queue_name)
        self._poison = QueueClient.from_connection_string(connection_string, f"{queue_name}-poison")
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._leases: dict[str, _Lease] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=options.batch_size + options.new_batch_threshold,
            thread_name_prefix=f"{function.name}-worker",
        )
        self._thread = threading.Thread(target=self._run, name=f"{function.name}-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        token = _invocation.set(f"{self.function.name} poller")
        delay = MIN_POLL_SECONDS
        while not self._stop.is_set():
            try:
                self._queue.create_queue()
                break
            except ResourceExistsError:
                break
            except AzureError as exc:
                LOG.warning("Queue %s not reachable (%s); retrying in %.1f s", self.queue_name, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.options.max_polling_interval)
        LOG.info("Listening on queue %s for %s", self.queue_name, self.function.name)
        delay = MIN_POLL_SECONDS
        while not self._stop.is_set():
            self._renew_leases()
            with self._changed:
                # A new batch only once the running ones drop to newBatchThreshold, as the host does.
                if len(self._leases) > self.options.new_batch_threshold:
                    self._changed.wait(timeout=1.0)
                    continue
            try:
                messages = list(self._queue.receive_messages(
                    max_messages=self.options.batch_size, visibility_timeout=QUEUE_LEASE_SECONDS))
            except AzureError as exc:
                LOG.warning("Polling %s failed: %s", self.queue_name, exc)
                messages = []
            if not messages:
                self._stop.wait(delay)
                delay = min(delay * 2, self.options.max_polling_interval)
                continue
            delay = MIN_POLL_SECONDS
            for message in messages:
                lease = _Lease(message, message.pop_receipt or "", time.monotonic() + QUEUE_LEASE_SECONDS / 2)
                with self._changed:
                    self._leases[message.id] = lease
                self._pool.submit(self._process, lease)
        # Stopping: no new messages, but keep the running ones leased until they finish.
        while True:
            with self._changed:
                if not self._leases:
                    break
                self._changed.wait(timeout=1.0)
            self._renew_leases()
        self._pool.shutdown(wait=True)
        _invocation.reset(token)

    def _renew_leases(self) -> None:
        now = time.monotonic()
        with self._changed:
            due = [lease for lease in self._leases.values() if lease.renew_at <= now]
        for lease in due:
            with lease.lock:
                if lease.settled:
                    continue
                try:
                    receipt = self._queue.update_message(
                        lease.message.id, lease.pop_receipt, visibility_timeout=QUEUE_LEASE_SECONDS)
                    lease.pop_receipt = receipt.pop_receipt or lease.pop_receipt
                    lease.renew_at = now + QUEUE_LEASE_SECONDS / 2
                except AzureError as exc:
                    LOG.warning("Could not extend the lease of message %s: %s", lease.message.id, exc)

    def _decode(self, content: str) -> bytes:
        if self.options.message_encoding == "base64":
            try:
                return base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(
                    "message is not base64 text, which host.json's messageEncoding requires "
                    "(send it with TextBase64EncodePolicy)") from exc
        return content.encode("utf-8")

    def _process(self, lease: _Lease) -> None:
        message = lease.message
        failure: str | None = None
        if message.dequeue_count > self.options.max_dequeue_count:
            # Delivered more often than allowed without a verdict (the host died mid-run): park it.
            failure = f"dequeued {message.dequeue_count} times, more than maxDequeueCount"
        else:
            try:
                trigger = QueueMessage(
                    id=message.id,
                    body=self._decode(message.content),
                    dequeue_count=message.dequeue_count,
                    insertion_time=message.inserted_on,
                    expiration_time=message.expires_on,
                    time_next_visible=message.next_visible_on,
                    pop_receipt=lease.pop_receipt,
                )
                invoke(self.function, trigger)
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, ValueError) and "base64" in str(exc):
                    LOG.error("Message %s on %s: %s", message.id, self.queue_name, exc)
        with lease.lock:
            lease.settled = True
            try:
                self._settle(message, lease.pop_receipt, failure)
            except AzureError as exc:
                LOG.error("Could not settle message %s on %s (it reappears after its lease): %s",
                          message.id, self.queue_name, exc)
        with self._changed:
            self._leases.pop(message.id, None)
            self._changed.notify_all()

    def _settle(self, message: Any, pop_receipt: str, failure: str | None) -> None:
        if failure is None:
            self._queue.delete_message(message.id, pop_receipt)
            return
        if message.dequeue_count >= self.options.max_dequeue_count:
            try:
                self._poison.send_message(message.content)
            except ResourceNotFoundError:
                self._poison.create_queue()
                self._poison.send_message(message.content)
            self._queue.delete_message(message.id, pop_receipt)
            LOG.error("Message %s moved to %s-poison after %d deliveries: %s",
                      message.id, self.queue_name, message.dequeue_count, failure)
            return
        retry_in = round(self.options.visibility_timeout)
        self._queue.update_message(message.id, pop_receipt, visibility_timeout=retry_in)
        LOG.warning("Message %s on %s failed (delivery %d of %d); retry in %d s: %s", message.id,
                    self.queue_name, message.dequeue_count, self.options.max_dequeue_count, retry_in, failure)


# --------------------------------------------------------------------------------------------
# Timer triggers
# --------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def timer_request(past_due: bool, last: datetime | None, following: datetime | None) -> TimerRequest:
    status = {
        "Last": last.isoformat() if last else None,
        "Next": following.isoformat() if following else None,
        "LastUpdated": _utcnow().isoformat(),
    }
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})


class TimerListener:
    """Fires one timer function on its schedule; runs never overlap (one thread per timer)."""

    def __init__(self, function: Function, schedule: Schedule, run_on_startup: bool) -> None:
        self.function = function
        self.schedule = schedule
        self.run_on_startup = run_on_startup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{function.name}-timer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _fire(self, past_due: bool, last: datetime | None, following: datetime | None) -> None:
        # invoke() logs a failure; a failed tick must not stop the schedule.
        with contextlib.suppress(Exception):
            invoke(self.function, timer_request(past_due, last, following))

    def _run(self) -> None:
        LOG.info("Timer %s scheduled '%s' (UTC); next at %s", self.function.name, self.schedule.expression,
                 self.schedule.next_after(_utcnow()).isoformat())
        last: datetime | None = None
        if self.run_on_startup:
            last = _utcnow()
            self._fire(False, None, self.schedule.next_after(last))
        due = self.schedule.next_after(_utcnow())
        forced_late = False
        while not self._stop.wait(max(0.0, (due - _utcnow()).total_seconds())):
            following = self.schedule.next_after(due)
            self._fire(forced_late or _utcnow() - due > PAST_DUE_TOLERANCE, last, following)
            last = due
            if following <= _utcnow():
                # Occurrences went by while it ran: one late run stands for all of them.
                due, forced_late = _utcnow(), True
            else:
                due, forced_late = following, False


# --------------------------------------------------------------------------------------------
# The host
# --------------------------------------------------------------------------------------------


class LocalHost:
    """Loads an app root, serves its HTTP functions and runs its queue and timer listeners."""

    def __init__(self, root: Path, host: str, port: int, environ: MutableMapping[str, str] | None = None) -> None:
        self.root = root.resolve()
        self.bind_host = host
        self.environ = os.environ if environ is None else environ
        self.settings_path = apply_settings(self.root, self.environ)
        self.options = HostOptions.read(self.root)
        self.functions = {f.name: f for f in discover(self.root, self.environ)}
        for function in self.functions.values():
            function.timeout = self.options.function_timeout
        self.routes = build_routes(list(self.functions.values()))
        self.key = self.environ.get(KEY_SETTING, "")
        if not self.key and any(route.auth_level != "anonymous" for route in self.routes):
            raise SystemExit(f"{KEY_SETTING} is not set, but some HTTP functions need a key")
        self.queue_listeners: list[QueueListener] = []
        self.timer_listeners: list[TimerListener] = []
        self._admin_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="admin")
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self.stopping = threading.Event()
        self.server = _Server((host, port), _Handler, self)
        self._server_thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        for function in self.functions.values():
            if function.error is not None:
                continue
            try:
                self._start_listener(function)
            except (KeyError, ValueError, ScheduleError) as exc:
                function.error = str(exc)
                LOG.error("Function %s cannot start: %s", function.name, exc)
        self._server_thread.start()
        prefix = f"/{self.options.route_prefix}" if self.options.route_prefix else ""
        for route in self.routes:
            methods = ",".join(sorted(route.methods))
            LOG.info("%s: [%s] http://%s:%d%s/%s", route.function.name, methods, self.bind_host,
                     self.port, prefix, route.template.template)
        LOG.info("Host started (settings: %s)", self.settings_path.name if self.settings_path else "environment only")

    def _start_listener(self, function: Function) -> None:
        trigger = function.trigger
        if trigger["type"] == "queueTrigger":
            queue_name = expand_settings(str(trigger["queueName"]), self.environ).lower()
            listener = QueueListener(function, storage_connection(trigger, self.environ), queue_name,
                                     self.options.queues)
            self.queue_listeners.append(listener)
            listener.start()
        elif trigger["type"] == "timerTrigger":
            schedule = Schedule.parse(expand_settings(str(trigger["schedule"]), self.environ))
            timer = TimerListener(function, schedule, bool(trigger.get("runOnStartup", False)))
            self.timer_listeners.append(timer)
            timer.start()
        elif trigger["type"] != "httpTrigger":
            raise ValueError(f"trigger type {trigger['type']!r} is not supported by the local host")

    def stop(self) -> None:
        """Stop listening, let running invocations finish, then close the server."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        LOG.info("Stopping: waiting for running invocations")
        listeners: list[QueueListener | TimerListener] = [*self.queue_listeners, *self.timer_listeners]
        for listener in listeners:
            listener.stop()
        self.server.shutdown()
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        with self._in_flight_changed:
            while self._in_flight and time.monotonic() < deadline:
                self._in_flight_changed.wait(timeout=0.5)
        for listener in listeners:
            listener.join()
        self._admin_pool.shutdown(wait=True)
        self.server.server_close()
        LOG.info("Stopped")

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        with self._in_flight_changed:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._in_flight_changed:
                self._in_flight -= 1
                self._in_flight_changed.notify_all()

    # ---- request handling (called from handler threads) -------------------------------------

    def key_matches(self, headers: dict[str, str], query: dict[str, str]) -> bool:
        given = headers.get("x-functions-key") or query.get("code") or ""
        return bool(self.key) and hmac.compare_digest(given.encode(), self.key.encode())

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, base_url: str,
               request_id: str) -> Reply:
        split = urlsplit(target)
        query: dict[str, str] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(name, value)
        path = split.path
        if path == "/admin" or path.startswith("/admin/"):
            return self._admin(method, path, headers, query, body, request_id)
        prefix = f"/{self.options.route_prefix}" if self.options.route_prefix else ""
        if not (path == prefix or path.startswith(prefix + "/")):
            return problem(404, f"No function is mapped to {path}.", request_id)
        below = path[len(prefix):]
        candidates = [(route, values) for route in self.routes if (values := route.template.match(below)) is not None]
        if not candidates:
            return problem(404, f"No function is mapped to {path}.", request_id)
        allowed = [(route, values) for route, values in candidates if method in route.methods]
        if not allowed:
            methods = sorted({m for route, _ in candidates for m in route.methods})
            return problem(405, f"{path} accepts {', '.join(methods)}, not {method}.", request_id,
                           headers=[("Allow", ", ".join(methods))])
        route, values = allowed[0]
        if route.auth_level != "anonymous" and not self.key_matches(headers, query):
            reason = "is missing" if not (headers.get("x-functions-key") or query.get("code")) else "is not valid"
            return problem(401, f"The function key {reason}: send it in the x-functions-key header or ?code=.",
                           request_id)
        function = route.function
        if function.main is None:
            return problem(500, f"Function {function.name} failed to load: {function.error}", request_id)
        request = func.HttpRequest(method, base_url + target, headers=headers, params=query,
                                   route_params=values, body=body)
        try:
            return reply_from_response(invoke(function, request))
        except Exception as exc:
            if isinstance(exc, TypeError) and "must return" in str(exc):
                LOG.error("%s: %s", function.name, exc)
            # As in Azure: an unhandled exception is a bare 500; the app owns its error bodies.
            return Reply(500, [], b"")

    def _admin(self, method: str, path: str, headers: dict[str, str], query: dict[str, str], body: bytes,
               request_id: str) -> Reply:
        if path == "/admin/host/ping":
            return Reply(200, [("x-request-id", request_id)], b"")
        if not self.key_matches(headers, query):
            return problem(401, "The admin API needs the master key (LOCAL_FUNCTION_KEY) in x-functions-key.",
                           request_id)
        if path == "/admin/host/status" and method == "GET":
            status = {
                "state": "Stopping" if self.stopping.is_set() else "Running",
                "functions": [
                    {"name": f.name, "trigger": f.trigger_type if f.error is None else None, "error": f.error}
                    for f in self.functions.values()
                ],
            }
            return Reply(200, [("Content-Type", "application/json"), ("x-request-id", request_id)],
                         json.dumps(status).encode())
        match = re.fullmatch(r"/admin/functions/([^/]+)", path)
        if not match:
            return problem(404, f"No admin operation at {path}.", request_id)
        if method != "POST":
            return problem(405, "Run a function with POST.", request_id, headers=[("Allow", "POST")])
        function = next((f for f in self.functions.values() if f.name.lower() == match.group(1).lower()), None)
        if function is None:
            return problem(404, f"No function named {match.group(1)}.", request_id)
        if function.main is None:
            return problem(500, f"Function {function.name} failed to load: {function.error}", request_id)
        trigger_type = function.trigger_type
        if trigger_type == "httpTrigger":
            return problem(400, f"{function.name} is an HTTP function: call its route instead.", request_id)
        try:
            payload = json.loads(body or b"{}")
            given = payload.get("input", "") if isinstance(payload, dict) else None
        except ValueError:
            given = None
        if not isinstance(given, str):
            return problem(400, 'Send {"input": "<string>"} as the body.', request_id)
        trigger_value: Any
        if trigger_type == "timerTrigger":
            trigger_value = timer_request(False, None, None)
        elif trigger_type == "queueTrigger":
            now = _utcnow()
            trigger_value = QueueMessage(id=str(uuid.uuid4()), body=given.encode("utf-8"), dequeue_count=1,
                                         insertion_time=now, expiration_time=now + timedelta(days=7))
        else:
            return problem(400, f"{trigger_type} functions cannot be run through the admin API here.", request_id)
        future: Future[Any] = self._admin_pool.submit(invoke, function, trigger_value)
        headers_out = [("Content-Type", "application/json"), ("x-request-id", request_id)]
        if query.get("wait", "").lower() not in ("1", "true"):
            return Reply(202, [("x-request-id", request_id)], b"")
        try:
            future.result()
            outcome = {"function": function.name, "status": "Succeeded", "error": None}
        except Exception as exc:
            outcome = {"function": function.name, "status": "Failed", "error": f"{type(exc).__name__}: {exc}"}
        return Reply(200, headers_out, json.dumps(outcome).encode())


class _Server(ThreadingHTTPServer):
    # Idle keep-alive connections must not hold the process open; in-flight requests are
    # counted by LocalHost.tracking() and awaited in stop().
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: LocalHost) -> None:
        self.app = app
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle on, a kept-alive client waits for
    # the delayed ACK (about 40 ms) on every response.
    disable_nagle_algorithm = True
    # A client that goes quiet mid-request (or an idle kept-alive connection) must not hold a
    # thread, or shutdown, for ever; a function's own run time is not bounded by this.
    timeout = 60
    server: _Server

    def _serve(self) -> None:
        app = self.server.app
        with app.tracking():
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            request_id = _request_id(headers.get("x-request-id"))
            try:
                body = self._read_body(headers)
            except _TooLarge:
                reply = problem(413, f"The request body is over {MAX_REQUEST_BYTES} bytes.", request_id)
                self.close_connection = True
            except ValueError as exc:  # a broken or short body never reaches a function
                reply = problem(400, str(exc), request_id)
                self.close_connection = True
            except TimeoutError:
                reply = problem(400, f"The request body stopped arriving for {self.timeout} s.", request_id)
                self.close_connection = True
            else:
                if app.stopping.is_set():
                    reply = problem(503, "The host is shutting down.", request_id)
                else:
                    host = headers.get("host") or f"{app.bind_host}:{app.port}"
                    reply = app.handle(self.command, self.path, headers, body, f"http://{host}", request_id)
            if app.stopping.is_set():
                self.close_connection = True
            try:
                self._write(reply)
            except ConnectionError:  # the client left (e.g. after a short body): nobody to answer
                self.close_connection = True

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024).split(b";")[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError as exc:
                    raise ValueError("malformed chunked request body") from exc
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BYTES:
                    raise _TooLarge
                chunks.append(self._read_exactly(size))
                self.rfile.readline(1024)
        length_text = headers.get("content-length", "0") or "0"
        if not length_text.isdigit():
            raise ValueError("Content-Length is not a number")
        length = int(length_text)
        if length > MAX_REQUEST_BYTES:
            raise _TooLarge
        return self._read_exactly(length) if length else b""

    def _read_exactly(self, size: int) -> bytes:
        """`size` bytes, or ValueError when the client closed first (TimeoutError when it went quiet)."""
        data = self.rfile.read(size)
        if len(data) < size:
            raise ValueError(f"The request body ended after {len(data)} of the {size} bytes announced.")
        return data

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        # A HEAD answer says how long the GET answer would be, and sends no body.
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        LOG.info("%s %s -> %s", self.command, self.path.split("?")[0], code)

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler dispatches METHOD to do_METHOD and answers a 501 text/html page
        # when there is none: every method (TRACE, FOO) goes through routing instead, so it gets
        # the same problem+json 404/405 with x-request-id as any other.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


class _TooLarge(Exception):
    pass


class _InvocationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.invocation = _invocation.get()
        return True


def configure_logging(level: str) -> None:
    levels = {"trace": logging.DEBUG, "debug": logging.DEBUG, "information": logging.INFO,
              "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_InvocationFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s [%(invocation)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(levels.get(level.lower(), logging.INFO))
    # The storage SDK logs every HTTP exchange at INFO; the queue pollers would drown the app's logs.
    logging.getLogger("azure").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.localhost", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="HTTP port (default 7071)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="function app root (default: this repository)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        configure_logging(HostOptions.read(root).log_level)
    except ValueError as exc:
        print(f"host.json: {exc}", file=sys.stderr)
        return 2
    app = LocalHost(root, args.host, args.port)
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        LOG.info("Received %s", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    app.start()
    while not stop_requested.wait(timeout=1.0):
        pass
    app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
