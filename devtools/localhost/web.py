"""HTTP: routes from function.json, the request handler, and the problem+json answers the host makes itself."""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import azure.functions as func

from devtools.localhost.functions import Function
from devtools.routing import RouteError, RouteTemplate

LOG = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
# What a function without `methods` in function.json serves. TRACE only reaches a function that
# lists it; any other method (FOO) never reaches a function: the host answers 405 with `Allow`.
DEFAULT_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# How long a connection may stay silent (mid-request or idle); LOCAL_HOST_IDLE_SECONDS overrides it.
DEFAULT_IDLE_SECONDS = 60.0


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


def request_id_for(incoming: str | None) -> str:
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



class RequestHandlingApp(Protocol):
    """What the request handler needs of the host (devtools.localhost.host.LocalHost)."""

    stopping: threading.Event
    bind_host: str
    idle_timeout: float

    @property
    def port(self) -> int: ...

    def tracking(self) -> AbstractContextManager[None]: ...

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, base_url: str,
               request_id: str) -> Reply: ...


class HostServer(ThreadingHTTPServer):
    # Idle keep-alive connections must not hold the process open; in-flight requests are
    # counted by LocalHost.tracking() and awaited in stop().
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: RequestHandlingApp) -> None:
        self.app = app
        super().__init__(address, handler)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle on, a kept-alive client waits for
    # the delayed ACK (about 40 ms) on every response.
    disable_nagle_algorithm = True
    # A client that goes quiet mid-request (or an idle kept-alive connection) must not hold a
    # thread, or shutdown, for ever; a function's own run time is not bounded by this.
    timeout = DEFAULT_IDLE_SECONDS
    server: HostServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.app.idle_timeout)  # LOCAL_HOST_IDLE_SECONDS

    def _serve(self) -> None:
        app = self.server.app
        with app.tracking():
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            request_id = request_id_for(headers.get("x-request-id"))
            try:
                body = self._read_body(headers)
            except _TooLarge:
                reply = problem(413, f"The request body is over {MAX_REQUEST_BYTES} bytes.", request_id)
                self.close_connection = True
            except ValueError as exc:  # a broken or short body never reaches a function
                reply = problem(400, str(exc), request_id)
                self.close_connection = True
            except TimeoutError:
                reply = problem(400, f"The request body stopped arriving for {self.server.app.idle_timeout:g} s.", request_id)
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
