"""The sync on the local host, end to end: the timer fired through the admin API, the run executed
by the `SyncRunWorker` queue trigger, runs read over HTTP. A stack of its own (Azurite, emulator,
host), so no other host polls its `sync-runs` queue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools import stack

KEY = "sync-host-key"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.LocalStack]:
    log_dir: Path = tmp_path_factory.mktemp("sync-host")
    started = stack.start_local_stack(log_dir, token="sync-host-token", env={"LOCAL_FUNCTION_KEY": KEY})
    yield started
    started.stop()


def call(local: stack.LocalStack, method: str, path: str, headers: dict[str, str] | None = None,
         **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{local.functions.url}{path}", headers={"x-functions-key": KEY, **(headers or {})},
                            timeout=60, **kwargs)


def wait_for_end(local: stack.LocalStack, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run: dict[str, Any] = call(local, "GET", f"/api/sync/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not end")


def test_a_tick_through_the_admin_api_queues_a_run_the_worker_executes_and_the_next_tick_waits(
        local: stack.LocalStack) -> None:
    requests.post(f"{local.emulator.url}/_emulator/seed", timeout=30,
                  json={"leads": [{"lastname": "Pulled", "emailaddress1": "pulled@example.com"}]}).raise_for_status()
    current = call(local, "GET", "/api/sync/settings")
    doc = current.json() | {"frequencyHours": 4}
    doc["dataConfiguration"]["lead"] = {"enabled": True, "criteria": []}
    assert call(local, "PUT", "/api/sync/settings", json=doc, headers={"If-Match": current.headers["ETag"]}).status_code == 200
    fired = call(local, "POST", "/admin/functions/ScheduledSync", params={"wait": "true"}, json={"input": ""})
    assert fired.status_code in (200, 202), fired.text
    runs = call(local, "GET", "/api/sync/runs").json()["runs"]
    assert [r["trigger"] for r in runs] == ["timer"]
    run = wait_for_end(local, runs[0]["runId"])
    assert (run["status"], run["initialSync"], run["counts"]["pulled"]) == ("succeeded", ["lead"], 1)
    call(local, "POST", "/admin/functions/ScheduledSync", params={"wait": "true"}, json={"input": ""})
    assert len(call(local, "GET", "/api/sync/runs").json()["runs"]) == 1  # not due for 4 hours
    manual = call(local, "POST", "/api/sync/run")
    assert manual.status_code == 202
    assert wait_for_end(local, manual.json()["runId"])["status"] == "succeeded"
