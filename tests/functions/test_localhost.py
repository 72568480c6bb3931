"""The local function host (devtools/localhost/), driven over real HTTP and real Azurite.

It runs a tiny function app written into a temporary directory (`--root`), so these tests do not
depend on the product's functions. Each tiny function records what it was given in a JSON-lines
file the tests read.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import re
import signal
import socket
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devtools import stack
from devtools.localhost.host import idle_seconds

KEY = "tiny-key"

HOST_JSON = {
    "version": "2.0",
    "functionTimeout": "00:00:01",
    "extensions": {
        "http": {"routePrefix": "api"},
        "queues": {
            "batchSize": 4,
            "newBatchThreshold": 2,
            "maxDequeueCount": 3,
            "visibilityTimeout": "00:00:02",
            "maxPollingInterval": "00:00:00.500",
            "messageEncoding": "base64",
        },
    },
}


def _http(route: str, methods: list[str] | None = None, auth: str = "function") -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": auth,
                               "route": route}
    if methods is not None:
        trigger["methods"] = methods
    return {"bindings": [trigger, {"type": "http", "direction": "out", "name": "$return"}]}


def _queue(queue_name: str, connection: str | None = None) -> dict[str, Any]:
    binding = {"type": "queueTrigger", "direction": "in", "name": "msg", "queueName": queue_name}
    if connection is not None:
        binding["connection"] = connection
    return {"bindings": [binding]}


def _timer(schedule: str, run_on_startup: bool = False) -> dict[str, Any]:
    return {"bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": schedule,
                          "runOnStartup": run_on_startup}]}


# The app's own `shared` package: proves the app root comes first on sys.path.
RECORDER = '''
import json, os, threading, time

NAME = "tiny-shared"
_lock = threading.Lock()


def record(kind, **data):
    line = json.dumps({"kind": kind, "at": time.time(), **data}, default=str)
    with _lock, open(os.environ["TINY_LOG"], "a", encoding="utf-8") as handle:
        handle.write(line + "\\n")
'''

ECHO = '''
import json
import azure.functions as func
from shared.record import NAME
from .helper import shout


def main(req: func.HttpRequest) -> func.HttpResponse:
    body = {
        "method": req.method, "url": req.url, "route": dict(req.route_params), "params": dict(req.params),
        "headers": {k: v for k, v in req.headers.items()}, "body": req.get_body().decode(),
        "shared": NAME, "helper": shout("ok"),
    }
    return func.HttpResponse(json.dumps(body), status_code=201, mimetype="application/json",
                             headers={"x-request-id": "from-function", "x-custom": "yes"})
'''

NAMED = '''
import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("{name}")
'''

SLOW_HTTP = '''
import time
import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(float(req.params.get("seconds", "2")))
    return func.HttpResponse("finished")
'''

HTTP_RECORDING = '''
import azure.functions as func
from shared.record import record


def main(req: func.HttpRequest) -> func.HttpResponse:
    record("http", body=req.get_body().decode(errors="replace"))
    return func.HttpResponse("recorded")
'''

RAISES = '''
import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("unexpected")
'''

SETTINGS = '''
import json, os
import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    names = ("TINY_FROM_ENV", "TINY_FROM_FILE", "TINY_ONLY_IN_EXAMPLE")
    return func.HttpResponse(json.dumps({n: os.environ.get(n) for n in names}), mimetype="application/json")
'''

QUEUE_RECORDING = '''
import time
import azure.functions as func
from shared.record import record


def main(msg: func.QueueMessage) -> None:
    record("{kind}", id=msg.id, body=msg.get_body().decode(), dequeue_count=msg.dequeue_count,
           inserted=msg.insertion_time, expires=msg.expiration_time, pop_receipt=msg.pop_receipt)
    {action}
'''

TIMER = '''
import time
import azure.functions as func
from shared.record import record


def main(timer: func.TimerRequest) -> None:
    record("{kind}", past_due=timer.past_due, status=timer.schedule_status)
    time.sleep({seconds})
'''


def write_app(root: Path, queues: dict[str, str], with_local_settings: bool = True) -> None:
    files: dict[str, str] = {
        "shared/__init__.py": "",
        "shared/record.py": RECORDER,
        "Echo/__init__.py": ECHO,
        "Echo/helper.py": "def shout(text):\n    return text.upper()\n",
        "Special/__init__.py": NAMED.replace("{name}", "special"),
        "Guid/__init__.py": NAMED.replace("{name}", "guid"),
        "Optional/__init__.py": NAMED.replace("{name}", "optional"),
        "Public/__init__.py": NAMED.replace("{name}", "public"),
        "AdminOnly/__init__.py": NAMED.replace("{name}", "admin"),
        "AnyMethod/__init__.py": NAMED.replace("{name}", "any"),
        "Slow/__init__.py": SLOW_HTTP,
        "Raises/__init__.py": RAISES,
        "Recorded/__init__.py": HTTP_RECORDING,
        "Settings/__init__.py": SETTINGS,
        "Broken/__init__.py": "raise ImportError('this folder cannot be imported')\n",
        "Works/__init__.py": QUEUE_RECORDING.replace("{kind}", "works").replace("{action}", "return None"),
        "Fails/__init__.py": QUEUE_RECORDING.replace("{kind}", "fails").replace(
            "{action}", "raise RuntimeError('always fails')"),
        "SlowQueue/__init__.py": QUEUE_RECORDING.replace("{kind}", "slow-queue").replace("{action}", "time.sleep(3)"),
        "Tick/__init__.py": TIMER.replace("{kind}", "tick").replace("{seconds}", "0"),
        "Startup/__init__.py": TIMER.replace("{kind}", "startup").replace("{seconds}", "0"),
        # Runs longer than its one-second period, so the next occurrences go by while it runs.
        "Overrun/__init__.py": TIMER.replace("{kind}", "overrun").replace("{seconds}", "2.5"),
    }
    configs: dict[str, dict[str, Any]] = {
        "Echo": _http("items/{id}", ["get", "post"]),
        "Special": _http("items/special", ["get"]),
        "Guid": _http("things/{thingId:guid}", ["get"]),
        "Optional": _http("optional/{name?}", ["get"]),
        "Public": _http("public", ["get"], auth="anonymous"),
        "AdminOnly": _http("admin-only", ["get"], auth="admin"),
        "AnyMethod": _http("any"),
        "Slow": _http("slow", ["get"], auth="anonymous"),
        "Raises": _http("raises", ["get"]),
        "Recorded": _http("recorded/{id}", ["post"], auth="anonymous"),
        "Settings": _http("settings", ["get"]),
        "Broken": _http("broken", ["get"]),
        "Works": _queue("%TINY_WORKS_QUEUE%"),
        "Fails": _queue(queues["fails"], connection="TinyStorage"),
        "SlowQueue": _queue(queues["slow"]),
        "Tick": _timer("%TINY_TICK_SCHEDULE%"),
        "Startup": _timer("0 0 0 1 1 *", run_on_startup=True),
        "Overrun": _timer("* * * * * *"),
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    for name, config in configs.items():
        (root / name / "function.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (root / "host.json").write_text(json.dumps(HOST_JSON, indent=2), encoding="utf-8")
    example = {"IsEncrypted": False, "Values": {"TINY_ONLY_IN_EXAMPLE": "example", "TINY_FROM_FILE": "example"}}
    (root / "local.settings.example.json").write_text(json.dumps(example), encoding="utf-8")
    if with_local_settings:
        local = {"IsEncrypted": False, "Values": {"TINY_FROM_ENV": "file", "TINY_FROM_FILE": "file",
                                                  "LOCAL_FUNCTION_KEY": "key-from-file-is-overridden"}}
        (root / "local.settings.json").write_text(json.dumps(local), encoding="utf-8")


@dataclass
class TinyHost:
    service: stack.Service
    root: Path
    log: Path
    connection: str
    queues: dict[str, str]

    @property
    def url(self) -> str:
        return self.service.url

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=30, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", timeout=30, **kwargs)

    def records(self, kind: str) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [entry for entry in map(json.loads, lines) if entry["kind"] == kind]

    def queue(self, name: str, *, encoded: bool = True) -> QueueClient:
        policy = TextBase64EncodePolicy() if encoded else None
        return QueueClient.from_connection_string(self.connection, name, message_encode_policy=policy)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_tiny_host(
    root: Path, log_dir: Path, connection: str, queues: dict[str, str], *, with_local_settings: bool = True,
    extra_env: dict[str, str] | None = None,
) -> TinyHost:
    write_app(root, queues, with_local_settings=with_local_settings)
    log = root / "invocations.jsonl"
    env = {
        "AzureWebJobsStorage": connection,
        "TinyStorage": connection,
        "LOCAL_FUNCTION_KEY": KEY,
        "TINY_LOG": str(log),
        "TINY_WORKS_QUEUE": queues["works"],
        "TINY_TICK_SCHEDULE": "* * * * * *",
        "TINY_FROM_ENV": "env",
        **(extra_env or {}),
    }
    service = stack.start_function_host(log_dir, env, root=root)
    return TinyHost(service, root, log, connection, queues)


def _queue_names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"works": f"tiny-works-{suffix}", "fails": f"tiny-fails-{suffix}", "slow": f"tiny-slow-{suffix}"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, stack_logs: Path, storage_connection_string: str) -> Iterator[TinyHost]:
    host = start_tiny_host(tmp_path_factory.mktemp("tiny-app"), stack_logs, storage_connection_string, _queue_names())
    yield host
    host.service.stop()


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["errors"] == []
    return body


# ---- HTTP: routing --------------------------------------------------------------------------


def test_when_a_route_matches_the_function_gets_route_params_query_headers_and_body(tiny: TinyHost) -> None:
    response = tiny.request("POST", "/api/items/42?color=blue&code=" + KEY, data=b'{"a": 1}',
                            headers={"X-Thing": "t", "Content-Type": "application/json"})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-custom"] == "yes"
    assert response.headers["x-request-id"] == "from-function"  # the function's answer is not rewritten
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["route"] == {"id": "42"}
    assert seen["params"]["color"] == "blue"
    assert seen["headers"]["x-thing"] == "t"
    assert seen["body"] == '{"a": 1}'
    assert seen["url"].endswith("/api/items/42?color=blue&code=" + KEY)


def test_when_a_function_imports_shared_and_its_own_module_the_app_root_and_package_are_used(tiny: TinyHost) -> None:
    seen = tiny.get("/api/items/1", headers={"x-functions-key": KEY}).json()
    assert seen["shared"] == "tiny-shared"
    assert seen["helper"] == "OK"


def test_when_route_values_are_percent_encoded_they_are_decoded(tiny: TinyHost) -> None:
    seen = tiny.get("/api/items/a%20b%2Fc", headers={"x-functions-key": KEY}).json()
    assert seen["route"] == {"id": "a b/c"}


def test_when_a_literal_and_a_parameter_both_match_the_literal_wins(tiny: TinyHost) -> None:
    assert tiny.get("/api/items/special", headers={"x-functions-key": KEY}).text == "special"
    assert tiny.get("/api/ITEMS/Special", headers={"x-functions-key": KEY}).text == "special"


def test_when_a_constraint_rejects_the_value_the_route_does_not_match(tiny: TinyHost) -> None:
    good = tiny.get(f"/api/things/{uuid.uuid4()}", headers={"x-functions-key": KEY})
    assert good.status_code == 200 and good.text == "guid"
    assert_problem(tiny.get("/api/things/not-a-guid", headers={"x-functions-key": KEY}), 404)


def test_when_an_optional_parameter_is_left_out_the_route_still_matches(tiny: TinyHost) -> None:
    assert tiny.get("/api/optional", headers={"x-functions-key": KEY}).text == "optional"
    assert tiny.get("/api/optional/bob", headers={"x-functions-key": KEY}).text == "optional"
    assert_problem(tiny.get("/api/optional/bob/extra", headers={"x-functions-key": KEY}), 404)


def test_when_no_route_matches_the_answer_is_404_problem(tiny: TinyHost) -> None:
    body = assert_problem(tiny.get("/api/nothing-here", headers={"x-functions-key": KEY}), 404)
    assert "/api/nothing-here" in body["detail"]
    assert_problem(tiny.get("/outside-the-prefix"), 404)


def test_when_the_method_is_not_allowed_the_answer_is_405_problem_with_allow(tiny: TinyHost) -> None:
    response = tiny.request("PUT", "/api/items/1", headers={"x-functions-key": KEY})
    assert_problem(response, 405)
    assert response.headers["Allow"] == "GET, POST"


def test_when_head_is_sent_to_a_get_only_route_the_answer_is_405_with_the_length_and_no_body(
    tiny: TinyHost,
) -> None:
    response = tiny.request("HEAD", "/api/public")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert response.headers["x-request-id"]
    assert response.content == b""
    as_get = tiny.request("PATCH", "/api/public")
    assert int(response.headers["Content-Length"]) == len(as_get.content.replace(b"PATCH", b"HEAD"))


def test_when_options_is_sent_the_answer_is_405_listing_the_methods(tiny: TinyHost) -> None:
    response = tiny.request("OPTIONS", "/api/items/1")  # no key: the method is checked first
    assert_problem(response, 405)
    assert response.headers["Allow"] == "GET, POST"


def test_when_a_function_serves_every_method_head_gets_its_headers_without_the_body(tiny: TinyHost) -> None:
    response = tiny.request("HEAD", "/api/any", headers={"x-functions-key": KEY})
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len("any"))
    assert response.content == b""


@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_when_content_length_is_not_a_number_the_answer_is_400_problem(tiny: TinyHost, length: str) -> None:
    connection = http.client.HTTPConnection(urlsplit(tiny.url).netloc, timeout=10)
    try:
        connection.putrequest("POST", "/api/items/1")
        connection.putheader("x-functions-key", KEY)
        connection.putheader("Content-Length", length)
        connection.endheaders()
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 400
    assert response.getheader("Content-Type") == "application/problem+json"
    assert response.getheader("x-request-id")
    assert body["status"] == 400 and "Content-Length" in body["detail"]


def test_when_a_function_lists_no_methods_every_method_is_allowed(tiny: TinyHost) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        assert tiny.request(method, "/api/any", headers={"x-functions-key": KEY}).text == "any"


def _raw_exchange(tiny: TinyHost, request: bytes, *, half_close: bool = True) -> bytes:
    """Send `request` bytes as they are over a socket; read the answer until the host closes."""
    with socket.create_connection(urlsplit(tiny.url).netloc.split(":"), timeout=10) as sock:  # type: ignore[arg-type]
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _parse_raw(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("method", ["TRACE", "FOO", "get"])
@pytest.mark.parametrize(("path", "allow"), [("/api/items/1", "GET, POST"),
                                              ("/api/any", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")])
def test_when_the_method_is_trace_or_unknown_the_answer_is_405_problem_with_allow(
    tiny: TinyHost, method: str, path: str, allow: str
) -> None:
    answer = _raw_exchange(tiny, f"{method} {path} HTTP/1.1\r\nHost: x\r\nx-request-id: raw-1\r\n"
                                 f"x-functions-key: {KEY}\r\nConnection: close\r\n\r\n".encode())
    status, headers, body = _parse_raw(answer)
    assert status == 405, answer
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-request-id"] == "raw-1"
    assert headers["allow"] == allow
    assert json.loads(body)["status"] == 405


def test_when_the_method_is_unknown_and_nothing_is_mapped_at_the_path_the_answer_is_404_problem(
    tiny: TinyHost,
) -> None:
    status, headers, body = _parse_raw(_raw_exchange(tiny, b"FOO /api/nothing-here HTTP/1.1\r\nHost: x\r\n"
                                                           b"Connection: close\r\n\r\n"))
    assert status == 404
    assert headers["content-type"] == "application/problem+json" and headers["x-request-id"]
    assert json.loads(body)["status"] == 404


def test_when_the_body_is_shorter_than_its_content_length_the_answer_is_400_and_the_function_never_runs(
    tiny: TinyHost,
) -> None:
    marker = uuid.uuid4().hex
    request = (f"POST /api/recorded/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
               f"Content-Type: application/json\r\n\r\n{{\"cut\": \"{marker}").encode()
    status, headers, body = _parse_raw(_raw_exchange(tiny, request))
    assert status == 400
    assert headers["content-type"] == "application/problem+json" and headers["x-request-id"]
    assert "100 bytes" in json.loads(body)["detail"]
    # A complete request on the same route does run, so the check below can fail.
    complete = tiny.request("POST", "/api/recorded/2", data=f"whole-{marker}")
    assert complete.text == "recorded"
    bodies = [entry["body"] for entry in tiny.records("http")]
    assert f"whole-{marker}" in bodies
    assert not any(marker in body and not body.startswith("whole-") for body in bodies)


def test_when_a_chunked_body_is_cut_short_the_function_never_runs(tiny: TinyHost) -> None:
    marker = uuid.uuid4().hex
    request = (f"POST /api/recorded/3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               f"64\r\n{marker}").encode()
    status, _, _ = _parse_raw(_raw_exchange(tiny, request))
    assert status == 400
    assert not any(marker in entry["body"] for entry in tiny.records("http"))


@pytest.mark.parametrize(("text", "seconds"), [(None, 60.0), ("", 60.0), ("2.5", 2.5)])
def test_when_the_idle_setting_is_a_positive_number_or_unset_it_is_used(text: str | None, seconds: float) -> None:
    assert idle_seconds(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1", "soon", "inf", "nan"])
def test_when_the_idle_setting_is_not_a_positive_number_the_host_refuses_to_start(text: str) -> None:
    with pytest.raises(SystemExit):
        idle_seconds(text)


def test_when_the_client_stalls_mid_body_it_gets_400_after_the_idle_time_and_the_function_never_runs(
    tmp_path: Path, stack_logs: Path, storage_connection_string: str
) -> None:
    host = start_tiny_host(tmp_path, stack_logs, storage_connection_string, _queue_names(),
                           extra_env={"LOCAL_HOST_IDLE_SECONDS": "1"})
    try:
        marker = uuid.uuid4().hex
        request = (f"POST /api/recorded/6 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{marker}").encode()
        status, headers, body = _parse_raw(_raw_exchange(host, request, half_close=False))  # sends, then waits
        assert status == 400
        assert headers["content-type"] == "application/problem+json" and headers["x-request-id"]
        assert "stopped arriving for 1" in json.loads(body)["detail"]
        assert host.request("POST", "/api/recorded/7", data=f"after-{marker}").text == "recorded"
        assert [entry["body"] for entry in host.records("http")] == [f"after-{marker}"]
    finally:
        host.service.stop()


def test_when_the_client_closes_mid_body_the_host_drops_it_and_keeps_serving(tiny: TinyHost) -> None:
    marker = uuid.uuid4().hex
    with socket.create_connection(urlsplit(tiny.url).netloc.split(":"), timeout=10) as sock:  # type: ignore[arg-type]
        sock.sendall(f"POST /api/recorded/4 HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{marker}".encode())
    assert tiny.request("POST", "/api/recorded/5", data=f"after-{marker}").text == "recorded"
    bodies = [entry["body"] for entry in tiny.records("http")]
    assert f"after-{marker}" in bodies
    assert not any(body == marker for body in bodies)


def test_when_the_body_is_sent_chunked_the_function_gets_all_of_it(tiny: TinyHost) -> None:
    chunks = (part.encode() for part in ["first,", "second,", "third"])
    response = tiny.request("POST", "/api/items/7", data=chunks, headers={"x-functions-key": KEY})
    assert response.json()["body"] == "first,second,third"


def test_when_a_function_raises_the_answer_is_a_bare_500_as_in_azure(tiny: TinyHost) -> None:
    response = tiny.get("/api/raises", headers={"x-functions-key": KEY})
    assert response.status_code == 500
    assert response.content == b""


def test_when_a_folder_fails_to_import_its_route_says_so_and_the_others_still_work(tiny: TinyHost) -> None:
    body = assert_problem(tiny.get("/api/broken", headers={"x-functions-key": KEY}), 500)
    assert "cannot be imported" in body["detail"]
    status = tiny.get("/admin/host/status", headers={"x-functions-key": KEY}).json()
    errors = {f["name"]: f["error"] for f in status["functions"]}
    assert "cannot be imported" in errors["Broken"]
    assert errors["Echo"] is None and errors["Works"] is None and errors["Tick"] is None


def test_when_a_function_runs_past_function_timeout_the_host_log_says_so(tiny: TinyHost) -> None:
    assert tiny.get("/api/slow", params={"seconds": "1.3"}).text == "finished"
    wait_for(lambda: "over host.json functionTimeout" in tiny.service.log_path.read_text(), 5, "the warning")


# ---- HTTP: keys -----------------------------------------------------------------------------


def test_when_the_key_is_in_the_header_or_the_code_parameter_the_call_goes_through(tiny: TinyHost) -> None:
    assert tiny.get("/api/items/1", headers={"x-functions-key": KEY}).status_code == 201
    assert tiny.get("/api/items/1", params={"code": KEY}).status_code == 201


def test_when_the_key_is_missing_the_answer_is_401_problem_with_a_request_id(tiny: TinyHost) -> None:
    body = assert_problem(tiny.get("/api/items/1"), 401)
    assert "missing" in body["detail"]


def test_when_the_key_is_wrong_the_answer_is_401_problem(tiny: TinyHost) -> None:
    assert "not valid" in assert_problem(tiny.get("/api/items/1", headers={"x-functions-key": "nope"}), 401)["detail"]
    assert_problem(tiny.get("/api/items/1", params={"code": "nope"}), 401)
    # The environment's key wins over local.settings.json's.
    assert_problem(tiny.get("/api/items/1", headers={"x-functions-key": "key-from-file-is-overridden"}), 401)


def test_when_the_caller_sends_a_request_id_host_errors_echo_it(tiny: TinyHost) -> None:
    response = tiny.get("/api/items/1", headers={"x-request-id": "caller-123"})
    assert response.headers["x-request-id"] == "caller-123"


@pytest.mark.parametrize("offered", ["has spaces", "x" * 129, "semi;colon"])
def test_when_the_callers_request_id_is_not_sane_host_errors_make_a_new_one(tiny: TinyHost, offered: str) -> None:
    response = tiny.get("/api/items/1", headers={"x-request-id": offered})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])  # as the app's own ids


def test_when_the_header_key_is_wrong_a_right_code_parameter_does_not_help(tiny: TinyHost) -> None:
    assert_problem(tiny.get("/api/items/1", params={"code": KEY}, headers={"x-functions-key": "nope"}), 401)
    assert tiny.get("/api/items/1", params={"code": "nope"}, headers={"x-functions-key": KEY}).status_code == 201


def test_when_the_function_is_anonymous_no_key_is_needed(tiny: TinyHost) -> None:
    assert tiny.get("/api/public").text == "public"


def test_when_the_function_is_admin_level_it_needs_the_master_key(tiny: TinyHost) -> None:
    assert_problem(tiny.get("/api/admin-only"), 401)
    assert tiny.get("/api/admin-only", headers={"x-functions-key": KEY}).text == "admin"


# ---- Settings -------------------------------------------------------------------------------


def test_when_a_setting_is_in_the_environment_and_the_file_the_environment_wins(tiny: TinyHost) -> None:
    seen = tiny.get("/api/settings", headers={"x-functions-key": KEY}).json()
    assert seen == {"TINY_FROM_ENV": "env", "TINY_FROM_FILE": "file", "TINY_ONLY_IN_EXAMPLE": None}


def test_when_there_is_no_local_settings_file_the_example_is_read(
    tmp_path: Path, stack_logs: Path, storage_connection_string: str
) -> None:
    host = start_tiny_host(tmp_path, stack_logs, storage_connection_string, _queue_names(),
                           with_local_settings=False)
    try:
        seen = host.get("/api/settings", headers={"x-functions-key": KEY}).json()
    finally:
        host.service.stop()
    assert seen == {"TINY_FROM_ENV": "env", "TINY_FROM_FILE": "example", "TINY_ONLY_IN_EXAMPLE": "example"}


# ---- Queue triggers -------------------------------------------------------------------------


def test_when_a_base64_message_arrives_the_function_gets_it_decoded_once_and_it_is_deleted(tiny: TinyHost) -> None:
    sent = tiny.queue(tiny.queues["works"]).send_message('{"hello": "wörld"}')
    seen = wait_for(lambda: [r for r in tiny.records("works") if r["id"] == sent.id], 20, "the message")
    assert seen[0]["body"] == '{"hello": "wörld"}'
    assert seen[0]["dequeue_count"] == 1
    assert seen[0]["inserted"] and seen[0]["expires"] and seen[0]["pop_receipt"]
    wait_for(lambda: not list(tiny.queue(tiny.queues["works"]).peek_messages()), 10, "the message to be deleted")
    time.sleep(1)
    assert len([r for r in tiny.records("works") if r["id"] == sent.id]) == 1


def test_when_a_function_keeps_failing_the_message_is_retried_after_the_delay_then_poisoned(tiny: TinyHost) -> None:
    queue_name = tiny.queues["fails"]
    sent = tiny.queue(queue_name).send_message("doomed")
    poison = tiny.queue(f"{queue_name}-poison", encoded=False)

    def poisoned() -> list[Any]:
        try:
            return list(poison.peek_messages())
        except Exception:  # the poison queue appears only when the first message is parked
            return []

    parked = wait_for(poisoned, 40, "the poison queue")
    deliveries = [r for r in tiny.records("fails") if r["id"] == sent.id]
    assert [d["dequeue_count"] for d in deliveries] == [1, 2, 3]  # maxDequeueCount 3
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(deliveries)]
    assert all(gap >= 1.9 for gap in gaps), gaps  # visibilityTimeout 00:00:02 between tries
    # Parked as it was sent: still base64, so it can be moved back and replayed.
    assert base64.b64decode(parked[0].content) == b"doomed"
    assert not list(tiny.queue(queue_name).peek_messages())


def test_when_a_message_is_not_base64_it_is_never_given_to_the_function_and_ends_in_poison(tiny: TinyHost) -> None:
    queue_name = tiny.queues["works"]
    sent = tiny.queue(queue_name, encoded=False).send_message("plain text, not base64!")
    poison = tiny.queue(f"{queue_name}-poison", encoded=False)

    def parked() -> list[Any]:
        try:
            return [m for m in poison.peek_messages(max_messages=32) if m.content == "plain text, not base64!"]
        except Exception:
            return []

    wait_for(parked, 40, "the undecodable message in the poison queue")
    assert not [r for r in tiny.records("works") if r["id"] == sent.id]


def test_when_a_message_is_being_processed_it_is_invisible_to_other_readers(tiny: TinyHost) -> None:
    queue_name = tiny.queues["slow"]
    sent = tiny.queue(queue_name).send_message("takes a while")
    wait_for(lambda: [r for r in tiny.records("slow-queue") if r["id"] == sent.id], 20, "the slow invocation")
    assert not list(tiny.queue(queue_name).peek_messages())  # hidden while the function runs
    wait_for(lambda: not list(tiny.queue(queue_name).receive_messages(visibility_timeout=1)), 10, "the delete")
    time.sleep(3.5)
    assert len([r for r in tiny.records("slow-queue") if r["id"] == sent.id]) == 1


# ---- Timer triggers -------------------------------------------------------------------------


def test_when_a_timer_runs_every_second_it_fires_on_whole_seconds(tiny: TinyHost) -> None:
    start = len(tiny.records("tick"))
    ticks = wait_for(lambda: tiny.records("tick")[start:] if len(tiny.records("tick")) >= start + 3 else None,
                     10, "three ticks")
    fired = [tick["at"] for tick in ticks[:3]]
    assert all(0.4 <= b - a <= 1.6 for a, b in itertools.pairwise(fired)), fired
    assert all(at % 1 < 0.8 for at in fired), fired  # early in the second it was scheduled for
    assert all(tick["past_due"] is False for tick in ticks)
    assert all(tick["status"]["Next"] for tick in ticks)
    next_due = datetime.fromisoformat(ticks[0]["status"]["Next"])
    assert next_due.second == (int(fired[0]) + 1) % 60


def test_when_a_timer_run_outlasts_its_period_the_next_run_is_past_due_and_runs_never_overlap(
    tiny: TinyHost,
) -> None:
    runs = wait_for(lambda: tiny.records("overrun") if len(tiny.records("overrun")) >= 3 else None, 15, "three runs")
    assert runs[0]["past_due"] is False
    # Every occurrence missed while a run went on is folded into one late run, as Azure does.
    assert all(run["past_due"] is True for run in runs[1:3]), runs
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(runs[:3])]
    assert all(2.4 <= gap <= 3.5 for gap in gaps), gaps  # one at a time: the next starts when the last ends
    assert runs[1]["status"]["Last"]  # the schedule status names the previous occurrence


def test_when_run_on_startup_is_set_the_timer_fires_once_at_start(tiny: TinyHost) -> None:
    startups = wait_for(lambda: tiny.records("startup"), 10, "the startup run")
    assert len(startups) == 1  # its schedule is yearly
    assert startups[0]["past_due"] is False


def test_when_the_admin_api_runs_a_timer_function_it_runs_now(tiny: TinyHost) -> None:
    before = len(tiny.records("startup"))
    response = tiny.request("POST", "/admin/functions/Startup", params={"wait": "true"}, json={"input": ""},
                            headers={"x-functions-key": KEY})
    assert response.status_code == 200
    assert response.json() == {"function": "Startup", "status": "Succeeded", "error": None}
    assert len(tiny.records("startup")) == before + 1


def test_when_the_admin_api_is_called_without_waiting_it_answers_202(tiny: TinyHost) -> None:
    before = len(tiny.records("startup"))
    response = tiny.request("POST", "/admin/functions/Startup", json={"input": ""}, headers={"x-functions-key": KEY})
    assert response.status_code == 202
    wait_for(lambda: len(tiny.records("startup")) == before + 1, 10, "the admin run")


def test_when_the_admin_api_runs_a_queue_function_it_gets_the_input_as_the_message(tiny: TinyHost) -> None:
    response = tiny.request("POST", "/admin/functions/Works", params={"wait": "true"},
                            json={"input": "from the admin api"}, headers={"x-functions-key": KEY})
    assert response.json()["status"] == "Succeeded"
    assert any(r["body"] == "from the admin api" and r["dequeue_count"] == 1 for r in tiny.records("works"))


def test_when_the_admin_api_has_no_key_or_an_unknown_function_it_refuses(tiny: TinyHost) -> None:
    assert_problem(tiny.request("POST", "/admin/functions/Startup", json={"input": ""}), 401)
    assert_problem(tiny.request("POST", "/admin/functions/Nope", json={"input": ""},
                                headers={"x-functions-key": KEY}), 404)
    assert_problem(tiny.request("POST", "/admin/functions/Echo", json={"input": ""},
                                headers={"x-functions-key": KEY}), 400)


# ---- Shutdown -------------------------------------------------------------------------------


def test_when_the_host_gets_sigterm_it_finishes_running_requests_then_exits(
    tmp_path: Path, stack_logs: Path, storage_connection_string: str
) -> None:
    host = start_tiny_host(tmp_path, stack_logs, storage_connection_string, _queue_names())
    answers: list[requests.Response] = []
    caller = threading.Thread(target=lambda: answers.append(host.get("/api/slow", params={"seconds": "2"})))
    caller.start()
    time.sleep(0.7)
    os.kill(host.service.process.pid, signal.SIGTERM)
    caller.join(timeout=20)
    assert answers and answers[0].status_code == 200 and answers[0].text == "finished"
    assert host.service.process.wait(timeout=20) == 0
    assert "Stopped" in host.service.log_tail()


# ---- The real app ---------------------------------------------------------------------------


EXPECTED_FUNCTIONS = {
    "CreateUpdateLead": "httpTrigger", "AddActivity": "httpTrigger", "AddToMarketingList": "httpTrigger",
    "JourneyBatch": "queueTrigger", "CampaignExport": "queueTrigger", "ScheduledSync": "timerTrigger",
    "JourneyBatchStatus": "httpTrigger", "CampaignExportStatus": "httpTrigger", "Config": "httpTrigger",
    "Health": "httpTrigger", "SyncSettings": "httpTrigger", "SyncEnqueue": "httpTrigger",
    "SyncChanges": "httpTrigger", "SyncLinks": "httpTrigger", "SyncContactLinks": "httpTrigger",
    "SyncRun": "httpTrigger", "SyncRuns": "httpTrigger", "SyncRunStatus": "httpTrigger",
    "SyncRunWorker": "queueTrigger",
    "IdempotencyPurge": "timerTrigger",
}


def test_when_the_real_app_starts_every_function_folder_loads(function_host: stack.Service, function_key: str) -> None:
    status = requests.get(f"{function_host.url}/admin/host/status", headers={"x-functions-key": function_key},
                          timeout=10).json()
    loaded = {f["name"]: (f["trigger"], f["error"]) for f in status["functions"]}
    assert {name: loaded.get(name) for name in EXPECTED_FUNCTIONS} == {
        name: (trigger, None) for name, trigger in EXPECTED_FUNCTIONS.items()
    }
    assert {name: error for name, (_, error) in loaded.items() if error} == {}


def test_when_the_real_app_runs_health_needs_no_key_and_config_does(function_host: stack.Service) -> None:
    assert requests.get(f"{function_host.url}/api/health", timeout=30).status_code == 200
    assert_problem(requests.get(f"{function_host.url}/api/config", timeout=10), 401)


def _placeholder_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every HTTP function whose entry point is still the 501 placeholder."""
    found = []
    for folder in sorted(stack.REPO_ROOT.glob("*/function.json")):
        init = folder.parent / "__init__.py"
        if not init.exists() or "not_implemented(" not in init.read_text(encoding="utf-8"):
            continue
        trigger = json.loads(folder.read_text(encoding="utf-8"))["bindings"][0]
        route = re.sub(r"\{[^}]*\}", str(uuid.uuid4()), trigger["route"])
        found.append((trigger["methods"][0].upper(), route))
    return found


@pytest.mark.parametrize(
    ("method", "route"),
    _placeholder_endpoints() or [pytest.param("GET", "", marks=pytest.mark.skip(reason="every endpoint is built"))],
)
def test_when_an_endpoint_is_not_built_yet_it_answers_501_problem(
    function_host: stack.Service, function_key: str, method: str, route: str
) -> None:
    response = requests.request(method, f"{function_host.url}/api/{route}", json={},
                                headers={"x-functions-key": function_key}, timeout=10)
    assert response.status_code == 501, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.headers["x-request-id"]
