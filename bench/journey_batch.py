"""Benchmark of JourneyBatch: journey steps in bulk from the `journey-steps` queue.

    .venv/bin/python -m bench.journey_batch [--latency-ms 20] [--seed-people 20000] [--one-by-one 300]

Starts Azurite, the Dataverse emulator (with Dataverse's default service protection limits for
one application user) and the function host (devtools.stack), seeds `--seed-people` Leads and
Contacts (half each) and two marketing lists, makes every emulator request take
`--latency-ms`, then runs:

1. 1,000 mixed steps in one message;
2. 10,000 mixed steps in two claim-checked messages of 5,000, delivered at the same time;
3. `--one-by-one` steps of the same mix sent one by one through the HTTP functions (8 callers);
4. the two ways of writing 1,000 new Leads compared: `$batch` change sets of 100 (what the batch
   does) and one `CreateMultiple`, each alone and with one bad record among the 1,000.

Mix: 60% Create/Update Lead (a third update a seeded Lead, a third meet a seeded Contact, a
third create a Lead), 25% activities on seeded people, 15% list adds of seeded people, with some
people getting two steps (so a batch needs more than one wave). Prints Web API requests per step
(every request the emulator served, retries included, a `$batch` as one), steps per second, the
host's peak RSS and what the emulator's service protection counted. Numbers are printed, never
asserted: the function tests assert the behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.journey_steps import peak_rss_mib, table
from devtools import stack
from shared.bulk import Pacer, write_all
from shared.dynamics import BatchRequest, DataverseClient, StaticTokenCredential
from shared.store import StorageClients

KEY = "bench-function-key"
TOKEN = "bench-token"
ROUTES = {"createUpdateLead": "journey/create-update-lead", "addActivity": "journey/add-activity",
          "addToMarketingList": "journey/add-to-marketing-list"}
# Dataverse's default service protection limits for one user (reference 11.1); `msPerOperation`
# is the emulator's stand-in for the server time one operation costs.
LIMITS = {"requests": 6000, "windowSeconds": 300, "concurrent": 52, "executionMs": 1_200_000, "msPerOperation": 20}
BLOB_CONTAINER = "journey-steps-blobs"


def _id() -> str:
    return str(uuid.uuid4())


class Population:
    """The seeded people and lists, and a generator of the benchmark's step mix."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.rng = rng
        self.leads = [f"lead{n}@bench.example.com" for n in range(size // 2)]
        self.contacts = [f"contact{n}@bench.example.com" for n in range(size - size // 2)]
        self.lead_list, self.contact_list = _id(), _id()

    def seed(self, emulator: str) -> None:
        session = requests.Session()

        def post(records: dict[str, Any]) -> None:
            session.post(f"{emulator}/_emulator/seed", json=records, timeout=600).raise_for_status()

        post({"lists": [{"listid": self.lead_list, "listname": "Bench leads", "createdfromcode": 4},
                        {"listid": self.contact_list, "listname": "Bench contacts", "createdfromcode": 2}]})
        for start in range(0, len(self.leads), 2000):
            post({"leads": [{"emailaddress1": email, "lastname": "Lead"} for email in self.leads[start:start + 2000]]})
        for start in range(0, len(self.contacts), 2000):
            post({"contacts": [{"emailaddress1": email, "lastname": "Contact"}
                               for email in self.contacts[start:start + 2000]]})

    def steps(self, count: int, tag: str) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        rng = self.rng
        for n in range(count):
            draw = rng.random()
            if draw < 0.6:
                third = rng.randrange(3)
                email = (rng.choice(self.leads) if third == 0 else rng.choice(self.contacts) if third == 1
                         else f"new.{tag}.{n}@bench.example.com")
                step: dict[str, Any] = {"type": "createUpdateLead", "subject": "Benchmark"}
            elif draw < 0.85:
                email = rng.choice(self.leads if rng.random() < 0.5 else self.contacts)
                step = {"type": "addActivity", "activity": {"type": "task", "subject": "Benchmark call"}}
            else:
                lead = rng.random() < 0.5
                email = rng.choice(self.leads if lead else self.contacts)
                step = {"type": "addToMarketingList", "target": "lead" if lead else "contact",
                        "list": {"id": self.lead_list if lead else self.contact_list}}
            steps.append({"stepId": f"{tag}-{n}", "person": {"email": email, "lastName": "Person"}, **step})
        # Some people get a second step later in the message: the batch keeps their order.
        for n in range(0, count, 20):
            twin = dict(steps[rng.randrange(count)])
            steps[n] = {**steps[n], "person": twin["person"]}
        return steps


class Stack:
    def __init__(self, functions: str, emulator: str, storage: str) -> None:
        self.functions, self.emulator = functions, emulator
        self.storage = StorageClients.from_connection_string(storage)
        self.session = requests.Session()

    def stats(self) -> dict[str, Any]:
        return dict(self.session.get(f"{self.emulator}/_emulator/stats", timeout=30).json())

    def faults(self, config: dict[str, Any]) -> None:
        self.session.post(f"{self.emulator}/_emulator/faults", json=config, timeout=10).raise_for_status()

    def deliver(self, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        if len(text) * 4 // 3 > 65_536:  # the claim check, as a producer does it
            name = f"{message['batchId']}.json"
            self.storage.container(BLOB_CONTAINER).upload_blob(name, json.dumps(message["steps"]), overwrite=True)
            text = json.dumps({"batchId": message["batchId"], "stepsBlob": f"{BLOB_CONTAINER}/{name}"})
        response = requests.post(f"{self.functions}/admin/functions/JourneyBatch?wait=true", json={"input": text},
                                 headers={"x-functions-key": KEY}, timeout=3600)
        outcome = response.json()
        if outcome.get("status") != "Succeeded":
            raise RuntimeError(f"delivery failed: {outcome}")

    def document(self, batch_id: str) -> dict[str, Any]:
        response = self.session.get(f"{self.functions}/api/journey/batches/{batch_id}", params={"top": 1},
                                    headers={"x-functions-key": KEY}, timeout=60)
        return dict(response.json())


def run_batches(bench: Stack, messages: list[dict[str, Any]]) -> dict[str, Any]:
    before = bench.stats()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(messages)) as pool:
        list(pool.map(bench.deliver, messages))
    elapsed = time.perf_counter() - started
    after = bench.stats()
    steps = sum(len(m["steps"]) for m in messages)
    documents = [bench.document(m["batchId"]) for m in messages]
    counts: dict[str, int] = {}
    for document in documents:
        for outcome, n in document["counts"].items():
            counts[outcome] = counts.get(outcome, 0) + n
    served = after["total"] - before["total"]
    return {"steps": steps, "messages": len(messages), "seconds": elapsed, "served": served,
            "reported": sum(d["dynamicsRequests"] for d in documents), "throttled": after["throttled"] - before["throttled"],
            "failed": sum(d["failed"] for d in documents), "counts": counts,
            "status": sorted({d["status"] for d in documents})}


def run_one_by_one(bench: Stack, steps: list[dict[str, Any]]) -> dict[str, Any]:
    before = bench.stats()
    failed = 0

    def call(step: dict[str, Any]) -> int:
        body = {k: v for k, v in step.items() if k not in ("stepId", "type")}
        response = requests.post(f"{bench.functions}/api/{ROUTES[step['type']]}", json=body,
                                 headers={"x-functions-key": KEY}, timeout=120)
        return response.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, steps))
    elapsed = time.perf_counter() - started
    failed = sum(1 for status in statuses if status != 200)
    served = bench.stats()["total"] - before["total"]
    return {"steps": len(steps), "messages": 0, "seconds": elapsed, "served": served, "reported": None,
            "throttled": bench.stats()["throttled"] - before["throttled"], "failed": failed, "counts": {},
            "status": ["(HTTP)"]}


def compare_writes(emulator: str, rows: int = 1000) -> list[list[str]]:
    """1,000 Lead creates as change sets and as one CreateMultiple, clean and with one bad row."""
    client = DataverseClient(emulator, StaticTokenCredential(TOKEN, emulator))
    out = []
    for bad in (False, True):
        targets = [{"lastname": f"Compare {n}", "emailaddress1": f"cmp.{_id()}@bench.example.com"} for n in range(rows)]
        if bad:
            targets[rows // 2]["new_notacolumn"] = 1
        view = client.counted()
        started = time.perf_counter()
        outcomes = write_all(view, [BatchRequest.create("leads", t, record_id=_id()) for t in targets],
                             Pacer(deadline=time.monotonic() + 600))
        elapsed = time.perf_counter() - started
        out.append([f"$batch change sets of 100{', 1 bad row' if bad else ''}", str(view.request_count),
                    f"{elapsed:.2f}", str(sum(1 for o in outcomes if o.ok))])
        view = client.counted()
        started = time.perf_counter()
        body = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.lead", **t,
                             "emailaddress1": t["emailaddress1"].replace("cmp.", "cmm.")} for t in targets]}
        try:
            written = len(view.call_action("CreateMultiple", body, entity_set="leads").get("Ids", []))
        except Exception:  # the whole action is refused: nothing written
            written = 0
        elapsed = time.perf_counter() - started
        out.append([f"CreateMultiple{', 1 bad row' if bad else ''}", str(view.request_count), f"{elapsed:.2f}",
                    str(written)])
    return out


def _row(name: str, result: dict[str, Any]) -> list[str]:
    return [name, f"{result['steps']:,}", f"{result['served']:,}", f"{result['served'] / result['steps']:.4f}",
            f"{result['steps'] / result['seconds']:.0f}", f"{result['seconds']:.1f}", str(result["throttled"]),
            str(result["failed"]), ",".join(result["status"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journey_batch", description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every emulator request")
    parser.add_argument("--seed-people", type=int, default=20_000, help="Leads and Contacts seeded (half each)")
    parser.add_argument("--one-by-one", type=int, default=300, help="steps sent one by one over HTTP")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)

    rng = random.Random(7)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    print(f"Starting Azurite, the Dataverse emulator and the function host (logs: {log_dir}) ...", flush=True)
    local = stack.start_local_stack(log_dir, token=TOKEN, env={"LOCAL_FUNCTION_KEY": KEY}, isolate=True)
    try:
        bench = Stack(local.functions.url, local.emulator.url, local.azurite.env["AzureWebJobsStorage"])
        people = Population(args.seed_people, rng)
        print(f"Seeding {args.seed_people:,} Leads and Contacts ...", flush=True)
        people.seed(local.emulator.url)
        bench.faults({"latencyMs": args.latency_ms, "limits": LIMITS})
        load_before = os.getloadavg()
        print("1,000 steps in one message ...", flush=True)
        small = run_batches(bench, [{"batchId": "bench-1000", "steps": people.steps(1000, "a")}])
        print("10,000 steps in two messages of 5,000 ...", flush=True)
        large = run_batches(bench, [{"batchId": f"bench-5000-{n}", "steps": people.steps(5000, f"b{n}")}
                                    for n in range(2)])
        rss = peak_rss_mib(local.functions.process.pid)
        print(f"{args.one_by_one} steps one by one over HTTP ...", flush=True)
        single = run_one_by_one(bench, people.steps(args.one_by_one, "c"))
        print("Writing 1,000 Leads as change sets and as CreateMultiple ...", flush=True)
        writes = compare_writes(local.emulator.url)
        load_after = os.getloadavg()
    finally:
        local.stop()

    print(f"\nJourneyBatch against the emulator ({args.latency_ms:g} ms per request, service protection on: "
          f"{LIMITS['requests']:,} requests and {LIMITS['executionMs'] // 1000:,} s of execution per "
          f"{LIMITS['windowSeconds']} s, {LIMITS['msPerOperation']} ms per operation)\n")
    print(table(["Run", "Steps", "Web API requests", "Requests/step", "Steps/s", "Seconds", "Throttled", "Failed",
                 "Status"],
                [_row("1 message", small), _row("2 messages of 5,000", large), _row("one by one (HTTP)", single)]))
    print(f"\nOutcomes, 10,000 steps: {large['counts']}")
    print(f"\n1,000 new Leads written two ways (emulator latency {args.latency_ms:g} ms)\n")
    print(table(["Way", "Requests", "Seconds", "Leads written"], writes))
    print(f"Peak RSS of the function host after the batches: {rss:.0f} MiB" if rss is not None
          else "Peak RSS: unavailable")
    ratio = (single["served"] / single["steps"]) / max(large["served"] / large["steps"], 1e-9)
    print(f"Requests per step, one by one vs in bulk: {ratio:.0f} times fewer in bulk")
    print(f"Load average (1 min) before and after: {load_before[0]:.2f}, {load_after[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json is not None:
        args.json.write_text(json.dumps({"latencyMs": args.latency_ms, "oneMessage": small, "twoMessages": large,
                                         "oneByOne": single, "peakRssMiB": rss,
                                         "writes": writes}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
