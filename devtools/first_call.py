"""Import one function folder in this (fresh) interpreter, call it once, report what it cost.

    python -I devtools/first_call.py --root . --function CreateUpdateLead --input '{"trigger": "http", ...}'
    python -I devtools/first_call.py --modules PowerPlatform.Dataverse.client,azure.identity

Used by the cold-start benchmark, by the test that keeps Storage SDKs off the functions' import
graph, and by the package test (run as `python -I -S` with only the unpacked package on the
path). It prints one line, `FIRST-CALL <json>`: `importMs` (the import statement alone),
`callMs`, the outcome (`status` of an HTTP answer, or `returned` / the exception's class),
`modules`, every module loaded by then, and `foreign`, those loaded from neither the standard
library nor `--root`. It needs only the standard library and what the
function itself imports; the app root and `.python_packages/lib/site-packages` go first on the
path, as the Python worker puts them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

MARKER = "FIRST-CALL "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Import one function folder, call it once, report the cost.")
    parser.add_argument("--root", type=Path, help="the function app (a checkout or an unpacked package)")
    parser.add_argument("--function", help="the function folder to import")
    parser.add_argument("--input", default="", help="JSON: the trigger input of one call (none: import only)")
    parser.add_argument("--modules", default="", help="comma-separated modules to import instead of a function")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    if args.modules:
        started = time.perf_counter()
        for name in args.modules.split(","):
            importlib.import_module(name.strip())
        report["importMs"] = _ms(started)
    else:
        root = args.root.resolve()
        sys.path[:0] = [str(root), str(root / ".python_packages" / "lib" / "site-packages")]
        started = time.perf_counter()
        module = importlib.import_module(args.function)
        report["importMs"] = _ms(started)
        if args.input:
            report.update(_call(module, json.loads(args.input)))
    report["modules"] = sorted(sys.modules)
    report["foreign"] = _foreign_modules(args.root.resolve() if args.root else None)
    print(MARKER + json.dumps(report), flush=True)
    return 0


def _call(module: Any, spec: dict[str, Any]) -> dict[str, Any]:
    trigger = _trigger_input(spec)
    started = time.perf_counter()
    try:
        answer = module.main(trigger)
    except Exception as exc:  # a placeholder's visible failure is its answer
        return {"callMs": _ms(started), "outcome": type(exc).__name__}
    call_ms = _ms(started)
    if spec["trigger"] == "http":
        return {"callMs": call_ms, "outcome": "answered", "status": answer.status_code,
                "body": answer.get_body().decode("utf-8", "replace")[:4000]}
    return {"callMs": call_ms, "outcome": "returned"}


def _trigger_input(spec: dict[str, Any]) -> Any:
    import azure.functions as func  # loaded already by every function

    if spec["trigger"] == "http":
        body = b"" if spec.get("body") is None else json.dumps(spec["body"]).encode("utf-8")
        headers = {"content-type": "application/json", **spec.get("headers", {})} if body else spec.get("headers", {})
        return func.HttpRequest(spec["method"], spec["url"], headers=headers, params=spec.get("params", {}),
                                route_params=spec.get("routeParams", {}), body=body)
    if spec["trigger"] == "timer":
        from azure.functions.timer import TimerRequest

        return TimerRequest(past_due=False)
    if spec["trigger"] == "queue":
        from azure.functions.queue import QueueMessage

        return QueueMessage(id="first-call", body=spec.get("body", "").encode("utf-8"), dequeue_count=1)
    raise ValueError(f"unknown trigger {spec['trigger']!r}")


def _foreign_modules(root: Path | None) -> list[str]:
    """Loaded modules whose file is neither in the standard library nor under `root`."""
    import sysconfig

    homes = [Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")]
    if root is not None:
        homes.append(root)
    foreign = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name != "__main__" and file and not any(Path(file).resolve().is_relative_to(home) for home in homes):
            foreign.append(name)
    return sorted(foreign)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# -- the parent's side: run the above in a fresh process ----------------------------------------


def sample_inputs(root: Path) -> dict[str, dict[str, Any]]:
    """One trigger input per function folder of the app at `root`, from its function.json.

    Journey steps get a valid body for a person nobody has seen (CreateUpdateLead creates a
    Lead); other HTTP functions their first method with every route parameter filled.
    """
    inputs: dict[str, dict[str, Any]] = {}
    for path in sorted(root.glob("*/function.json")):
        trigger = json.loads(path.read_text(encoding="utf-8"))["bindings"][0]
        name = path.parent.name
        if trigger["type"] == "httpTrigger":
            route = trigger.get("route", name)
            route_params = {}
            for parameter in re.findall(r"\{[^}]+\}", route):
                route_params[parameter.strip("{}*?").split(":")[0]] = _SAMPLE_ID
                route = route.replace(parameter, _SAMPLE_ID)
            method = trigger.get("methods", ["get"])[0].upper()
            inputs[name] = {"trigger": "http", "method": method, "url": f"http://localhost/api/{route}",
                            "routeParams": route_params, "body": _JOURNEY_BODIES.get(name),
                            "headers": {"x-request-id": f"first-call-{name}"}}
        elif trigger["type"] == "timerTrigger":
            inputs[name] = {"trigger": "timer"}
        elif trigger["type"] == "queueTrigger":
            inputs[name] = {"trigger": "queue", "body": "{}"}
    return inputs


_SAMPLE_ID = "00000000-0000-4000-8000-000000000001"
_PERSON = {"email": "first.call@example.com", "firstName": "First", "lastName": "Call"}
_JOURNEY_BODIES: dict[str, Any] = {
    "CreateUpdateLead": {"person": _PERSON, "subject": "Cold start"},
    "AddActivity": {"person": _PERSON, "activity": {"type": "task", "subject": "Cold start"}},
    "AddToMarketingList": {"person": _PERSON, "target": "lead", "list": {"name": "Cold start"}},
}


def run_in_fresh_process(
    python: str | Path,
    *,
    root: Path | None = None,
    function: str | None = None,
    trigger_input: dict[str, Any] | None = None,
    modules: str = "",
    env: dict[str, str] | None = None,
    stdlib_only: bool = False,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Run this script in a new `python -I` process and return its report plus `processMs`, the
    wall time from spawning the process to its report (the fresh-process-to-first-answer time).

    `stdlib_only` adds `-S`: no site-packages at all, only the standard library and `root`.
    """
    import os
    import subprocess
    import tempfile

    argv = [str(python), "-I", *(["-S"] if stdlib_only else []), str(Path(__file__).resolve())]
    if modules:
        argv += ["--modules", modules]
    else:
        argv += ["--root", str(root), "--function", str(function)]
        if trigger_input is not None:
            argv += ["--input", json.dumps(trigger_input)]
    report: dict[str, Any] | None = None
    with tempfile.TemporaryFile(mode="w+") as stderr:
        started = time.perf_counter()
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True,
                              env={**os.environ, **(env or {})}, cwd=root or Path.cwd()) as process:
            assert process.stdout is not None
            try:
                for line in process.stdout:  # the report is timed when it arrives, not at exit
                    if line.startswith(MARKER):
                        report = json.loads(line[len(MARKER):])
                        report["processMs"] = _ms(started)
                process.wait(timeout=timeout)
            finally:
                if process.poll() is None:
                    process.kill()
        if report is None:
            stderr.seek(0)
            raise RuntimeError(f"{function or modules} gave no report (exit {process.returncode}):\n"
                               f"{stderr.read()[-3000:]}")
    return report


if __name__ == "__main__":
    sys.exit(main())
