"""Use-cases of the control surface: the versioned settings documents and the health check."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import TYPE_CHECKING, Any

import azure.functions as func
from pydantic import BaseModel

from shared.http import ProblemError, if_match_tags, json_response, method_not_allowed, parse_body
from shared.settings import SettingsError
from shared.store import StorageError, StorageUnavailableError, VersionedDocumentStore

if TYPE_CHECKING:
    from shared.app import Dependencies
    from shared.config import Configuration

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store"}


ErrorItem = tuple[tuple[str | int, ...], str]


def document_endpoint(
    req: func.HttpRequest,
    store: VersionedDocumentStore[Any],
    check: Callable[[Any], None] | None = None,
    offline_errors: Callable[[Any], list[ErrorItem]] | None = None,
    before_write: Callable[[Any, list[str]], None] | None = None,
) -> func.HttpResponse:
    """GET answers the document with its `ETag`. PUT, in order: the body and the checks that need
    no Dynamics (the schema, then `offline_errors` on the document, or on its JSON when the
    schema refused it: one 400 listing every problem); `If-Match` (428 without it or with `*`);
    `check`, which may ask Dynamics (it raises a problem: 400, 503); `before_write` (the new
    document and the listed tags); the write, only if a listed tag is current (412 otherwise).
    Answers the stored document with its new `ETag`; a refused PUT writes nothing."""
    if req.method.upper() == "GET":
        doc, etag = store.get()
        return json_response(doc, headers={"ETag": etag, **_NO_STORE})
    if req.method.upper() == "PUT":
        try:
            new_doc: BaseModel = parse_body(req, store.model)
        except ProblemError as exc:
            if offline_errors is not None and exc.status == 400 and exc.errors:
                raise _with_errors(exc, offline_errors(json.loads(req.get_body()))) from None
            raise
        found = offline_errors(new_doc) if offline_errors is not None else []
        if found:
            raise _with_errors(ProblemError(400, "Invalid request", "", errors=[]), found)
        tags = if_match_tags(req)
        if check is not None:
            check(new_doc)
        if before_write is not None:
            before_write(new_doc, tags)
        etag = store.put(new_doc, if_match=tags)
        log.info("document %s replaced", store.name)
        return json_response(new_doc, headers={"ETag": etag, **_NO_STORE})
    return method_not_allowed(req, ["GET", "PUT"])


def _with_errors(problem: ProblemError, extra: list[ErrorItem]) -> ProblemError:
    """`problem` (a 400) with the `extra` errors whose place none of its errors already covers."""
    errors = list(problem.errors or [])
    known = [tuple(item["loc"]) for item in errors]
    for loc, msg in extra:
        if not any(loc[: len(place)] == place for place in known):
            errors.append({"loc": list(loc), "msg": msg})
    count = len(errors)
    return ProblemError(400, problem.title, f"The request has {count} invalid field{'s' if count != 1 else ''}.",
                        errors=errors, headers=problem.headers)


def configuration_repeats(document: Any) -> list[ErrorItem]:
    """The one-writer repeats of a configuration (a valid document, or JSON the schema refused)."""
    # Deferred: the checks load the Dataverse client package, which a GET never needs.
    from shared.config import Configuration
    from shared.config_checks import repeat_errors

    return repeat_errors(document) if isinstance(document, Configuration | dict) else []


def check_configuration(deps: Dependencies, config: Configuration) -> None:
    """Every column a valid configuration names, against the columns of Lead, Contact and Account
    read afresh (three requests; the worker's metadata cache is refreshed with them): a 400
    listing each misfit. Dynamics unreachable: its 503 with `Retry-After` (`shared.http.problem_for`).
    The checks that need no Dynamics (`configuration_repeats`) have run before.
    """
    from shared.config_checks import METADATA_TABLES, metadata_errors  # deferred, as above

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
