"""Start and stop the local stack: Azurite, the Dataverse emulator and the local function host.

One place knows how to launch each part, so `make run`, `make demo`, the benchmarks and the
test fixtures all start them the same way. Every part listens on loopback only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent

# Azurite's well-known development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when a server could listen on 127.0.0.1:`port` now (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: connections of a stopped server waiting out TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until_answering(
    url: str, *, timeout: float = 30.0, process: subprocess.Popen | None = None, ca_bundle: Path | None = None
) -> None:
    """Poll `url` until it answers any HTTP status; fail early when `process` has exited.

    An https `url` is checked against `ca_bundle` (the emulator's own certificate), never unverified.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} did not come up: its process exited with code {process.returncode}")
        try:
            requests.get(url, timeout=1.0, verify=str(ca_bundle) if ca_bundle else True)
            return
        except OSError as exc:  # requests' errors, and a certificate not written yet
            last_error = exc
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s ({last_error})")


@dataclass
class Service:
    """A started child process and the address it serves."""

    name: str
    process: subprocess.Popen
    url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _spawn(
    name: str, argv: Sequence[str], log_dir: Path, env: Mapping[str, str] | None = None, *, isolate: bool = False
) -> tuple[subprocess.Popen, Path]:
    """Start a child with its output in `log_dir/<name>.log`.

    `isolate` puts it in its own session, so a Ctrl-C in the terminal reaches only the launcher,
    which then stops the parts in order (host first, storage last). Tests leave it off, so a CI
    job can stop everything by killing its process group.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - the child owns it until it exits
    process = subprocess.Popen(
        list(argv),
        cwd=REPO_ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=isolate,
    )
    log_file.close()
    return process, log_path


def azurite_connection_string(blob_port: int, queue_port: int, table_port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/{AZURITE_ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{queue_port}/{AZURITE_ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{table_port}/{AZURITE_ACCOUNT};"
    )


def azurite_binary() -> str:
    local = REPO_ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise FileNotFoundError("Azurite is not installed: run `npm ci` (make does this for you)")


def start_azurite(
    log_dir: Path,
    *,
    ports: tuple[int, int, int] | None = None,
    location: Path | None = None,
    isolate: bool = False,
) -> Service:
    """Azurite on loopback; `env["AzureWebJobsStorage"]` is its connection string.

    Storage lives in memory unless `location` is given (then it survives a restart there).
    """
    blob_port, queue_port, table_port = ports or (free_port(), free_port(), free_port())
    if location is None:
        storage = ["--inMemoryPersistence"]
    else:
        location.mkdir(parents=True, exist_ok=True)
        storage = ["--location", str(location)]
    argv = [
        azurite_binary(),
        "--silent",
        "--disableTelemetry",
        *storage,
        # The current Python storage SDKs send an API version newer than Azurite knows.
        "--skipApiVersionCheck",
        "--blobHost", "127.0.0.1", "--blobPort", str(blob_port),
        "--queueHost", "127.0.0.1", "--queuePort", str(queue_port),
        "--tableHost", "127.0.0.1", "--tablePort", str(table_port),
    ]
    process, log_path = _spawn("azurite", argv, log_dir, isolate=isolate)
    url = f"http://127.0.0.1:{blob_port}/{AZURITE_ACCOUNT}"
    for port in (blob_port, queue_port, table_port):
        wait_until_answering(f"http://127.0.0.1:{port}/", process=process)
    conn = azurite_connection_string(blob_port, queue_port, table_port)
    return Service("azurite", process, url, log_path, env={"AzureWebJobsStorage": conn})


def start_emulator(
    log_dir: Path,
    *,
    port: int | None = None,
    token: str = "local-dev-token",
    seed: Path | None = None,
    tls: bool = False,
    extra_args: Sequence[str] = (),
    isolate: bool = False,
) -> Service:
    """The Dataverse Web API emulator; `env` holds DYNAMICS_URL and DYNAMICS_STATIC_TOKEN for it.

    With `tls` it serves https with a self-signed certificate, and `env["REQUESTS_CA_BUNDLE"]`
    is that certificate, so a process given `env` (or `requests.get(..., verify=...)`) trusts it.
    """
    port = port or free_port()
    argv = [sys.executable, "-m", "devtools.dataverse_emulator", "--host", "127.0.0.1", "--port", str(port), "--token", token]
    if seed is not None:
        argv += ["--seed", str(seed)]
    ca_bundle: Path | None = None
    if tls:
        data_dir = log_dir / f"emulator-{port}"
        ca_bundle = data_dir / "cert.pem"  # the emulator writes it there before it listens
        argv += ["--tls", "--data-dir", str(data_dir)]
    argv += list(extra_args)
    process, log_path = _spawn(f"emulator-{port}", argv, log_dir, isolate=isolate)
    root = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{root}/_emulator/stats", process=process, ca_bundle=ca_bundle)
    except (RuntimeError, TimeoutError) as exc:
        failed = Service("emulator", process, root, log_path)
        failed.stop()
        raise RuntimeError(f"{exc}\n--- {log_path.name} ---\n{failed.log_tail()}") from None
    env = {"DYNAMICS_URL": root, "DYNAMICS_STATIC_TOKEN": token}
    if ca_bundle is not None:
        env["REQUESTS_CA_BUNDLE"] = str(ca_bundle)
    return Service("emulator", process, root, log_path, env=env)


def start_function_host(
    log_dir: Path,
    env: Mapping[str, str],
    *,
    port: int | None = None,
    root: Path | None = None,
    timeout: float = 60.0,
    isolate: bool = False,
) -> Service:
    """The local function host serving the app at `root` (default: this repository) on
    http://127.0.0.1:<port>/api/; `env` overrides the app's local settings."""
    port = port or free_port()
    argv = [sys.executable, "-m", "devtools.localhost", "--host", "127.0.0.1", "--port", str(port)]
    if root is not None:
        argv += ["--root", str(root)]
    process, log_path = _spawn(f"functions-{port}", argv, log_dir, env=env, isolate=isolate)
    base = f"http://127.0.0.1:{port}"
    try:
        # The host answers only once every function is loaded and every listener started.
        wait_until_answering(f"{base}/admin/host/ping", process=process, timeout=timeout)
    except (RuntimeError, TimeoutError) as exc:
        service = Service("functions", process, base, log_path, env=dict(env))
        service.stop()
        raise RuntimeError(f"{exc}\n--- {log_path.name} ---\n{service.log_tail()}") from None
    return Service("functions", process, base, log_path, env=dict(env))


@dataclass
class LocalStack:
    """Azurite, the Dataverse emulator and the function host, started together."""

    azurite: Service
    emulator: Service
    functions: Service

    @property
    def services(self) -> list[Service]:
        return [self.azurite, self.emulator, self.functions]

    def stop(self) -> None:
        """Host first (it finishes running invocations), storage last."""
        self.functions.stop(timeout=60.0)
        self.emulator.stop()
        self.azurite.stop()


def start_local_stack(
    log_dir: Path,
    *,
    functions_port: int | None = None,
    emulator_port: int | None = None,
    azurite_ports: tuple[int, int, int] | None = None,
    azurite_location: Path | None = None,
    seed: Path | None = None,
    token: str = "local-dev-token",
    env: Mapping[str, str] | None = None,
    isolate: bool = False,
) -> LocalStack:
    """Start the three parts wired to each other; on a failure, stop whatever already started."""
    started: list[Service] = []
    try:
        azurite = start_azurite(log_dir, ports=azurite_ports, location=azurite_location, isolate=isolate)
        started.append(azurite)
        emulator = start_emulator(log_dir, port=emulator_port, token=token, seed=seed, isolate=isolate)
        started.append(emulator)
        host_env = {**(env or {}), **azurite.env, **emulator.env}
        functions = start_function_host(log_dir, host_env, port=functions_port, isolate=isolate)
    except BaseException:
        for service in reversed(started):
            service.stop()
        raise
    return LocalStack(azurite, emulator, functions)
