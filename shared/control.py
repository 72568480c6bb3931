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

from shared.config import Configuration
from shared.config_checks import METADATA_TABLES, metadata_errors, repeat_errors
from shared.http import ProblemError, if_match_tags, json_response, method_not_allowed, parse_body
from shared.settings import SettingsError
from shared.store import StorageError, StorageUnavailableError, VersionedDocumentStore

if TYPE_CHECKING:
    from shared.app import Dependencies

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store"}


def document_endpoint(
    req: func.HttpRequest, store: VersionedDocumentStore[Any], check: Callable[[Any], None] | None = None
) -> func.HttpResponse:
    """GET answers the document with its `ETag`; PUT validates the body, needs `If-Match` (428
    without it or with `*`), runs `check` on the new document (it raises a problem: 400, 503),
    then writes only if a listed tag is current (412 otherwise) and answers the stored document
    with its new `ETag`. A refused PUT writes nothing."""
    if req.method.upper() == "GET":
        doc, etag = store.get()
        return json_response(doc, headers={"ETag": etag, **_NO_STORE})
    if req.method.upper() == "PUT":
        new_doc: BaseModel = parse_body(req, store.model)
        tags = if_match_tags(req)
        if check is not None:
            check(new_doc)
        etag = store.put(new_doc, if_match=tags)
        log.info("document %s replaced", store.name)
        return json_response(new_doc, headers={"ETag": etag, **_NO_STORE})
    return method_not_allowed(req, ["GET", "PUT"])


def check_configuration(deps: Dependencies, config: Configuration) -> None:
    """The checks of a configuration beyond its schema, as `PUT /api/config` runs them.

    First those that need no Dynamics (one writer per column): any failure is a 400 listing all
    of them. Then every column named, against the columns of Lead, Contact and Account read
    afresh (three requests; the worker's metadata cache is refreshed with them): a 400 listing
    each misfit. Dynamics unreachable: its 503 with `Retry-After` (`shared.http.problem_for`).
    """
    errors = repeat_errors(config)
    if not errors:
        tables = deps.metadata.refresh(deps.dynamics, METADATA_TABLES)
        errors = metadata_errors(config, tables)
    if errors:
        items = [{"loc": list(loc), "msg": msg} for loc, msg in errors]
        count = len(items)
        raise ProblemError(400, "Invalid configuration",
                           f"The configuration has {count} problem{'s' if count != 1 else ''}; nothing was saved.",
                           errors=items)


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
