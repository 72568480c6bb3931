"""Benchmark of the three HTTP journey steps through the local function host.

    .venv/bin/python -m bench.journey_steps [--latency-ms 20] [--requests 300] [--concurrency 8] [--repeat 7]
                                            [--contended-persons 4]

Starts Azurite, the Dataverse emulator and the function host (devtools.stack), makes every
emulator request take `--latency-ms`, then:

1. Round trips: calls each step `--repeat` times per mode and outcome (a new person each time)
   and prints the `dynamicsRequests` it reported next to the Web API requests the emulator
   actually served, the median wall time, and that time less the emulator's added latency.
2. Throughput: `--requests` calls of each step with `--concurrency` callers in parallel,
   each call a fresh person (Lead created, Task logged on a Lead, Contact added to a list),
   and prints steps per second and latency percentiles.
3. Contention: `--requests` Create/Update Lead calls with `--concurrency` callers, once for as
   many new persons as calls, once spread over `--contended-persons` new persons (the per-person
   locks make each person's calls take turns): steps/s, p50/p95 of the 200 answers, outcomes,
   409 `personBusy` answers, and the Leads each contended person ended with (must be 1).
   Then the cost of the lock itself: acquire + release of one person's lock against the same
   Azurite, median and p95.
4. Peak RSS of the function host process (VmHWM).

Numbers are printed, never asserted: the function tests assert the round-trip counts.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from devtools import stack
from shared.person_keys import person_keys
from shared.store import PersonLocks, StorageClients

KEY = "bench-function-key"
TOKEN = "bench-token"
ROUTES = {"lead": "journey/create-update-lead", "activity": "journey/add-activity",
          "list": "journey/add-to-marketing-list"}


def _id() -> str:
    return str(uuid.uuid4())


def _email(tag: str) -> str:
    return f"{tag}.{uuid.uuid4().hex[:10]}@bench.example.com"


@dataclass
class Bench:
    functions: str
    emulator: str
    session: requests.Session

    def seed(self, records: dict[str, Any]) -> None:
        self.session.post(f"{self.emulator}/_emulator/seed", json=records, timeout=60).raise_for_status()

    def faults(self, config: dict[str, Any]) -> None:
        self.session.post(f"{self.emulator}/_emulator/faults", json=config, timeout=10).raise_for_status()

    def served(self) -> int:
        return int(self.session.get(f"{self.emulator}/_emulator/stats", timeout=10).json()["total"])

    def step(self, step: str, body: dict[str, Any], session: requests.Session | None = None) -> requests.Response:
        url = f"{self.functions}/api/{ROUTES[step]}"
        return (session or self.session).post(url, json=body, headers={"x-functions-key": KEY}, timeout=120)


def _person(email: str) -> dict[str, Any]:
    return {"email": email, "firstName": "Bench", "lastName": "Person"}


def _lead_body(email: str, **more: Any) -> dict[str, Any]:
    return {"person": _person(email), "subject": "Benchmark", **more}


def _activity_body(email: str, mode: str = "smart", kind: str = "task", **more: Any) -> dict[str, Any]:
    return {"person": _person(email), "mode": mode, "activity": {"type": kind, "subject": "Benchmark call"}, **more}


def _list_body(email: str, target: str, list_ref: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"person": _person(email), "target": target, "list": list_ref, **more}


# -- 1. round trips per step, mode and outcome -----------------------------------------------------


def round_trips(bench: Bench, repeat: int, latency_ms: float) -> list[list[str]]:
    contact_list, locked_list, lead_list = _id(), _id(), _id()
    bench.seed({"lists": [
        {"listid": contact_list, "listname": "Bench contacts", "createdfromcode": 2},
        {"listid": locked_list, "listname": "Bench locked", "createdfromcode": 2, "lockstatus": True},
        {"listid": lead_list, "listname": "Bench leads", "createdfromcode": 4},
    ]})

    def with_contact(account: bool = False) -> str:
        email, account_id = _email("contact"), _id()
        records: dict[str, Any] = {"contacts": [{"contactid": _id(), "emailaddress1": email, "lastname": "C",
                                                 **({"parentcustomerid_account@odata.bind":
                                                     f"/accounts({account_id})"} if account else {})}]}
        if account:
            records["accounts"] = [{"accountid": account_id, "name": "Bench Ltd"}]
        bench.seed(records)
        return email

    def with_lead(email: str | None = None) -> str:
        email = email or _email("lead")
        bench.seed({"leads": [{"leadid": _id(), "emailaddress1": email, "lastname": "L"}]})
        return email

    def member() -> str:
        email, contact_id = _email("member"), _id()
        bench.seed({"contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "M"}]})
        bench.session.post(f"{bench.emulator}/api/data/v9.2/lists({contact_list})/Microsoft.Dynamics.CRM.AddMemberList",
                           json={"EntityId": contact_id}, timeout=10,
                           headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()
        return email

    replay_key = _id()
    replay_email = _email("replay")
    bench.step("lead", _lead_body(replay_email, idempotencyKey=replay_key))

    cases: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
        ("CreateUpdateLead", "default, person is a Contact", lambda: _lead_body(with_contact())),
        ("CreateUpdateLead", "default, open Lead exists", lambda: _lead_body(with_lead())),
        ("CreateUpdateLead", "default, nobody", lambda: _lead_body(_email("new"))),
        ("CreateUpdateLead", "always, Contact with Account", lambda: _lead_body(with_contact(True),
                                                                                 alwaysCreateLead=True)),
        ("CreateUpdateLead", "always, Lead and Contact", lambda: _lead_body(with_lead(with_contact(True)),
                                                                             alwaysCreateLead=True)),
        ("CreateUpdateLead", "with idempotency key, nobody", lambda: _lead_body(_email("key"), idempotencyKey=_id())),
        ("CreateUpdateLead", "replay of a stored key", lambda: _lead_body(replay_email, idempotencyKey=replay_key)),
        ("CreateUpdateLead", "dry run, nobody", lambda: _lead_body(_email("dry"), dryRun=True)),
        ("AddActivity", "smart, Lead exists (task)", lambda: _activity_body(with_lead())),
        ("AddActivity", "smart, Contact only (fallback)", lambda: _activity_body(with_contact())),
        ("AddActivity", "smart, nobody", lambda: _activity_body(_email("nobody"))),
        ("AddActivity", "strict lead, Contact only", lambda: _activity_body(with_contact(), mode="lead")),
        ("AddActivity", "contact, phone call", lambda: _activity_body(with_contact(), mode="contact",
                                                                      kind="phonecall")),
        ("AddToMarketingList", "contact not a member", lambda: _list_body(with_contact(), "contact",
                                                                          {"id": contact_list})),
        ("AddToMarketingList", "already a member", lambda: _list_body(member(), "contact", {"id": contact_list})),
        ("AddToMarketingList", "by name, lead", lambda: _list_body(with_lead(), "lead", {"name": "Bench leads"})),
        ("AddToMarketingList", "no Contact", lambda: _list_body(_email("none"), "contact", {"id": contact_list})),
        ("AddToMarketingList", "list locked (422)", lambda: _list_body(with_contact(), "contact",
                                                                       {"id": locked_list})),
        ("AddToMarketingList", "list missing (422)", lambda: _list_body(with_contact(), "contact",
                                                                        {"name": "No such list"})),
    ]
    rows = []
    for step_name, case, make_body in cases:
        step = {"CreateUpdateLead": "lead", "AddActivity": "activity", "AddToMarketingList": "list"}[step_name]
        seen: set[tuple[str, str, int]] = set()
        times = []
        for _ in range(repeat):
            body = make_body()  # a new person (or key) each time, so every call meets the same situation
            before = bench.served()
            started = time.perf_counter()
            response = bench.step(step, body)
            times.append((time.perf_counter() - started) * 1000)
            answer = response.json()
            outcome = answer.get("outcome") or f"{response.status_code} {answer.get('code')}"
            seen.add((str(outcome), str(answer.get("dynamicsRequests", "-")), bench.served() - before))
        if len(seen) != 1:
            raise RuntimeError(f"{step_name} / {case}: the calls did not agree: {sorted(seen)}")
        ((outcome, reported, served),) = seen
        median = statistics.median(times)
        rows.append([step_name, case, outcome, reported, str(served), f"{median:.0f}",
                     f"{median - served * latency_ms:.0f}"])
    return rows


# -- 2. throughput ---------------------------------------------------------------------------------


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def throughput(bench: Bench, requests_per_step: int, concurrency: int) -> list[list[str]]:
    list_id = _id()
    lead_emails = [_email("tp-lead") for _ in range(requests_per_step)]
    contact_emails = [_email("tp-contact") for _ in range(requests_per_step)]
    bench.seed({"lists": [{"listid": list_id, "listname": "Throughput", "createdfromcode": 2}],
                "leads": [{"leadid": _id(), "emailaddress1": e, "lastname": "T"} for e in lead_emails],
                "contacts": [{"contactid": _id(), "emailaddress1": e, "lastname": "T"} for e in contact_emails]})
    plans: list[tuple[str, str, list[dict[str, Any]]]] = [
        ("CreateUpdateLead", "lead", [_lead_body(_email("tp-new")) for _ in range(requests_per_step)]),
        ("AddActivity", "activity", [_activity_body(e) for e in lead_emails]),
        ("AddToMarketingList", "list", [_list_body(e, "contact", {"id": list_id}) for e in contact_emails]),
    ]
    rows = []
    for name, step, bodies in plans:
        local = threading.local()

        def call(body: dict[str, Any], step: str = step, local: threading.local = local) -> tuple[float, int, int]:
            if not hasattr(local, "session"):
                local.session = requests.Session()  # one connection pool per caller thread
            session = local.session
            started = time.perf_counter()
            response = bench.step(step, body, session)
            trips = response.json().get("dynamicsRequests", 0) if response.ok else 0
            return (time.perf_counter() - started) * 1000, response.status_code, int(trips)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(call, bodies))
        wall = time.perf_counter() - started
        latencies = [r[0] for r in results]
        failed = sum(1 for r in results if r[1] != 200)
        trips = statistics.mean(r[2] for r in results)
        rows.append([name, str(len(bodies)), str(concurrency), f"{len(bodies) / wall:.1f}",
                     f"{statistics.median(latencies):.0f}", f"{_percentile(latencies, 0.95):.0f}",
                     f"{trips:.2f}", str(failed)])
    return rows


# -- 3. contention -----------------------------------------------------------------------------------


def _leads_of(bench: Bench, email: str) -> int:
    response = bench.session.get(f"{bench.emulator}/api/data/v9.2/leads", timeout=10,
                                 params={"$select": "leadid", "$filter": f"emailaddress1 eq '{email}'"},
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()
    return len(response.json()["value"])


def contention(bench: Bench, calls: int, concurrency: int, persons: int) -> list[list[str]]:
    rows = []
    for label, count in (("distinct persons", calls), (f"{persons} persons", persons)):
        emails = [_email("contention") for _ in range(count)]
        bodies = [_lead_body(emails[n % count]) for n in range(calls)]
        local = threading.local()

        def call(body: dict[str, Any], local: threading.local = local) -> tuple[float, int, str]:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            started = time.perf_counter()
            response = bench.step("lead", body, local.session)
            answer = response.json()
            return (time.perf_counter() - started) * 1000, response.status_code, str(
                answer.get("outcome") or answer.get("code"))

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(call, bodies))
        wall = time.perf_counter() - started
        answered = [r[0] for r in results if r[1] == 200] or [0.0]
        outcomes = collections.Counter(r[2] for r in results)
        leads = sorted({_leads_of(bench, email) for email in emails}) if count <= 20 else ["-"]
        rows.append([label, str(calls), str(concurrency), f"{calls / wall:.1f}",
                     f"{statistics.median(answered):.0f}", f"{_percentile(answered, 0.95):.0f}",
                     str(outcomes["created"]), str(outcomes["updated"]), str(outcomes["personBusy"]),
                     str(sum(n for outcome, n in outcomes.items()
                             if outcome not in ("created", "updated", "personBusy"))),
                     "/".join(str(n) for n in leads)])
    return rows


def lock_cost(connection_string: str, samples: int = 200) -> tuple[float, float]:
    """Median and p95 ms of acquiring and releasing one person's lock (a new person each time)."""
    locks = PersonLocks(StorageClients.from_connection_string(connection_string).table("benchpersonlocks"))
    times = []
    for _ in range(samples):
        keys = person_keys("lead", [["emailaddress1"]], {"emailaddress1": _email("lock")})
        started = time.perf_counter()
        locks.release(locks.acquire(keys))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), _percentile(times, 0.95)


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(c) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journey_steps", description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every emulator request")
    parser.add_argument("--requests", type=int, default=300, help="calls per step in the throughput run")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel callers in the throughput run")
    parser.add_argument("--repeat", type=int, default=7, help="calls per row of the round-trip table (median ms)")
    parser.add_argument("--contended-persons", type=int, default=4,
                        help="persons the contended Create/Update Lead calls are spread over")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)

    log_dir = Path(tempfile.mkdtemp(prefix="bench-journey-"))
    print(f"Starting Azurite, the Dataverse emulator and the function host (logs: {log_dir}) ...", flush=True)
    local = stack.start_local_stack(log_dir, token=TOKEN, env={"LOCAL_FUNCTION_KEY": KEY}, isolate=True)
    try:
        bench = Bench(local.functions.url, local.emulator.url, requests.Session())
        bench.faults({"latencyMs": args.latency_ms})
        load_before = os.getloadavg()
        trips = round_trips(bench, args.repeat, args.latency_ms)
        speed = throughput(bench, args.requests, args.concurrency)
        contended = contention(bench, args.requests, args.concurrency, args.contended_persons)
        lock_ms = lock_cost(local.azurite.env["AzureWebJobsStorage"])
        rss = peak_rss_mib(local.functions.process.pid)
        load_after = os.getloadavg()
    finally:
        local.stop()

    print(f"\nRound trips per step (emulator latency {args.latency_ms:g} ms per request; ms: median of "
          f"{args.repeat} calls; own ms: that less the emulator's latency for each request it served)\n")
    print(table(["Step", "Mode / situation", "Outcome", "dynamicsRequests", "Served by emulator", "ms", "own ms"],
                trips))
    print(f"\nThroughput through the local host ({args.concurrency} callers, kept-alive connections, "
          f"emulator latency {args.latency_ms:g} ms)\n")
    print(table(["Step", "Calls", "Callers", "Steps/s", "p50 ms", "p95 ms", "Round trips/step", "Failed"], speed))
    print(f"\nCreate/Update Lead with and without contention ({args.concurrency} callers, emulator latency "
          f"{args.latency_ms:g} ms; p50/p95 of the 200 answers)\n")
    print(table(["Persons", "Calls", "Callers", "Steps/s", "p50 ms", "p95 ms", "created", "updated", "personBusy",
                 "other", "Leads/person"], contended))
    print(f"\nPerson lock, acquire + release against Azurite: median {lock_ms[0]:.1f} ms, p95 {lock_ms[1]:.1f} ms")
    print(f"\nPeak RSS of the function host: {rss:.0f} MiB" if rss is not None else "\nPeak RSS: unavailable")
    print(f"Load average (1 min) before and after: {load_before[0]:.2f}, {load_after[0]:.2f} "
          f"on {os.cpu_count()} CPUs (other work on the machine slows every figure)")
    if args.json is not None:
        args.json.write_text(json.dumps({"latencyMs": args.latency_ms, "roundTrips": trips, "throughput": speed,
                                         "contention": contended, "personLockMs": lock_ms, "peakRssMiB": rss, "loadAverage": [load_before[0], load_after[0]]},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
