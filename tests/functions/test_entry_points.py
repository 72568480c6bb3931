"""Every function folder, called directly: thin entry points that never answer without a request id.

The local host and Azure turn an exception that escapes an HTTP entry point into a bare 500
(no body, no `x-request-id`). These tests make sure no entry point of this app can let one escape.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from shared.http import endpoint
from tests.functions._plumbing import load

ROOT = Path(__file__).resolve().parents[2]


def _triggers(kind: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(ROOT.glob("*/function.json")):
        trigger = json.loads(path.read_text(encoding="utf-8"))["bindings"][0]
        if trigger["type"] == kind:
            found.append((path.parent.name, trigger))
    return found


HTTP_FUNCTIONS = _triggers("httpTrigger")
_ENDPOINT_CODE = endpoint(lambda req: req).__code__  # type: ignore[arg-type, return-value]


def test_the_app_has_the_folders_the_design_asks_for() -> None:
    names = {path.parent.name for path in ROOT.glob("*/function.json")}
    assert names >= {"CreateUpdateLead", "AddActivity", "AddToMarketingList", "CampaignExport", "JourneyBatch",
                     "ScheduledSync", "Config", "Health", "SyncSettings", "IdempotencyPurge"}
    for name in names:
        assert (ROOT / name / "__init__.py").is_file()
        # Thin: bindings in function.json, logic in shared.
        assert len((ROOT / name / "__init__.py").read_text(encoding="utf-8").splitlines()) <= 20, name


@pytest.mark.parametrize(("name", "trigger"), HTTP_FUNCTIONS, ids=[name for name, _ in HTTP_FUNCTIONS])
def test_every_http_entry_point_is_wrapped_by_endpoint(name: str, trigger: dict[str, Any]) -> None:
    assert load(name).main.__code__ is _ENDPOINT_CODE, f"{name}.main is not decorated with @endpoint"


@pytest.mark.parametrize(("name", "trigger"), HTTP_FUNCTIONS, ids=[name for name, _ in HTTP_FUNCTIONS])
def test_when_the_app_cannot_start_every_http_function_answers_a_problem_with_a_request_id(
    name: str, trigger: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(name)
    if hasattr(module, "dependencies"):
        monkeypatch.setattr(module, "dependencies", _broken_dependencies)
    route = re.sub(r"\{[^}]*\}", str(uuid.uuid4()), trigger["route"])
    method = trigger["methods"][0].upper()
    body = b'{"person": {"email": "ada@example.com"}, "subject": "s"}' if method in ("POST", "PUT") else b""
    request = func.HttpRequest(method, f"http://localhost/api/{route}", body=body,
                               headers={"content-type": "application/json", "x-request-id": "entry-1"})
    response = module.main(request)
    assert isinstance(response, func.HttpResponse)
    assert response.headers["x-request-id"] == "entry-1"
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", name
        problem = json.loads(response.get_body())
        assert problem["status"] == response.status_code
        assert "Traceback" not in response.get_body().decode()
        assert "secret-setting" not in response.get_body().decode()
    else:
        assert response.mimetype == "application/json"


def _broken_dependencies() -> Any:
    raise RuntimeError("cannot build the dependencies: secret-setting")
