"""Use-cases of the control surface: the versioned settings documents and the health check."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import TYPE_CHECKING, Any

import azure.functions as func
from pydantic import BaseModel

from shared.http import if_match_tags, json_response, method_not_allowed, parse_body
from shared.settings import SettingsError
from shared.store import StorageError, StorageUnavailableError, VersionedDocumentStore

if TYPE_CHECKING:
    from shared.app import Dependencies

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store"}


def document_endpoint(req: func.HttpRequest, store: VersionedDocumentStore[Any]) -> func.HttpResponse:
    """GET answers the document with its `ETag`; PUT needs `If-Match` (428 without it or with `*`,
    412 when no listed tag is current), validates the body and answers the stored document with
    its new `ETag`."""
    if req.method.upper() == "GET":
        doc, etag = store.get()
        return json_response(doc, headers={"ETag": etag, **_NO_STORE})
    if req.method.upper() == "PUT":
        new_doc: BaseModel = parse_body(req, store.model)
        tags = if_match_tags(req)
        etag = store.put(new_doc, if_match=tags)
        log.info("document %s replaced", store.name)
        return json_response(new_doc, headers={"ETag": etag, **_NO_STORE})
    return method_not_allowed(req, ["GET", "PUT"])


def health_response(dependencies: Callable[[], Dependencies], *, timeout: float = 10.0) -> func.HttpResponse:
    """Whether Dynamics (WhoAmI) and Storage answer, each with its latency: 200 when both do, else 503.

    The body names only a category of failure, never a message: the endpoint is anonymous.
    """
    try:
        deps = dependencies()
    except SettingsError as exc:
        log.error("health: the app settings are invalid: %s", exc)
        failed = {"ok": False, "latencyMs": 0, "error": "misconfigured"}
        return _health(503, {"dynamics": failed, "storage": failed})

    def whoami() -> None:
        deps.dynamics_probe.call_function("WhoAmI")

    def storage() -> None:
        deps.storage.ping(timeout=5.0)

    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")
    futures = {"dynamics": pool.submit(_timed, whoami), "storage": pool.submit(_timed, storage)}
    deadline = time.monotonic() + timeout
    checks: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        try:
            checks[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FuturesTimeout:
            log.warning("health: %s gave no answer within %.0f s", name, timeout)
            checks[name] = {"ok": False, "latencyMs": round(timeout * 1000), "error": "unavailable"}
    pool.shutdown(wait=False)  # a hung check must not hold the answer
    healthy = all(check["ok"] for check in checks.values())
    return _health(200 if healthy else 503, checks)


def _health(status: int, checks: dict[str, dict[str, Any]]) -> func.HttpResponse:
    body = {"status": "healthy" if status == 200 else "unhealthy", "checks": checks}
    headers = dict(_NO_STORE)
    if status == 503:
        headers["Retry-After"] = "30"
    return json_response(body, status=status, headers=headers)


def _timed(check: Callable[[], None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        latency = round((time.perf_counter() - started) * 1000)
        category = _category(exc)
        log.warning("health: %s failed after %d ms (%s)", check.__name__, latency, type(exc).__name__)
        return {"ok": False, "latencyMs": latency, "error": category}
    return {"ok": True, "latencyMs": round((time.perf_counter() - started) * 1000)}


def _category(exc: Exception) -> str:
    from shared.dynamics.errors import DataverseAuthError, DataverseError, DataverseUnavailableError

    if isinstance(exc, DataverseAuthError):
        return "unauthorized"
    if isinstance(exc, DataverseUnavailableError | StorageUnavailableError):
        return "unavailable"
    if isinstance(exc, DataverseError | StorageError):
        return "refused"
    return "error"
