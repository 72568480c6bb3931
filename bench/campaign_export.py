"""Benchmark of CampaignExport: a campaign's contacts and companies from the `campaign-export` queue.

    .venv/bin/python -m bench.campaign_export [--latency-ms 20] [--contacts 5000] [--companies 500]

Starts Azurite, the Dataverse emulator (with Dataverse's default service protection limits for
one application user) and the function host (devtools.stack), declares the export's custom
columns, stores a configuration with export, engagement, campaign and user mappings, and seeds
half of the contacts and half of the companies as existing records (a fifth of those companies
only findable by their website's domain). Every emulator request then takes `--latency-ms`.
It delivers one claim-checked export of `--contacts` contacts with engagement data (two thirds
participants, a tenth with an analysis longer than its column) and `--companies` companies,
then the same message again (a redelivery). Prints Web API requests per record (every request
the emulator served, metadata and retries included, a `$batch` as one), records per second and
the host's peak RSS. Numbers are printed, never asserted: the function tests assert behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.journey_batch import LIMITS
from bench.journey_steps import peak_rss_mib, table
from devtools import stack
from shared.app import CONFIG_BLOB
from shared.config import Configuration
from shared.store import StorageClients, VersionedDocumentStore

KEY = "bench-function-key"
TOKEN = "bench-token"
BLOB_CONTAINER = "campaign-export-blobs"
OWNER = "5e000000-0000-4000-8000-0000000000b1"
COLUMNS = {
    "$entities": {
        "contact": {"attributes": {
            "new_source": {"type": "text", "maxLength": 100}, "new_segment": {"type": "text", "maxLength": 100},
            "new_engaged": {"type": "text", "maxLength": 10}, "new_sequence": {"type": "text", "maxLength": 200},
            "new_status": {"type": "text", "maxLength": 100}, "new_opens": {"type": "text", "maxLength": 100},
            "new_clicks": {"type": "text", "maxLength": 100},
            "new_replyanalysis": {"type": "memo", "maxLength": 2000}}},
        "account": {"attributes": {"new_tier": {"type": "text", "maxLength": 20},
                                   "new_engaged": {"type": "text", "maxLength": 10}}},
    },
    "systemusers": [{"systemuserid": OWNER, "lastname": "Owner", "isdisabled": False}],
}
CONFIG = {
    "exportMapping": {
        "fixedFields": {"contact": {"new_source": "Platform"}, "account": {}},
        "exportFields": {"contact": ["new_segment"], "account": ["new_tier"]},
        "engagementFields": {"contact": {"new_engaged": "Yes"}, "account": {"new_engaged": "Yes"}},
    },
    "campaignMapping": {"sequenceDetails": "new_sequence", "engagementStatus": "new_status", "opens": "new_opens",
                        "clicks": "new_clicks", "replyAnalysis": "new_replyanalysis"},
    "userMapping": {"identities": {"u-1": OWNER}, "defaultOwner": OWNER},
}


def build(contacts: int, companies: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed of existing records and the export message."""
    names = [f"Company {n}" for n in range(companies)]
    seed_accounts = []
    for n in range(0, companies, 2):  # half exist; a fifth of those under another name (domain only)
        by_domain = n % 10 == 0
        seed_accounts.append({"name": f"Other name {n}" if by_domain else names[n],
                              "websiteurl": f"https://www.company{n}.example/home"})
    seed_contacts = [{"emailaddress1": f"person{n}@bench.example.com", "lastname": "Known"}
                     for n in range(0, contacts, 2)]
    message_contacts = []
    for n in range(contacts):
        participated = n % 3 != 0
        engagement: dict[str, Any] = {"participated": participated, "status": f"Step {n % 5 + 1} of 5",
                                      "opens": rng.randrange(10), "clicks": rng.randrange(3)}
        if n % 10 == 0:
            engagement["replyAnalysis"] = "Long analysis. " * 200  # over the column's 2,000
        message_contacts.append({
            "person": {"id": f"p-{n}", "email": f"person{n}@bench.example.com", "firstName": "Bench",
                       "lastName": f"Person {n}", "company": names[n % companies]},
            "ownerUserId": "u-1", "exportFields": {"new_segment": "Enterprise"}, "engagement": engagement})
    message = {"exportId": "bench-export", "campaign": {"id": "c-1", "name": "Bench", "sequence": "5 e-mails"},
               "contacts": message_contacts,
               "companies": [{"name": name, "domain": f"company{n}.example", "exportFields": {"new_tier": "Gold"}}
                             for n, name in enumerate(names)]}
    return {"accounts": seed_accounts, "contacts": seed_contacts}, message


class Bench:
    def __init__(self, functions: str, emulator: str, storage: str) -> None:
        self.functions, self.emulator = functions, emulator
        self.storage = StorageClients.from_connection_string(storage)
        self.session = requests.Session()

    def post(self, hook: str, body: Any) -> None:
        self.session.post(f"{self.emulator}/_emulator/{hook}", json=body, timeout=600).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(self.session.get(f"{self.emulator}/_emulator/stats", timeout=30).json())

    def configure(self) -> None:
        store = VersionedDocumentStore(lambda: self.storage.container("connector-config"), CONFIG_BLOB, Configuration)
        store.put(Configuration.model_validate(CONFIG))

    def deliver(self, message: dict[str, Any]) -> float:
        name = f"{message['exportId']}.json"
        self.storage.container(BLOB_CONTAINER).upload_blob(name, json.dumps(message), overwrite=True)
        text = json.dumps({"exportId": message["exportId"], "exportBlob": f"{BLOB_CONTAINER}/{name}"})
        started = time.perf_counter()
        response = requests.post(f"{self.functions}/admin/functions/CampaignExport?wait=true", json={"input": text},
                                 headers={"x-functions-key": KEY}, timeout=3600)
        elapsed = time.perf_counter() - started
        if response.json().get("status") != "Succeeded":
            raise RuntimeError(f"delivery failed: {response.text}")
        return elapsed

    def document(self, export_id: str) -> dict[str, Any]:
        response = self.session.get(f"{self.functions}/api/campaign-exports/{export_id}", params={"top": 1},
                                    headers={"x-functions-key": KEY}, timeout=60)
        return dict(response.json())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_export", description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every emulator request")
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--companies", type=int, default=500)
    args = parser.parse_args(argv)

    seed, message = build(args.contacts, args.companies, random.Random(7))
    records = args.contacts + args.companies
    log_dir = Path(tempfile.mkdtemp(prefix="bench-export-"))
    print(f"Starting Azurite, the Dataverse emulator and the function host (logs: {log_dir}) ...", flush=True)
    local = stack.start_local_stack(log_dir, token=TOKEN, env={"LOCAL_FUNCTION_KEY": KEY}, isolate=True)
    try:
        bench = Bench(local.functions.url, local.emulator.url, local.azurite.env["AzureWebJobsStorage"])
        bench.post("seed", COLUMNS)
        for start in range(0, len(seed["contacts"]), 2000):
            bench.post("seed", {"contacts": seed["contacts"][start : start + 2000]})
        bench.post("seed", {"accounts": seed["accounts"]})
        bench.configure()
        bench.post("faults", {"latencyMs": args.latency_ms, "limits": LIMITS})
        load_before = os.getloadavg()
        rows = []
        for run in ("first delivery", "redelivery"):
            print(f"{run}: {args.contacts:,} contacts and {args.companies:,} companies ...", flush=True)
            before = bench.stats()
            seconds = bench.deliver(message)
            served = bench.stats()["total"] - before["total"]
            document = bench.document("bench-export")
            rows.append([run, f"{records:,}", f"{served:,}", f"{served / records:.4f}", f"{records / seconds:.0f}",
                         f"{seconds:.1f}", str(document["failed"]), json.dumps(document["counts"]),
                         document["status"]])
        rss = peak_rss_mib(local.functions.process.pid)
        load_after = os.getloadavg()
    finally:
        local.stop()
    print(f"\nCampaignExport against the emulator ({args.latency_ms:g} ms per request, service protection on)\n")
    print(table(["Run", "Records", "Web API requests", "Requests/record", "Records/s", "Seconds", "Failed",
                 "Counts", "Status"], rows))
    print(f"Peak RSS of the function host: {rss:.0f} MiB" if rss is not None else "Peak RSS: unavailable")
    print(f"Load average (1 min) before and after: {load_before[0]:.2f}, {load_after[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
