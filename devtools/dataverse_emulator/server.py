"""The HTTP edge: a threaded server, bearer-token check, test hooks, faults, limits and stats."""

from __future__ import annotations

import socket
import ssl
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .app import Emulator
from .errors import ODataError
from .faults import Faults, Stats
from .hooks import handle_hook
from .protocol import Headers, Request, Response, error_response

API_PREFIX = "/api/data/v9.2"


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Bursts of parallel clients (the 52-concurrent-request limit) must reach the limit, not the backlog.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Emulator, token: str, tls: bool = False) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.token = token
        self.tls = tls
        self.faults = Faults()
        self.stats = Stats()

    def enable_tls(self, cert: Path, key: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.tls = True


def _unauthorized(server: EmulatorServer, host: str) -> Response:
    error = ODataError(401, "0x0", "The request is not authenticated: a valid Bearer token is required "
                                   "(RequestIsNotAuthenticated).")
    scheme = "https" if server.tls else "http"
    error.headers["WWW-Authenticate"] = (
        "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, "
        f"resource_id={scheme}://{host}/")
    return error_response(error)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorServer
    error_content_type = "application/json"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without this, delayed ACKs add ~40 ms per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _serve(self) -> None:
        server = self.server
        method = self.command.upper()
        body = self._read_body()
        path = self.path
        if path.startswith(("http://", "https://")):
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        if path.startswith("/_emulator/"):
            self._send(handle_hook(server, method, path, body))
            return
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            self._send(error_response(ODataError(404, "0x8006088a", f"Resource not found for the segment "
                                                                    f"'{path.strip('/').split('/')[0]}'.")))
            return
        target = path[len(API_PREFIX):].lstrip("/")
        host = self.headers.get("Host") or f"{server.server_address[0]!s}:{server.server_address[1]}"
        root = f"{'https' if server.tls else 'http'}://{host}{API_PREFIX}/"
        auth = self.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not token or (token != server.token and token not in server.app.config["additionalTokens"]):
            response = _unauthorized(server, host)
            server.stats.record(method, target, response.status, 0, batch=False, injected=False)
            self._send(response)
            return
        verdict = server.faults.before(method, target)
        if verdict.drop and not verdict.after:
            server.stats.record(method, target, 0, 0, batch=False, injected=True)
            self._drop()
            return
        if verdict.error is not None and not verdict.after:
            response = error_response(verdict.error)
            server.stats.record(method, target, response.status, 0, batch=False, injected=True)
            self._send(response)
            return
        throttled = server.faults.admit(token)
        if throttled is not None:
            response = error_response(throttled)
            server.stats.record(method, target, response.status, 0, batch=False, injected=False)
            self._send(response)
            return
        operations = 1
        try:
            server.faults.latency()
            request = Request(method, target, Headers(self.headers.items()), body, root, token)
            response, operations = server.app.execute_counted(request)
            if method != "GET" and response.status < 400:
                server.app.persist()
        finally:
            server.faults.release(token, operations)
        is_batch = target.split("?", 1)[0] == "$batch"
        if verdict.after:
            server.stats.record(method, target, 0 if verdict.drop else 500, operations, batch=is_batch,
                                injected=True)
            if verdict.drop:
                self._drop()
                return
            assert verdict.error is not None
            response = error_response(verdict.error)
        else:
            server.stats.record(method, target, response.status, operations, batch=is_batch, injected=False)
        self._send(response)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.close()
        except OSError:
            pass

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        names = {k.lower() for k, _ in response.headers}
        for key, value in response.headers:
            self.send_header(key, value)
        if "odata-version" not in names:
            self.send_header("OData-Version", "4.0")
        self.send_header("REQ_ID", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)
