"""openapi.yaml and the function folders agree: every HTTP route and method, both ways."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.config import Configuration, SyncSettings

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))


def _route_prefix() -> str:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    return str(host.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")


def _normalise(route: str) -> str:
    # `{id:guid}` and `{id?}` name the same parameter as `{id}`.
    return re.sub(r"\{([A-Za-z0-9_]+)(?::[^}]*)?\??\}", r"{\1}", route.strip("/"))


def http_functions() -> dict[tuple[str, str], dict[str, Any]]:
    """(path under the server base, method) -> the function's trigger binding, for every HTTP function."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(ROOT.glob("*/function.json")):
        bindings = json.loads(path.read_text(encoding="utf-8")).get("bindings", [])
        for binding in bindings:
            if binding.get("type") != "httpTrigger":
                continue
            route = _normalise(binding.get("route") or path.parent.name)
            for method in binding.get("methods") or sorted(METHODS - {"head", "options"}):
                key = ("/" + route, method.lower())
                assert key not in found, f"two functions serve {key}"
                found[key] = {**binding, "function": path.parent.name}
    return found


def documented(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (_normalise_path(path), method): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _normalise_path(path: str) -> str:
    return "/" + _normalise(path)


def test_the_servers_end_in_the_route_prefix(spec: dict[str, Any]) -> None:
    for server in spec["servers"]:
        assert server["url"].rstrip("/").endswith("/" + _route_prefix())


def test_there_are_http_functions() -> None:
    assert http_functions(), "no function.json with an httpTrigger found"


def test_every_http_function_is_documented(spec: dict[str, Any]) -> None:
    missing = sorted(set(http_functions()) - set(documented(spec)))
    assert not missing, f"function routes missing from openapi.yaml: {missing}"


def test_every_documented_operation_has_a_function(spec: dict[str, Any]) -> None:
    extra = sorted(set(documented(spec)) - set(http_functions()))
    assert not extra, f"openapi.yaml operations no function serves: {extra}"


def test_security_matches_the_auth_level(spec: dict[str, Any]) -> None:
    functions = http_functions()
    for key, operation in documented(spec).items():
        if key not in functions:
            continue
        anonymous = functions[key]["authLevel"] == "anonymous"
        security = operation.get("security", spec["security"])
        assert (security == []) == anonymous, f"{key}: security {security} vs authLevel {functions[key]['authLevel']}"


def test_every_operation_answers_problems_and_request_ids(spec: dict[str, Any]) -> None:
    for key, operation in documented(spec).items():
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), key
        if operation.get("security", spec["security"]):
            assert "401" in responses, f"{key} lacks 401"
        if "requestBody" in operation:
            for code in ("400", "413", "415"):
                assert code in responses, f"{key} takes a body but lacks {code}"
        for code, response in responses.items():
            resolved = _resolve(spec, response)
            assert "x-request-id" in resolved.get("headers", {}), f"{key} {code} lacks x-request-id"
            if code.startswith(("4", "5")) and key != ("/health", "get"):
                assert "application/problem+json" in resolved["content"], f"{key} {code} is not problem+json"


def test_exactly_the_endpoints_not_built_yet_document_501(spec: dict[str, Any]) -> None:
    placeholders = {
        key for key, binding in http_functions().items()
        if "not_implemented(" in (ROOT / binding["function"] / "__init__.py").read_text(encoding="utf-8")
    }
    documented_501 = {key for key, operation in documented(spec).items() if "501" in operation["responses"]}
    assert documented_501 == placeholders


def test_every_reference_resolves(spec: dict[str, Any]) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                _resolve(spec, node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)


@pytest.mark.parametrize("model", [Configuration, SyncSettings])
def test_the_settings_documents_match_their_models(spec: dict[str, Any], model: Any) -> None:
    generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = spec["components"]["schemas"]
    for name, schema in generated.pop("$defs", {}).items():
        assert schemas[name] == _strip_titles(schema), f"components.schemas.{name} differs from the model"
    assert schemas[model.__name__] == _strip_titles(generated)


def test_the_step_request_schemas_have_the_models_fields(spec: dict[str, Any]) -> None:
    steps = pytest.importorskip("shared.steps.models")
    schemas = spec["components"]["schemas"]
    for name in ("LeadRequest", "ActivityRequest", "ListRequest", "ActivitySpec", "ListRef", "Person"):
        model = getattr(steps, name)
        fields = {field.alias or field_name for field_name, field in model.model_fields.items()}
        assert set(schemas[name]["properties"]) == fields, f"components.schemas.{name} vs {model.__name__}"


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            assert part in target, f"unresolved reference {ref}"
            target = target[part]
        node = target
    return node
