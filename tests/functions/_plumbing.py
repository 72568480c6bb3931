"""Helpers for calling function entry points directly with `func.HttpRequest` against real Azurite."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest

from shared.app import reset_dependencies


def load(function_folder: str) -> ModuleType:
    """The entry-point module of a function folder (`Config`, `Health`, ...)."""
    return importlib.import_module(function_folder)


def request(
    method: str,
    route: str,
    body: bytes | str | Any = b"",
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    if isinstance(body, str):
        raw = body.encode("utf-8")
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode("utf-8")
    all_headers = {"content-type": "application/json"} if raw else {}
    all_headers.update(headers or {})
    return func.HttpRequest(
        method, f"http://localhost/api/{route}", headers=all_headers, params=params or {}, body=raw
    )


def app_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[None]:
    """Set the app settings for one test and rebuild the dependency cache around it."""
    for name in ("DYNAMICS_STATIC_TOKEN", "CONFIG_CONTAINER", "IDEMPOTENCY_TABLE", "SYNC_TABLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_dependencies()
    yield
    reset_dependencies()


def body_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


Call = Callable[..., func.HttpResponse]
