"""The deployment package (`make package`) runs on its own, as Azure would run it.

The package is built once for the session, unpacked into an empty directory, and every check
runs a clean interpreter on it: `python -I -S` (no site-packages, no environment paths) whose
path is the standard library plus that directory, as the Python worker sets it up.
"""

from __future__ import annotations

import json
import sys
import uuid
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest
import requests
from packaging.requirements import Requirement

from devtools import package, stack
from devtools.first_call import run_in_fresh_process, sample_inputs
from tests.conftest import Dataverse

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.parent.name for path in ROOT.glob("*/function.json"))
CLEAN_PYTHON = getattr(sys, "_base_executable", sys.executable)  # the interpreter without this venv
DEV_ONLY = {"pytest", "ruff", "mypy", "hypothesis", "pyyaml", "powerplatform-dataverse-client", "pandas", "numpy",
            "pip-tools", "types-requests"}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package.build(tmp_path_factory.mktemp("dist") / "app.zip")


@pytest.fixture(scope="session")
def unpacked(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("wwwroot")
    assert not any(target.iterdir())
    with zipfile.ZipFile(built) as archive:
        archive.extractall(target)
    yield target


def _locked() -> set[str]:
    lines = (ROOT / package.LOCK_FILE).read_text(encoding="utf-8").splitlines()
    return {_normal(Requirement(line.split("\\")[0]).name) for line in lines if line and line[0].isalnum()}


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_the_package_holds_the_app_and_the_locked_runtime_dependencies_only(built: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        wheels = {name: archive.read(name).decode() for name in names if name.endswith(".dist-info/WHEEL")}
        metadata = {name: archive.read(name).decode() for name in names if name.endswith(".dist-info/METADATA")}
    assert {name.split("/")[0] for name in names} == {*FUNCTIONS, "shared", "host.json", "requirements.txt",
                                                      ".python_packages"}
    assert {"host.json", "requirements.txt", "shared/http.py", "CreateUpdateLead/function.json"} <= set(names)
    installed = {_normal(Parser().parsestr(text)["Name"]) for text in metadata.values()}
    assert all(name.startswith(package.SITE_PACKAGES + "/") for name in metadata)
    assert installed == _locked()
    assert not installed & DEV_ONLY
    for name, text in wheels.items():  # pure Python, or built for CPython 3.11 on Linux x86-64
        tags = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Tag: ")]
        assert all(tag.endswith("-none-any") or ("x86_64" in tag and "linux" in tag and "cp3" in tag)
                   for tag in tags), (name, tags)


def test_the_lock_file_pins_every_runtime_requirement_with_hashes() -> None:
    lock = (ROOT / package.LOCK_FILE).read_text(encoding="utf-8")
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert f"{name.lower()}=={version}" in lock.lower(), name
    entries = [entry for entry in lock.split("\n") if entry and entry[0].isalnum()]
    assert entries and all("==" in entry and entry.endswith("\\") for entry in entries)  # a hash line follows each


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_imports_from_the_unpacked_package_alone(unpacked: Path, function: str) -> None:
    report = run_in_fresh_process(CLEAN_PYTHON, root=unpacked, function=function, stdlib_only=True)
    assert function in report["modules"]
    assert report["foreign"] == []  # nothing from this venv or the system's site-packages


def test_a_journey_step_runs_end_to_end_from_the_unpacked_package(
    unpacked: Path, azurite: stack.Service, emulator: stack.Service, dataverse: Dataverse
) -> None:
    email = f"package.{uuid.uuid4().hex[:8]}@example.com"
    trigger_input = sample_inputs(unpacked)["CreateUpdateLead"]
    trigger_input["body"]["person"]["email"] = email
    env = {**azurite.env, **emulator.env, "CONFIG_CONTAINER": f"pkg-{uuid.uuid4().hex[:12]}"}
    report = run_in_fresh_process(CLEAN_PYTHON, root=unpacked, function="CreateUpdateLead",
                                  trigger_input=trigger_input, env=env, stdlib_only=True)
    assert report["status"] == 200, report["body"]
    assert json.loads(report["body"])["outcome"] == "created"
    assert report["foreign"] == []  # every module the step loaded came from the package or the stdlib
    leads = requests.get(f"{dataverse.api}leads", params={"$filter": f"emailaddress1 eq '{email}'"},
                         headers=dataverse.auth_headers, timeout=10).json()["value"]
    assert len(leads) == 1
