"""Schemathesis against the live app: every operation of openapi.yaml, generated valid and invalid requests.

The app runs on the local host over real Azurite and the Dataverse emulator (`function_host`).
Checks: no server error (a 501 only where the operation documents it: endpoints not built yet),
status codes and content types the spec lists, response bodies that match their schemas, every
schema-valid request accepted and every schema-violating one refused. The failures that are not
the spec's or the app's fault are dropped, each with its reason, in `openapi_fuzz_hooks.py`.

Bounded and reproducible: a fixed seed, no example database, `MAX_EXAMPLES` per operation and
phase. The case count it prints is recorded in docs/HTTP.md ("Fuzzing the API").
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.storage.blob import BlobServiceClient

from devtools import stack

SPEC = stack.REPO_ROOT / "openapi.yaml"
HOOKS = Path(__file__).with_name("openapi_fuzz_hooks.py")
MAX_EXAMPLES = 25
SEED = 20261205
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "positive_data_acceptance", "negative_data_rejection"]
# The settings documents are fuzzed last, on their own: a stored configuration changes what the
# journey steps accept, and those must be fuzzed under the default one.
SETTINGS_PUTS = ["PUT /config", "PUT /sync/settings"]
DROPPED_LOG = "OPENAPI_FUZZ_DROPPED"  # the hooks note each failure they drop in this file


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch"}:
                yield f"{method.upper()} {path}", operation


def _toml(value: Any) -> str:
    return json.dumps(value)  # JSON strings, numbers, booleans and arrays are TOML too


def write_config(target: Path, base_url: str, key: str) -> Path:
    """The schemathesis configuration: the run's settings and, per operation, what it may answer."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    lines = [
        f"base-url = {_toml(base_url)}",
        f"hooks = {_toml(str(HOOKS))}",
        f"seed = {SEED}",
        "workers = 1",  # two workers made the coverage phase twenty times slower here
        "[cache]",
        "enabled = false",  # no crash store between runs: each run stands alone
        "[headers]",
        f'"x-functions-key" = {_toml(key)}',
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        'database = "none"',
        "[checks]",
        "enabled = false",
        *(f"{name}.enabled = true" for name in CHECKS),
    ]
    for name, operation in _operations(spec):
        # A valid request may still meet a documented refusal that depends on state, not on its
        # shape: a stale or missing If-Match (412, 428), a list Dynamics lacks (422), or an endpoint
        # not built yet (501, which is then no server error either).
        stateful = sorted(set(operation["responses"]) & {"412", "422", "428", "501"})
        accepted = ["2xx", "401", "404", "409", *stateful]
        lines += ["[[operations]]", f"include-name = {_toml(name)}",
                  f"checks.positive_data_acceptance.expected-statuses = {_toml(accepted)}"]
        if "501" in stateful:
            lines.append('checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]')
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def run_schemathesis(config: Path, dropped: Path, *selection: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", *selection, str(SPEC)]
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "120", DROPPED_LOG: str(dropped)}
    return subprocess.run(argv, cwd=stack.REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)


def generated_cases(output: str) -> int:
    match = re.search(r"(\d+) generated", output)
    assert match, output[-3000:]
    return int(match.group(1))


@pytest.fixture
def fuzz_config(tmp_path: Path, function_host: stack.Service, function_key: str) -> Iterator[Path]:
    yield write_config(tmp_path / "schemathesis.toml", f"{function_host.url}/api", function_key)
    # The shared host keeps its documents in `connector-config`: leave nothing stored.
    container = BlobServiceClient.from_connection_string(
        function_host.env["AzureWebJobsStorage"]).get_container_client("connector-config")
    for name in ("configuration.json", "sync-settings.json"):
        blob = container.get_blob_client(name)
        if blob.exists():
            blob.delete_blob()


@pytest.mark.slow
def test_every_operation_of_the_spec_holds_under_generated_requests(fuzz_config: Path) -> None:
    dropped = fuzz_config.with_name("dropped.jsonl")
    runs = [
        run_schemathesis(fuzz_config, dropped, *(arg for name in SETTINGS_PUTS for arg in ("--exclude-name", name))),
        run_schemathesis(fuzz_config, dropped, *(arg for name in SETTINGS_PUTS for arg in ("--include-name", name))),
    ]
    for run in runs:
        assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
    total = sum(generated_cases(run.stdout) for run in runs)
    notes = [json.loads(line) for line in dropped.read_text(encoding="utf-8").splitlines()] if dropped.exists() else []
    reasons = Counter(f"{note['reason']} ({note['operation']} {note['status']})" for note in notes)
    print(f"\nschemathesis: {total} generated cases, every check passed; failures dropped: {dict(reasons) or 'none'}")
    assert total > 0
