"""A function's import graph holds only what it needs: the cold-start gain cannot quietly return.

Each check runs in a fresh `python -I` process (`devtools/first_call.py`), as a new worker does:
importing any function folder loads no Storage SDK, no azure-core, no azure-identity, no HTTP
client and no e-mail validator (each is imported by the code path that uses it, on the first
call). A first call then loads only the SDKs that its own path uses: no journey step, no Health
and no Config ever loads the queue SDK, and Health (a table ping) never loads the blob SDK.
`bench/cold_start.py` measures what this saves.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from devtools import stack
from devtools.first_call import run_in_fresh_process, sample_inputs
from tests.conftest import Dataverse

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.parent.name for path in ROOT.glob("*/function.json"))

# Loaded by the code that uses them, never by importing a function folder.
NOT_AT_IMPORT = ("azure.core", "azure.data.tables", "azure.storage.blob", "azure.storage.queue", "azure.identity",
                 "requests", "email_validator")


def loaded(report: dict, packages: tuple[str, ...]) -> list[str]:
    """The modules of `packages` (each a package or module name) that the process had loaded."""
    return [name for name in report["modules"] if any(name == p or name.startswith(p + ".") for p in packages)]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_importing_a_function_loads_no_sdk_and_no_http_client(function: str) -> None:
    report = run_in_fresh_process(sys.executable, root=ROOT, function=function)
    assert loaded(report, NOT_AT_IMPORT) == [], f"importing {function} loaded modules it does not need yet"


def test_the_check_sees_a_module_that_is_loaded() -> None:
    report = run_in_fresh_process(sys.executable, modules="azure.storage.queue")
    assert "azure.storage.queue" in loaded(report, NOT_AT_IMPORT)


# The first call of each function on the stack, and the SDKs its path must never load.
FIRST_CALLS = [
    ("CreateUpdateLead", 200, ("azure.storage.queue",)),
    ("AddActivity", 200, ("azure.storage.queue",)),
    ("AddToMarketingList", 422, ("azure.storage.queue",)),  # the list does not exist: refused, not failed
    ("Health", 200, ("azure.storage.queue", "azure.storage.blob")),
    ("Config", 200, ("azure.storage.queue", "azure.data.tables", "azure.identity")),
]


@pytest.mark.parametrize(("function", "status", "never"), FIRST_CALLS, ids=[f[0] for f in FIRST_CALLS])
def test_a_first_call_loads_only_the_storage_sdks_its_path_uses(
    function: str, status: int, never: tuple[str, ...], azurite: stack.Service, emulator: stack.Service,
    dataverse: Dataverse,
) -> None:
    env = {**azurite.env, **emulator.env, "CONFIG_CONTAINER": f"cold-{uuid.uuid4().hex[:12]}"}
    report = run_in_fresh_process(sys.executable, root=ROOT, function=function,
                                  trigger_input=sample_inputs(ROOT)[function], env=env)
    assert report["outcome"] == "answered"
    assert report["status"] == status, report["body"]
    if function in ("CreateUpdateLead", "AddActivity"):
        assert json.loads(report["body"])["dynamicsRequests"] >= 1  # the step ran against the emulator
    assert loaded(report, never) == [], f"the first call of {function} loaded an SDK its path never uses"
