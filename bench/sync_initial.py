"""Benchmark of the scheduled sync's initial pull and of a later run, through the local function host.

    .venv/bin/python -m bench.sync_initial [--records 10000 100000] [--latency-ms 20] [--changed 0.01]

For each size, on a fresh stack (Azurite, the Dataverse emulator, the function host): seeds
`size` Leads and `size` Contacts, makes every emulator request take `--latency-ms`, enables both
kinds, runs `POST /api/sync/run` until the run ends, then changes `--changed` of the records
(`UpdateMultiple`) and runs again. Prints records per second, the Web API requests the emulator
served (and the run's own `dynamicsRequests`), seconds, and the function host's peak RSS
(VmHWM), which should stay flat as the size grows: nothing holds the whole table in memory.

Numbers are printed, never asserted; the function tests assert what a run sends.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.journey_steps import peak_rss_mib, table
from devtools import stack

KEY = "bench-function-key"
TOKEN = "bench-token"
SEED_CHUNK = 5000


def _seed(emulator: str, entity_set: str, count: int, source: int | None) -> None:
    for start in range(0, count, SEED_CHUNK):
        rows = [{"firstname": f"F{i}", "lastname": f"L{i}", "emailaddress1": f"p{i}@bench.example.com",
                 **({"leadsourcecode": source} if source else {})} for i in range(start, min(count, start + SEED_CHUNK))]
        requests.post(f"{emulator}/_emulator/seed", json={entity_set: rows}, timeout=600).raise_for_status()


def _served(emulator: str) -> int:
    return int(requests.get(f"{emulator}/_emulator/stats", timeout=30).json()["total"])


def _run(functions: str, session: requests.Session) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    queued = session.post(f"{functions}/api/sync/run", timeout=60)
    queued.raise_for_status()
    run_id = queued.json()["runId"]
    while True:
        run = session.get(f"{functions}/api/sync/runs/{run_id}", timeout=60).json()
        if run["status"] not in ("queued", "running"):
            return run, time.monotonic() - started
        time.sleep(0.5)


def _change(emulator: str, token: str, entity_set: str, key: str, fraction: float) -> int:
    api = f"{emulator}/api/data/v9.2/"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    rows = requests.get(f"{emulator}/_emulator/records/{entity_set}", timeout=600).json()["value"]
    picked = rows[:: max(1, round(1 / fraction))] if fraction > 0 else []
    logical = entity_set[:-1]
    for start in range(0, len(picked), 1000):
        targets = [{"@odata.type": f"Microsoft.Dynamics.CRM.{logical}", key: r[key], "firstname": "Changed"}
                   for r in picked[start:start + 1000]]
        requests.post(f"{api}{entity_set}/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": targets},
                      headers=headers, timeout=600).raise_for_status()
    return len(picked)


def measure(size: int, latency_ms: float, changed: float) -> list[list[str]]:
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-sync-{size}-"))
    local = stack.start_local_stack(log_dir, token=TOKEN, env={"LOCAL_FUNCTION_KEY": KEY}, isolate=True)
    try:
        session = requests.Session()
        session.headers["x-functions-key"] = KEY
        _seed(local.emulator.url, "leads", size, 8)
        _seed(local.emulator.url, "contacts", size, None)
        settings = session.get(f"{local.functions.url}/api/sync/settings", timeout=60)
        doc = settings.json()
        doc["dataConfiguration"] = {"lead": {"enabled": True, "criteria": []}, "contact": {"enabled": True,
                                                                                          "criteria": []}}
        session.put(f"{local.functions.url}/api/sync/settings", json=doc, timeout=120,
                    headers={"If-Match": settings.headers["ETag"]}).raise_for_status()
        requests.post(f"{local.emulator.url}/_emulator/faults", json={"latencyMs": latency_ms},
                      timeout=10).raise_for_status()
        before = _served(local.emulator.url)
        first, first_seconds = _run(local.functions.url, session)
        initial_requests = _served(local.emulator.url) - before
        count = _change(local.emulator.url, TOKEN, "leads", "leadid", changed)
        count += _change(local.emulator.url, TOKEN, "contacts", "contactid", changed)
        before = _served(local.emulator.url)
        later, later_seconds = _run(local.functions.url, session)
        later_requests = _served(local.emulator.url) - before
        rss = peak_rss_mib(local.functions.process.pid)
    finally:
        local.stop()
    pulled = first["counts"]["pulled"]
    return [
        [f"{size:,}+{size:,}", "initial", first["status"], f"{pulled:,}", f"{first_seconds:.1f}",
         f"{pulled / first_seconds:.0f}", f"{initial_requests:,} ({first['dynamicsRequests']:,})",
         f"{rss:.0f}" if rss is not None else "?"],
        [f"{size:,}+{size:,}", f"later, {count:,} changed", later["status"], f"{later['counts']['pulled']:,}",
         f"{later_seconds:.1f}", "", f"{later_requests:,} ({later['dynamicsRequests']:,})", ""],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_initial", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000],
                        help="Leads (and as many Contacts) per measured size")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every emulator request")
    parser.add_argument("--changed", type=float, default=0.01, help="share of records changed before the later run")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows: list[list[str]] = []
    for size in args.records:
        print(f"Measuring {size:,} Leads and {size:,} Contacts ...", flush=True)
        rows += measure(size, args.latency_ms, args.changed)
    print(f"\nScheduled sync through the local host (emulator latency {args.latency_ms:g} ms per request)\n")
    print(table(["Records", "Run", "Status", "Sent", "Seconds", "Records/s", "Web API requests (run's own)",
                 "Peak RSS MiB"], rows))
    load_after = os.getloadavg()
    print(f"\nLoad average (1 min) before and after: {load_before[0]:.2f}, {load_after[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
