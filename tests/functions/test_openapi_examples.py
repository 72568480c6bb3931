"""Every request example in openapi.yaml works as shown against the demo data (devtools/demo_seed.json).

A reader copies an example first: it must not answer a 422 for a list the demo lacks, or a 400.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import yaml

from devtools import stack

SPEC = yaml.safe_load((stack.REPO_ROOT / "openapi.yaml").read_text(encoding="utf-8"))
DEMO_SEED = json.loads((stack.REPO_ROOT / "devtools" / "demo_seed.json").read_text(encoding="utf-8"))


def _examples() -> list[Any]:
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            bodies = [content["example"]] if "example" in content else []
            bodies += [example["value"] for example in content.get("examples", {}).values()]
            for index, body in enumerate(bodies):
                expected = 501 if "501" in operation["responses"] else 200
                found.append(pytest.param(method.upper(), path, body, expected, id=f"{method.upper()} {path} #{index}"))
    return found


def test_the_spec_has_request_examples() -> None:
    assert len(_examples()) >= 3


@pytest.mark.parametrize(("method", "path", "body", "expected"), _examples())
def test_each_request_example_answers_as_documented_on_the_demo_data(
    dataverse: Any, function_host: stack.Service, function_key: str, method: str, path: str, body: Any,
    expected: int,
) -> None:
    dataverse.seed(DEMO_SEED)
    response = requests.request(method, f"{function_host.url}/api{path}", json=body,
                                headers={"x-functions-key": function_key}, timeout=60)
    assert response.status_code == expected, response.text
