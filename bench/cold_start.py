"""Cold start of every function folder, beside the cost of importing Microsoft's Dataverse SDK.

    .venv/bin/python -m bench.cold_start [--runs 7]

Starts Azurite and the Dataverse emulator (devtools.stack), then, `--runs` times and
interleaved (so a busy moment of the machine weighs on every row alike), for every function
folder starts fresh `python -I` processes (`devtools/first_call.py`) that:

- **import**: times the import statement of the function folder (what a new worker pays before
  it can run anything; the same as a fresh interpreter's time less an empty interpreter's);
- **first call**: calls the function once against the local stack (a journey step for a new
  person, Health, Config, ...) and reports when the answer is ready; this figure is the wall
  time from spawning the process, so it includes the interpreter's own start.

The yardstick imports `PowerPlatform.Dataverse.client` and `azure.identity` (what a client
built on Microsoft's SDK would load) in a fresh process right before each function's import;
the ratio printed is the median, over the runs, of function import / SDK import measured side
by side, so a busy moment of a shared machine weighs on both. The target is at most 0.50 for
every journey step and for Health. `--root DIR` measures another checkout (e.g. an older commit
exported with `git archive`). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from devtools import stack
from devtools.first_call import run_in_fresh_process, sample_inputs

ROOT = Path(__file__).resolve().parents[1]
SDK_MODULES = "PowerPlatform.Dataverse.client,azure.identity"
TARGET_RATIO = 0.50
# The functions the target applies to: the journey steps and the health check.
TARGETED = ("CreateUpdateLead", "AddActivity", "AddToMarketingList", "Health")
LIST_ID = "c01d0000-0000-4000-8000-000000000001"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold start of every function, beside the SDK's import cost.")
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per function (the median is printed)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the function app to measure (default: this one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as logs:
        azurite = stack.start_azurite(Path(logs))
        emulator = stack.start_emulator(Path(logs))
        try:
            return _run(args.root.resolve(), args.runs, {**azurite.env, **emulator.env}, emulator.url)
        finally:
            emulator.stop()
            azurite.stop()


def _run(root: Path, runs: int, env: dict[str, str], emulator_url: str) -> int:
    import requests  # the bench's own client to seed the emulator, not the measured processes'

    # A static marketing list, so AddToMarketingList's first call adds a member.
    requests.post(f"{emulator_url}/_emulator/seed", timeout=10, json={"lists": [
        {"listid": LIST_ID, "listname": "Cold start", "createdfromcode": 4, "type": False, "lockstatus": False}]},
    ).raise_for_status()
    inputs = sample_inputs(root)
    inputs["AddToMarketingList"]["body"]["list"] = {"id": LIST_ID}
    imports: dict[str, list[float]] = {name: [] for name in inputs}
    ratios: dict[str, list[float]] = {name: [] for name in inputs}
    calls: dict[str, list[float]] = {name: [] for name in inputs}
    outcomes: dict[str, set[str]] = {name: set() for name in inputs}
    sdk: list[float] = []
    for run in range(runs):
        print(f"run {run + 1}/{runs}", file=sys.stderr, flush=True)
        for name, trigger_input in inputs.items():
            # The SDK right before each function: both meet the same moment of a busy machine.
            sdk_ms = run_in_fresh_process(sys.executable, modules=SDK_MODULES)["importMs"]
            imported = run_in_fresh_process(sys.executable, root=root, function=name)["importMs"]
            sdk.append(sdk_ms)
            imports[name].append(imported)
            ratios[name].append(imported / sdk_ms)
            called = run_in_fresh_process(sys.executable, root=root, function=name,
                                          trigger_input=_fresh_person(trigger_input), env=env)
            calls[name].append(called["processMs"])
            outcomes[name].add(str(called.get("status", called["outcome"])))
    print(f"\nMicrosoft's SDK (import {SDK_MODULES.replace(',', ', ')}): median {statistics.median(sdk):.0f} ms "
          f"over {len(sdk)} fresh processes (min {min(sdk):.0f}, max {max(sdk):.0f})\n")
    print("| Function | Import (ms) | Import / SDK | First call from a fresh process (ms) | Answer |")
    print("|---|---:|---:|---:|---|")
    missed = []
    for name in inputs:
        ratio = statistics.median(ratios[name])
        mark = ""
        if name in TARGETED:
            mark = " ✓" if ratio <= TARGET_RATIO else " ✗"
            if ratio > TARGET_RATIO:
                missed.append(name)
        print(f"| {name} | {statistics.median(imports[name]):.0f} | {ratio:.2f}{mark} | "
              f"{statistics.median(calls[name]):.0f} | {', '.join(sorted(outcomes[name]))} |")
    print(f"\nTarget: import / SDK <= {TARGET_RATIO:.2f} for {', '.join(TARGETED)}: "
          + ("met" if not missed else f"missed by {', '.join(missed)}"))
    return 0


def _fresh_person(trigger_input: dict[str, Any]) -> dict[str, Any]:
    """The same input for a person nobody has seen, so every run takes the same path."""
    body = trigger_input.get("body")
    if not isinstance(body, dict) or "person" not in body:
        return trigger_input
    person = {**body["person"], "email": f"cold.{uuid.uuid4().hex[:10]}@bench.example.com"}
    return {**trigger_input, "body": {**body, "person": person}}


if __name__ == "__main__":
    sys.exit(main())
