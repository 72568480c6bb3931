"""`make run`: the local stack on fixed ports until Ctrl-C.

Azurite on its usual ports (10000-10002), the Dataverse emulator on 7072 seeded with
`devtools/demo_seed.json`, the function host on 7071; `--functions-port`, `--emulator-port` and
`--azurite-ports` choose others (`make run FUNCTIONS_PORT=... EMULATOR_PORT=... AZURITE_PORTS=...`).
Every port is checked before anything starts: a port in use is named, with free ones to use
instead, and nothing is started. Azurite keeps its data in a temporary
directory removed on exit: each run starts from the seed in Dynamics and empty storage, so no
idempotency record or document outlives the Dynamics records it speaks of. The host's log is
echoed here; every log file is under `.stack/logs/`. Ctrl-C (or SIGTERM) stops the host first,
so running invocations finish, then the emulator, then Azurite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from devtools import stack

SEED = stack.REPO_ROOT / "devtools" / "demo_seed.json"
STATE = stack.REPO_ROOT / ".stack"


def ensure_local_settings(root: Path) -> Path:
    """Copy the committed example to local.settings.json the first time."""
    target = root / "local.settings.json"
    if not target.exists():
        shutil.copyfile(root / "local.settings.example.json", target)
        print(f"Created {target.name} from local.settings.example.json")
    return target


def _function_key(settings: Path) -> str:
    values = json.loads(settings.read_text(encoding="utf-8")).get("Values") or {}
    return str(values.get("LOCAL_FUNCTION_KEY", ""))


def _follow(path: Path, done: threading.Event) -> None:
    """Echo a log file as it grows; once `done` is set, echo what is left and return."""
    with open(path, "rb") as handle:
        while True:
            line = handle.readline()
            if line:
                sys.stdout.write(line.decode(errors="replace"))
                sys.stdout.flush()
            elif done.is_set():
                return
            else:
                time.sleep(0.2)


def ports_in_use(wanted: dict[str, int]) -> str | None:
    """None when every port is free; else what to tell the developer: which are taken, what to run instead."""
    taken = {name: port for name, port in wanted.items() if not stack.port_is_free(port)}
    if not taken:
        return None
    lines = [f"Port {port} ({name}) is already in use." for name, port in taken.items()]
    chosen = set(wanted.values())
    replacement = dict(wanted)
    for name, port in taken.items():
        candidate = port + 1
        while candidate in chosen or not stack.port_is_free(candidate):
            candidate += 1
        replacement[name] = candidate
        chosen.add(candidate)
    azurite = " ".join(str(replacement[name]) for name in ("Azurite blob", "Azurite queue", "Azurite table"))
    lines += [
        "Nothing was started. Stop what listens there, or choose free ports, for instance:",
        f'  make run FUNCTIONS_PORT={replacement["function host"]} EMULATOR_PORT={replacement["Dataverse emulator"]} '
        f'AZURITE_PORTS="{azurite}"',
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.run", description=__doc__.split("\n")[0])
    parser.add_argument("--functions-port", type=int, default=7071, help="the function host (default 7071)")
    parser.add_argument("--emulator-port", type=int, default=7072, help="the Dataverse emulator (default 7072)")
    parser.add_argument("--azurite-ports", type=int, nargs=3, default=(10000, 10001, 10002),
                        metavar=("BLOB", "QUEUE", "TABLE"), help="Azurite's three services (default 10000 10001 10002)")
    args = parser.parse_args(argv)
    blob, queue, table = args.azurite_ports
    problem = ports_in_use({"function host": args.functions_port, "Dataverse emulator": args.emulator_port,
                            "Azurite blob": blob, "Azurite queue": queue, "Azurite table": table})
    if problem:
        print(problem, file=sys.stderr)
        return 2

    settings = ensure_local_settings(stack.REPO_ROOT)
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    print("Starting Azurite, the Dataverse emulator and the function host ...")
    with tempfile.TemporaryDirectory(prefix="azurite-") as storage:
        local = stack.start_local_stack(
            STATE / "logs",
            functions_port=args.functions_port,
            emulator_port=args.emulator_port,
            azurite_ports=tuple(args.azurite_ports),
            azurite_location=Path(storage),
            seed=SEED,
            isolate=True,  # Ctrl-C reaches only this process, which stops the parts in order
        )
        return _serve(local, settings, Path(storage), stop)


def _serve(local: stack.LocalStack, settings: Path, storage: Path, stop: threading.Event) -> int:
    """Show the addresses, echo the host's log until `stop` (or a part exits), then stop all three."""
    echoed = threading.Event()
    follower = threading.Thread(target=_follow, args=(local.functions.log_path, echoed), daemon=True)
    crashed = False
    try:
        key = _function_key(settings)
        print(
            f"\nFunctions   {local.functions.url}/api/   (x-functions-key: {key})\n"
            f"Dataverse   {local.emulator.url}/api/data/v9.2/   (Authorization: Bearer "
            f"{local.emulator.env['DYNAMICS_STATIC_TOKEN']})\n"
            f"Azurite     {local.azurite.env['AzureWebJobsStorage']}\n"
            f"            (data in {storage}, removed on exit)\n"
            f"Logs        {STATE / 'logs'}\n"
            "Ctrl-C stops all three.\n"
        )
        follower.start()
        while not stop.wait(1.0):
            for service in local.services:
                if service.process.poll() is not None:
                    print(f"{service.name} exited with code {service.process.returncode}:\n{service.log_tail()}",
                          file=sys.stderr)
                    crashed = True
                    stop.set()
    finally:
        print("\nStopping ...")
        local.stop()
        echoed.set()
        if follower.is_alive():
            follower.join(timeout=5)
        print("Stopped.")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
