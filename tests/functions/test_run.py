"""`make run` (devtools/run.py): the whole stack until Ctrl-C, then nothing left running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools import stack


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_when_run_gets_ctrl_c_it_stops_all_three_parts_and_removes_the_storage(tmp_path: Path) -> None:
    ports = [stack.free_port() for _ in range(5)]
    functions, emulator, *azurite = ports
    output = tmp_path / "run.out"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run", "--functions-port", str(functions), "--emulator-port",
             str(emulator), "--azurite-ports", *map(str, azurite)],
            cwd=stack.REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops all three." not in output.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, output.read_text()
            time.sleep(0.2)
        text = output.read_text()
        assert f"http://127.0.0.1:{functions}/api/" in text
        storage = Path(re.search(r"data in (\S+), removed on exit", text).group(1))  # type: ignore[union-attr]
        assert storage.is_dir()
        health = requests.get(f"http://127.0.0.1:{functions}/api/health", timeout=30)
        assert health.status_code == 200, health.text  # wired to its own Azurite and emulator
        assert all(_listening(port) for port in ports)

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to the foreground group
        assert process.wait(timeout=60) == 0, output.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert "Stopped." in output.read_text()
    assert not [port for port in ports if _listening(port)]
    assert not storage.exists()


def test_when_a_port_is_taken_run_names_it_suggests_free_ones_and_starts_nothing(tmp_path: Path) -> None:
    functions, emulator, *azurite = [stack.free_port() for _ in range(5)]
    with socket.socket() as squatter:  # something else already listens on the emulator's port
        squatter.bind(("127.0.0.1", emulator))
        squatter.listen()
        run = subprocess.run(
            [sys.executable, "-m", "devtools.run", "--functions-port", str(functions), "--emulator-port",
             str(emulator), "--azurite-ports", *map(str, azurite)],
            cwd=stack.REPO_ROOT, capture_output=True, text=True, timeout=60,
        )
        assert run.returncode == 2, run.stdout + run.stderr
        assert f"Port {emulator} (Dataverse emulator) is already in use." in run.stderr
        assert "Traceback" not in run.stdout + run.stderr
        assert "Ctrl-C stops all three." not in run.stdout  # no ready banner
        suggestion = re.search(r"make run FUNCTIONS_PORT=(\d+) EMULATOR_PORT=(\d+) AZURITE_PORTS=\"(\d+) (\d+) (\d+)\"",
                               run.stderr)
        assert suggestion, run.stderr
        suggested = [int(port) for port in suggestion.groups()]
        assert suggested[0] == functions and suggested[2:] == azurite  # free ones are kept
        assert suggested[1] != emulator and stack.port_is_free(suggested[1])
    assert not [port for port in (functions, *azurite) if _listening(port)]


def test_make_run_passes_its_port_variables_to_the_launcher() -> None:
    dry = subprocess.run(
        ["make", "-n", "run", "FUNCTIONS_PORT=18071", "EMULATOR_PORT=18072", "AZURITE_PORTS=18000 18001 18002"],
        cwd=stack.REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    command = " ".join(dry.stdout.replace("\\\n", " ").split())
    assert "-m devtools.run --functions-port 18071 --emulator-port 18072 --azurite-ports 18000 18001 18002" in command
