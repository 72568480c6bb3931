"""Function folders: discovery, loading each entry point, and one invocation with its bindings."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

LOG = logging.getLogger(__name__)

# Which invocation a log line belongs to (the host, a poller, or "<Function> <id>").
invocation_label: contextvars.ContextVar[str] = contextvars.ContextVar("invocation", default="host")


@dataclass
class Function:
    """One function folder: its bindings and, once loaded, its entry point (or why not)."""

    name: str
    directory: Path
    bindings: list[dict[str, Any]]
    main: Callable[..., Any] | None = None
    error: str | None = None
    timeout: float | None = None  # host.json functionTimeout, in seconds

    @property
    def trigger(self) -> dict[str, Any]:
        triggers = [b for b in self.bindings if str(b.get("type", "")).endswith("Trigger")]
        if len(triggers) != 1:
            raise ValueError(f"{self.name}: function.json needs exactly one trigger binding, has {len(triggers)}")
        return triggers[0]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def http_output(self) -> str | None:
        for binding in self.bindings:
            if binding.get("type") == "http" and binding.get("direction") == "out":
                return str(binding.get("name", "$return"))
        return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def discover(root: Path, environ: MutableMapping[str, str]) -> list[Function]:
    """Every folder under `root` with a function.json, loaded; failures are kept, not raised."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # the worker puts the app root first, for `from shared...`
    functions = []
    for config_path in sorted(root.glob("*/function.json")):
        directory = config_path.parent
        if directory.name.startswith((".", "_")):
            continue
        config = json.loads(config_path.read_text(encoding="utf-8"))
        function = Function(directory.name, directory, list(config.get("bindings") or []))
        if config.get("disabled") or _truthy(environ.get(f"AzureWebJobs.{function.name}.Disabled")):
            LOG.info("Function %s is disabled", function.name)
            continue
        try:
            function.main = _load_entry_point(function, config)
        except Exception as exc:
            function.error = f"{type(exc).__name__}: {exc}"
            LOG.error("Function %s failed to load:\n%s", function.name, traceback.format_exc())
        functions.append(function)
    return functions


def _load_entry_point(function: Function, config: dict[str, Any]) -> Callable[..., Any]:
    function.trigger  # noqa: B018 - validates the binding count early
    script = Path(config.get("scriptFile") or "__init__.py")
    if script.parts[0] == "..":
        raise ValueError("scriptFile outside the function folder is not supported by the local host")
    module_name = function.name if script.name == "__init__.py" else f"{function.name}.{script.stem}"
    module = importlib.import_module(module_name)
    entry = getattr(module, config.get("entryPoint") or "main", None)
    if not callable(entry):
        raise AttributeError(f"{module_name} has no callable {config.get('entryPoint') or 'main'}")
    bound = {str(b.get("name")) for b in function.bindings}
    for parameter in inspect.signature(entry).parameters.values():
        if parameter.name not in bound and parameter.name != "context" and parameter.default is inspect.Parameter.empty:
            raise TypeError(f"parameter {parameter.name!r} of {module_name}.main has no binding in function.json")
    return entry


class _Out(func.Out[Any]):
    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


@dataclass(frozen=True)
class InvocationContext:
    """What the worker passes as `context` (duck-typed like ``azure.functions.Context``)."""

    invocation_id: str
    function_name: str
    function_directory: str
    thread_local_storage: threading.local = field(default_factory=threading.local)
    trace_context: Any = None
    retry_context: Any = None


def invoke(function: Function, trigger_value: Any) -> Any:
    """Call the entry point with its bindings by name; returns the ``$return`` or http output."""
    if function.main is None:
        raise RuntimeError(f"function {function.name} is not loaded: {function.error}")
    invocation_id = str(uuid.uuid4())
    token = invocation_label.set(f"{function.name} {invocation_id[:8]}")
    started = time.monotonic()
    try:
        trigger_name = str(function.trigger.get("name"))
        outputs: dict[str, _Out] = {}
        kwargs: dict[str, Any] = {}
        for parameter in inspect.signature(function.main).parameters.values():
            if parameter.name == trigger_name:
                kwargs[parameter.name] = trigger_value
            elif parameter.name == "context":
                kwargs["context"] = InvocationContext(invocation_id, function.name, str(function.directory))
            elif any(b.get("name") == parameter.name and b.get("direction") == "out" for b in function.bindings):
                outputs[parameter.name] = kwargs[parameter.name] = _Out()
        LOG.info("Executing '%s' (Id=%s)", function.name, invocation_id)
        try:
            try:
                result = function.main(**kwargs)
                if inspect.isawaitable(result):
                    result = asyncio.run(_awaited(result))
            finally:
                elapsed = time.monotonic() - started
                if function.timeout is not None and elapsed > function.timeout:
                    # Azure would have stopped it; a Python thread cannot be stopped, so say it loudly.
                    LOG.error("'%s' ran %.0f s, over host.json functionTimeout (%.0f s): Azure would cut it off",
                              function.name, elapsed, function.timeout)
        except Exception:
            LOG.exception("Executed '%s' (Failed, Id=%s, Duration=%dms)", function.name, invocation_id,
                          (time.monotonic() - started) * 1000)
            raise
        LOG.info("Executed '%s' (Succeeded, Id=%s, Duration=%dms)", function.name, invocation_id,
                 (time.monotonic() - started) * 1000)
        output = function.http_output
        if output is not None and output != "$return":
            return outputs[output].get() if output in outputs else None
        return result
    finally:
        invocation_label.reset(token)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
