"""The command line: ready line, default token, startup seed re-applied on reset, --data persistence."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devtools import stack

SEED = {"$keys": {"account": [["accountnumber"]]}, "accounts": [{"name": "Seeded", "accountnumber": "A-1"}]}


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = stack.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.dataverse_emulator", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=stack.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("Dataverse emulator ready at "), line
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[subprocess.Popen]]:
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_when_started_without_a_token_it_accepts_local_dev_token(tmp_path: Path, started: list) -> None:
    process, root = _start(tmp_path)
    started.append(process)
    ok = requests.get(f"{root}/api/data/v9.2/WhoAmI", headers={"Authorization": "Bearer local-dev-token"}, timeout=5)
    assert ok.status_code == 200
    assert requests.get(f"{root}/api/data/v9.2/WhoAmI", timeout=5).status_code == 401


def test_when_reset_the_startup_seed_comes_back(tmp_path: Path, started: list) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED))
    process, root = _start(tmp_path, "--token", "t", "--seed", str(seed))
    started.append(process)
    headers = {"Authorization": "Bearer t"}
    api = f"{root}/api/data/v9.2/"
    requests.post(f"{api}accounts", json={"name": "Extra"}, headers=headers, timeout=5)
    requests.post(f"{root}/_emulator/reset", timeout=5).raise_for_status()
    names = [a["name"] for a in requests.get(f"{api}accounts", headers=headers, timeout=5).json()["value"]]
    assert names == ["Seeded"]
    assert requests.get(f"{api}accounts(accountnumber='A-1')", headers=headers, timeout=5).status_code == 200


def test_when_data_is_persisted_a_restart_keeps_the_state(tmp_path: Path, started: list) -> None:
    data = tmp_path / "state.json"
    process, root = _start(tmp_path, "--token", "t", "--data", str(data))
    headers = {"Authorization": "Bearer t"}
    requests.post(f"{root}/_emulator/seed", json={"$keys": {"contact": [["emailaddress1"]]}}, timeout=5)
    response = requests.post(f"{root}/api/data/v9.2/contacts", json={"lastname": "Kept", "emailaddress1": "k@x.com"},
                             headers=headers, timeout=5)
    contact = response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    process.terminate()
    process.wait(timeout=10)
    again, root = _start(tmp_path, "--token", "t", "--data", str(data))
    started.append(again)
    row = requests.get(f"{root}/api/data/v9.2/contacts(emailaddress1='k@x.com')?$select=lastname",
                       headers=headers, timeout=5).json()
    assert row["contactid"] == contact and row["lastname"] == "Kept"
