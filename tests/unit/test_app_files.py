"""The files that make the folder a function app: host.json, settings, dependencies, .funcignore.

Each test reads the committed file, so a careless edit (an unpinned package, a setting nobody
documents, a test folder in the deployment) fails here rather than in Azure.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from devtools.localhost import parse_timespan
from shared.settings import _ENV_NAMES, Settings

ROOT = Path(__file__).resolve().parents[2]


def _json(name: str) -> dict:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


def _requirements(name: str) -> list[Requirement]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in (ln.split("#")[0].strip() for ln in lines) if line and not line.startswith("-")]


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


# -- host.json --------------------------------------------------------------------------------


def test_host_json_is_v2_with_extension_bundle_4() -> None:
    host = _json("host.json")
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    assert host["extensions"]["http"]["routePrefix"] == "api"


def test_host_json_queue_settings_keep_the_documented_promises() -> None:
    queues = _json("host.json")["extensions"]["queues"]
    assert queues["maxDequeueCount"] == 5  # README: after 5 failed deliveries, <queue>-poison
    assert queues["messageEncoding"] == "base64"  # what StorageClients.queue() sends
    assert 1 <= queues["batchSize"] <= 32
    assert 0 <= queues["newBatchThreshold"] < queues["batchSize"]
    assert parse_timespan(queues["visibilityTimeout"]) > 0  # a failed message waits before its retry


def test_function_timeout_fits_consumption_and_is_shorter_than_the_idempotency_lease() -> None:
    host = _json("host.json")
    timeout = parse_timespan(host["functionTimeout"])
    assert 0 < timeout <= 600  # the Consumption plan's maximum
    # A claim must outlive the attempt holding it, or a retry could run beside a slow first attempt.
    assert Settings.model_fields["idempotency_lease_seconds"].default > timeout
    assert set(host["logging"]["logLevel"]) >= {"default", "Function"}


# -- settings ---------------------------------------------------------------------------------


EXAMPLE = _json("local.settings.example.json")["Values"]


def test_the_example_settings_name_every_setting_the_app_and_the_local_host_read() -> None:
    assert set(EXAMPLE) == {*_ENV_NAMES.values(), "FUNCTIONS_WORKER_RUNTIME", "LOCAL_FUNCTION_KEY"}
    assert EXAMPLE["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_the_example_settings_are_a_valid_local_configuration() -> None:
    settings = Settings.from_env(EXAMPLE)
    assert settings.dynamics_is_loopback
    assert settings.dynamics_url == "http://127.0.0.1:7072"  # the emulator of `make run`


def test_readme_explains_every_example_setting() -> None:
    table = _readme_section("Settings")
    documented = set(re.findall(r"^\|[^|]*", table, re.MULTILINE))
    names = {name for cell in documented for name in re.findall(r"`([A-Za-z_]+)`", cell)}
    assert set(EXAMPLE) <= names, set(EXAMPLE) - names


@pytest.mark.parametrize(
    ("env_name", "field"),
    [("IDEMPOTENCY_RETENTION_DAYS", "idempotency_retention_days"),
     ("IDEMPOTENCY_LEASE_SECONDS", "idempotency_lease_seconds"),
     ("PERSON_LOCK_LEASE_SECONDS", "person_lock_lease_seconds")],
)
def test_readme_states_the_bounds_the_settings_enforce(env_name: str, field: str) -> None:
    row = next(line for line in _readme_section("Settings").splitlines() if line.startswith(f"| `{env_name}`"))
    metadata = {type(m).__name__: m for m in Settings.model_fields[field].metadata}
    low, high = metadata["Ge"].ge, metadata["Le"].le
    assert re.search(rf"\b{low}-{high:,}\b|\b{low}-{high}\b", row), row
    assert f"`{Settings.model_fields[field].default}`" in row  # the example's value is the default


# -- dependencies -----------------------------------------------------------------------------


def test_every_requirement_is_pinned_and_runtime_holds_no_dev_tools() -> None:
    runtime = _requirements("requirements.txt")
    dev = _requirements("requirements-dev.txt")
    for requirement in runtime + dev:
        assert len(requirement.specifier) == 1 and next(iter(requirement.specifier)).operator == "==", requirement
    assert not {r.name.lower() for r in runtime} & {"pytest", "ruff", "mypy", "pyyaml", "cryptography"}
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    for requirement in runtime + dev:  # what is installed is what was tested
        assert importlib.metadata.version(requirement.name) == next(iter(requirement.specifier)).version


def test_readme_says_why_each_dependency_is_there() -> None:
    section = _readme_section("Dependencies").lower()
    for requirement in _requirements("requirements.txt") + _requirements("requirements-dev.txt"):
        assert f"`{requirement.name.lower()}`" in section, requirement.name
    assert "`azurite`" in section


def _deployed_python_files() -> list[Path]:
    folders = {path.parent for path in ROOT.glob("*/function.json")}
    return [*ROOT.joinpath("shared").rglob("*.py"), *(p for folder in folders for p in folder.glob("*.py"))]


def _distribution_of(module: str) -> str | None:
    if module.split(".")[0] in sys.stdlib_module_names or module.split(".")[0] in ("shared", "__future__"):
        return None
    if module.startswith("azure."):
        parts = module.split(".")
        for size in range(len(parts), 1, -1):  # azure.storage.queue -> azure-storage-queue
            candidate = "-".join(parts[:size])
            try:
                return importlib.metadata.distribution(candidate).metadata["Name"].lower()
            except importlib.metadata.PackageNotFoundError:
                continue
    names = importlib.metadata.packages_distributions().get(module.split(".")[0])
    return names[0].lower() if names else module


def _with_dependencies(names: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name.lower())
    return seen


def test_deployed_code_imports_only_what_requirements_txt_installs() -> None:
    installed = _with_dependencies({r.name.lower() for r in _requirements("requirements.txt")})
    missing: dict[str, str] = {}
    for path in _deployed_python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for module in modules:
                dist = _distribution_of(module)
                if dist is not None and dist not in installed:
                    missing[f"{path.relative_to(ROOT)}: {module}"] = dist
    assert missing == {}


def test_azurite_is_pinned_in_package_json_and_its_lock_file() -> None:
    pinned = _json("package.json")["devDependencies"]["azurite"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)
    assert _json("package-lock.json")["packages"]["node_modules/azurite"]["version"] == pinned


# -- the deployment package ---------------------------------------------------------------------


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    for pattern in patterns:
        directory = pattern.endswith("/")
        name = pattern.rstrip("/")
        candidates = parts[:-1] if directory else parts
        if any(fnmatch.fnmatch(part, name) for part in candidates) or fnmatch.fnmatch(path, name):
            return True
    return False


def test_funcignore_keeps_everything_but_the_app_out_of_a_deployment() -> None:
    patterns = [line.strip() for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    deployed = {path for path in tracked if not _ignored(path, patterns)}
    functions = {path.parent.name for path in ROOT.glob("*/function.json")}
    unexpected = {p for p in deployed if p.split("/")[0] not in {"shared", *functions}} - {
        "host.json", "requirements.txt"}
    assert unexpected == set()
    assert {"host.json", "requirements.txt", "shared/http.py", "Config/function.json"} <= deployed
    for kept_out in ("devtools/localhost/host.py", "tests/conftest.py", "bench/README.md", "local.settings.example.json",
                     "requirements-dev.txt", "package.json", ".ci/run", "Makefile"):
        assert kept_out in tracked and kept_out not in deployed, kept_out


# -- README: what is built --------------------------------------------------------------------


def test_readme_says_which_functions_are_built_and_which_are_placeholders() -> None:
    rows = [line.split("|")[1:-1] for line in _readme_section("What is built").splitlines()
            if line.startswith("| `")]
    listed = {name: state.strip() for functions, _, state in rows for name in re.findall(r"`(\w+)`", functions)}
    folders = {path.parent.name for path in ROOT.glob("*/function.json")}
    assert set(listed) == folders
    for name in folders:
        code = (ROOT / name / "__init__.py").read_text(encoding="utf-8")
        placeholder = "not_implemented(" in code or "not_built(" in code
        assert listed[name] == ("Not built: 501" if placeholder else "Built"), name


def test_the_repository_documents_itself_without_outside_references() -> None:
    # Spelled in pieces so this file does not match itself.
    outside = re.compile("CONTR" + "ACT|\\.\\./sha" + "red|/wo" + "rk/|the contr" + "act", re.IGNORECASE)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in tracked:
        path = ROOT / name
        if not path.is_file() or path.suffix not in {".py", ".md", ".yaml", ".yml", ".json", ".txt", ""}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if outside.search(line):
                found.append(f"{name}:{number}: {line.strip()[:100]}")
    assert found == []
