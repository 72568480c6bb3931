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
