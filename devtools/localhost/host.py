"""The host: loads an app root, serves its HTTP functions, runs its listeners, and stops them in order."""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.functions.queue import QueueMessage

from devtools.localhost.config import HostOptions, apply_settings, expand_settings
from devtools.localhost.functions import Function, discover, invocation_label, invoke
from devtools.localhost.queues import QueueListener, storage_connection
from devtools.localhost.timers import TimerListener, timer_request, utcnow
from devtools.localhost.web import (
    DEFAULT_IDLE_SECONDS,
    HostServer,
    Reply,
    RequestHandler,
    build_routes,
    problem,
    reply_from_response,
)
from devtools.ncrontab import Schedule, ScheduleError

LOG = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY_SETTING = "LOCAL_FUNCTION_KEY"
IDLE_SETTING = "LOCAL_HOST_IDLE_SECONDS"
SHUTDOWN_GRACE_SECONDS = 230.0  # the longest an HTTP response may take in Azure


def idle_seconds(text: str | None) -> float:
    """The LOCAL_HOST_IDLE_SECONDS setting: a positive number of seconds, 60 when unset."""
    if not text:
        return DEFAULT_IDLE_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise SystemExit(f"{IDLE_SETTING} must be a positive number of seconds, not {text!r}")
    return seconds


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
        self.idle_timeout = idle_seconds(self.environ.get(IDLE_SETTING))
        if not self.key and any(route.auth_level != "anonymous" for route in self.routes):
            raise SystemExit(f"{KEY_SETTING} is not set, but some HTTP functions need a key")
        self.queue_listeners: list[QueueListener] = []
        self.timer_listeners: list[TimerListener] = []
        self._admin_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="admin")
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self.stopping = threading.Event()
        self.server = HostServer((host, port), RequestHandler, self)
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
            now = utcnow()
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



class _InvocationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.invocation = invocation_label.get()
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
