"""The HTTP edge of every function: request -> pydantic model, errors -> problem+json, request ids, masking.

Entry points look like this:

    @endpoint
    def main(req: func.HttpRequest) -> func.HttpResponse:
        request = parse_body(req, CreateUpdateLeadRequest)
        return json_response(create_update_lead(dependencies(), request))

`endpoint` gives every response an `x-request-id`, makes every log line of the invocation carry
it, and turns every exception into an RFC 9457 problem (`problem_for` is the one mapping).
Problems look like `{"type", "title", "status", "detail", "errors": [{"loc", "msg"}], "code"?}`.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.dynamics.errors import DataverseError, DataverseThrottledError, DataverseUnavailableError
from shared.masking import mask_text
from shared.settings import SettingsError
from shared.store.errors import (
    DocumentModified,
    IdempotencyConflict,
    IdempotencyInProgress,
    PersonBusy,
    StorageError,
    StorageUnavailableError,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576
"""The largest body read (1 MiB); one byte more is 413."""
REQUEST_ID_HEADER = "x-request-id"
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
DEFAULT_RETRY_AFTER_SECONDS = 30
MAX_ERROR_ITEMS = 1000

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MAX_LOC_PART = 100
_MAX_MSG = 300

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., func.HttpResponse])

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


# -- problems ----------------------------------------------------------------------------------


class ProblemError(Exception):
    """Raise to answer with a problem: `ProblemError(422, "Marketing list not found", "...", code="listNotFound")`."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        code: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    code: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> func.HttpResponse:
    """An `application/problem+json` response.

    `type` is `about:blank` (the status says it all) unless there is a reason `code`, in which
    case it is `/problems/<code>`; `errors` is always present on a 400.
    """
    phrase = _phrase(status)
    body: dict[str, Any] = {
        "type": f"/problems/{code}" if code else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
    }
    if errors is not None or status == 400:
        body["errors"] = list(errors or [])
    if code:
        body["code"] = code
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers=dict(headers or {}),
        mimetype=PROBLEM_JSON,
        charset="utf-8",
    )


# Store and settings errors a caller is told about: (class, status, title, detail, code), first match wins.
_KNOWN_PROBLEMS: tuple[tuple[type[Exception], int, str, str, str | None], ...] = (
    (IdempotencyConflict, 409, "Idempotency key reused",
     "This idempotency key was already used on this endpoint with a different body.", "idempotencyKeyReused"),
    (IdempotencyInProgress, 409, "Request in progress",
     "A request with this idempotency key is still being processed; retry later.", "idempotencyKeyInProgress"),
    (PersonBusy, 409, "Person busy",
     "Another step for this person is still being written; retry after the time in Retry-After.", "personBusy"),
    (DocumentModified, 412, "Document modified",
     "The document changed since it was read: GET it again and resend with its ETag in If-Match.",
     "documentModified"),
    (StorageUnavailableError, 503, "Storage unavailable", "Azure Storage did not answer; retry later.",
     "storageUnavailable"),
    (SettingsError, 500, "Server misconfigured", "The function app's settings are invalid; see its logs.", None),
    (StorageError, 500, "Internal Server Error", "Azure Storage refused the operation; see the logs.", None),
)


def as_problem(exc: BaseException) -> ProblemError:
    """The problem `exc` is answered with: the one mapping from exceptions to problems (no logging;
    the step log line reads its status and code from here too). Unknown exceptions are 500."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, DataverseUnavailableError):
        throttled = isinstance(exc, DataverseThrottledError)
        seconds = _retry_seconds(getattr(exc, "retry_after", None)) if throttled else DEFAULT_RETRY_AFTER_SECONDS
        return ProblemError(
            503,
            "Dynamics 365 unavailable",
            "Dynamics 365 is throttling requests; retry later."
            if throttled
            else "Dynamics 365 did not answer in time or failed; retry later.",
            code="dynamicsThrottled" if throttled else "dynamicsUnavailable",
            headers={"Retry-After": str(seconds)},
        )
    if isinstance(exc, DataverseError):
        what = f"error code {exc.code}" if exc.code else "no error code"
        return ProblemError(
            502,
            "Dynamics 365 refused the request",
            f"Dynamics 365 answered HTTP {exc.status} ({what}); retrying will not help.",
            code="dynamicsError",
        )
    for kind, status, title, detail, code in _KNOWN_PROBLEMS:
        if isinstance(exc, kind):
            retry_after = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(_retry_seconds(retry_after))} if retry_after is not None else None
            return ProblemError(status, title, detail, code=code, headers=headers)
    return ProblemError(500, _phrase(500), "An unexpected error occurred; see the logs.")


def problem_for(exc: BaseException) -> func.HttpResponse:
    """The response for `exc` (`as_problem`), logged: 5xx as warnings, unknown exceptions (bugs) with traceback."""
    problem = as_problem(exc)
    _log_problem(exc, problem)
    return problem_response(
        problem.status, problem.title, problem.detail, code=problem.code, errors=problem.errors,
        headers=problem.headers,
    )


def _log_problem(exc: BaseException, problem: ProblemError) -> None:
    if problem is exc:
        if problem.status >= 500:
            log.warning("answering %d: %s", problem.status, problem.detail)
    elif isinstance(exc, DataverseUnavailableError):
        log.warning("Dynamics unavailable (%s %s), answering 503", exc.status, exc.code or "")
    elif isinstance(exc, DataverseError):
        log.warning("Dynamics refused a call (%s %s), answering 502", exc.status, exc.code or "")
    elif not any(isinstance(exc, kind) for kind, *_ in _KNOWN_PROBLEMS):
        log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
    elif problem.status >= 500:
        # Store and settings messages name what failed, never a value or a secret.
        log.log(logging.ERROR if problem.status == 500 else logging.WARNING, "answering %d: %s", problem.status, exc)


def problem_document(exc: BaseException) -> dict[str, Any]:
    """The problem+json body `problem_for` answers for `exc`, as a dict (a batch step's error)."""
    body = json.loads(problem_for(exc).get_body())
    assert isinstance(body, dict)
    return body


def validation_errors(exc: ValidationError, *, prefix: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    """`{"loc", "msg"}` for every pydantic error; never the input, locations and messages kept short."""
    items: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = [*prefix, *(_loc_part(part) for part in error["loc"] if not _is_internal(part))]
        msg = str(error["msg"])
        for noise in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(noise)
        items.append({"loc": loc, "msg": _shorten(msg, _MAX_MSG)})
    return items


def validation_problem(exc: ValidationError, *, prefix: Sequence[str | int] = ()) -> ProblemError:
    """A 400 listing every bad field of `exc`."""
    items = validation_errors(exc, prefix=prefix)
    count = len(items)
    detail = f"The request has {count} invalid field{'s' if count != 1 else ''}."
    if count > MAX_ERROR_ITEMS:
        detail += f" The first {MAX_ERROR_ITEMS} are listed."
        items = items[:MAX_ERROR_ITEMS]
    return ProblemError(400, "Invalid request", detail, errors=items)


def _is_internal(part: str | int) -> bool:
    # pydantic names validators and union members in locations (`function-after[...]`): not fields.
    return isinstance(part, str) and part.startswith(("function-", "tagged-union[", "lax-or-strict["))


def _loc_part(part: str | int) -> str | int:
    return part if isinstance(part, int) else _shorten(str(part), _MAX_LOC_PART)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_seconds(value: float | None) -> int:
    if value is None or not math.isfinite(value) or value <= 0:
        return 1 if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    return max(1, math.ceil(value))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# -- responses ---------------------------------------------------------------------------------


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    """A JSON response; pydantic models are written with their camelCase aliases."""
    if isinstance(body, BaseModel):
        text = body.model_dump_json(by_alias=True)
    else:
        text = json.dumps(body, ensure_ascii=False)
    return func.HttpResponse(text, status_code=status, headers=dict(headers or {}), mimetype=JSON, charset="utf-8")


def method_not_allowed(req: func.HttpRequest, allowed: Sequence[str]) -> func.HttpResponse:
    return problem_response(
        405,
        detail=f"{req.method} is not supported here; use {', '.join(allowed)}.",
        headers={"Allow": ", ".join(allowed)},
    )


# -- requests ----------------------------------------------------------------------------------


def _read_text(req: func.HttpRequest) -> str:
    """The body as text, after the content-type and size checks (415, 413, 400 for bad UTF-8)."""
    _check_content_type(req.headers.get("content-type"))
    declared = req.headers.get("content-length")
    if declared and declared.strip().isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    if not raw.strip():
        raise _malformed("The request body is empty; send a JSON object.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("The request body is not valid UTF-8.") from None


def parse_request(req: func.HttpRequest, model: type[M]) -> tuple[M, Any]:
    """The body validated into `model`, and the parsed JSON as sent (to hash for idempotency)."""
    text = _read_text(req)
    data = _loads(text)
    # JSON-mode validation: strict models still accept ISO dates and the like from JSON strings.
    try:
        return model.model_validate_json(text), data
    except ValidationError as exc:
        unreadable = next((e for e in exc.errors(include_input=False) if e["type"] == "json_invalid"), None)
        if unreadable is not None:
            # JSON that Python reads but pydantic's stricter parser does not (nesting over its
            # limit, a lone surrogate escape): unreadable, not a bad field.
            reason = str(unreadable["msg"]).removeprefix("Invalid JSON: ")
            raise _malformed(f"The request body is not valid JSON: {reason}.") from None
        raise validation_problem(exc) from None


def parse_body(req: func.HttpRequest, model: type[M]) -> M:
    """The body validated into `model`; every bad field listed in a 400."""
    return parse_request(req, model)[0]


def parse_query(req: func.HttpRequest, model: type[M]) -> M:
    """Query parameters validated into `model` (locations start with `"query"`). `code` is the
    function key (Azure's own parameter), never one of the endpoint's."""
    params = {name: value for name, value in req.params.items() if name != "code"}
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise validation_problem(exc, prefix=("query",)) from None


# RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (etagc: any visible ASCII but DQUOTE,
# a comma included), in a list that may hold empty elements (5.6.1). openapi.yaml's IfMatch pattern
# is this same expression, so what the spec calls valid is exactly what is accepted.
_ENTITY_TAG = r'(?:W/)?"[!#-~]*"'
IF_MATCH_PATTERN = rf"^[ \t]*(\*|[ \t,]*{_ENTITY_TAG}([ \t]*,[ \t,]*{_ENTITY_TAG})*[ \t,]*)[ \t]*$"
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
_TAGS = re.compile(r'(W/)?("[!#-~]*")')


def if_match_tags(req: func.HttpRequest) -> list[str]:
    """The strong entity-tags of `If-Match`, for a conditional replace of a settings document.

    Missing, blank or `*` is a 428 (`ifMatchRequired`): a document is only ever replaced by
    someone who read it. A list (`"a", "b"`) matches when any tag is the current ETag; weak tags
    (`W/"a"`) never match for `If-Match` (RFC 9110 13.1.1), so they are dropped here. A header
    that is not a list of entity-tags is a 400.
    """
    value = (req.headers.get("if-match") or "").strip()
    if not value or value == "*":
        raise ProblemError(
            428, "If-Match required",
            "Replacing this document needs its current ETag in If-Match (GET it first); * is not accepted.",
            code="ifMatchRequired",
        )
    if not _IF_MATCH.fullmatch(value):
        raise ProblemError(
            400, "Invalid request", "If-Match must be a list of quoted entity-tags, e.g. \"0x8D...\".",
            errors=[{"loc": ["headers", "If-Match"], "msg": "must be a comma-separated list of quoted ETags"}],
        )
    return [tag for weak, tag in _TAGS.findall(value) if not weak]


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise _malformed(f"The request body is not valid JSON{where}.") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_content_type(value: str | None) -> None:
    if not value or not value.strip():
        return  # lenient: many senders omit it; the body must still be JSON
    media_type, _, params = value.partition(";")
    media_type = media_type.strip().lower()
    if media_type != JSON and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise ProblemError(415, "Unsupported media type", "Send the body as application/json.")
    for param in params.split(";"):
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise ProblemError(415, "Unsupported media type", "JSON bodies must be UTF-8.")


def _malformed(detail: str) -> ProblemError:
    # Unreadable JSON has no fields to list: `errors` is empty (docs/HTTP.md).
    return ProblemError(400, "Malformed JSON", detail, errors=[])


def _too_large() -> ProblemError:
    return ProblemError(413, "Body too large", f"The request body is larger than {MAX_BODY_BYTES} bytes (1 MiB).",
                        code="bodyTooLarge")


def _path(url: str) -> str:
    # Never the query string: it may carry the function key (`?code=`).
    path = url.split("?", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return path


# -- request ids and the endpoint decorator ----------------------------------------------------


def request_id_for(req: func.HttpRequest) -> str:
    """The caller's `x-request-id` when it is sane (1-128 of `A-Za-z0-9._:-`), else a new one."""
    offered = (req.headers.get(REQUEST_ID_HEADER) or "").strip()
    return offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex


def current_request_id() -> str | None:
    """The request id of the invocation running on this thread (`request_context`), if any."""
    return _request_id.get()


@contextmanager
def request_context(request_id: str) -> Iterator[str]:
    """Make log lines in this block carry `request_id` (for queue and timer functions too)."""
    install_logging()
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def endpoint(handler: F) -> F:
    """Wrap an HTTP entry point: request id in, problem+json for every error, `x-request-id` out.

    The wrapper keeps the handler's signature (the Functions worker binds parameters by name).
    """
    install_logging()

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> func.HttpResponse:
        req = _find_request(args, kwargs)
        rid = request_id_for(req) if req is not None else uuid.uuid4().hex
        started = time.perf_counter()
        with request_context(rid):
            try:
                response = handler(*args, **kwargs)
                if not isinstance(response, func.HttpResponse):
                    raise TypeError(f"{handler.__module__} returned {type(response).__name__}, not an HttpResponse")
            except Exception as exc:
                response = problem_for(exc)
            response.headers[REQUEST_ID_HEADER] = rid
            if req is not None:
                log.info("%s %s -> %d in %.0f ms", req.method, _path(req.url), response.status_code,
                         (time.perf_counter() - started) * 1000)
            return response

    return wrapper  # type: ignore[return-value]


def _find_request(args: Sequence[Any], kwargs: Mapping[str, Any]) -> func.HttpRequest | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, func.HttpRequest):
            return value
    return None


_installed = False


def install_logging() -> None:
    """Mask and tag every log record of this process, whatever handler the host installed.

    A record factory runs for every record of every logger (filters on a logger see only that
    logger's own records), so this reaches the Functions worker's handler and the SDKs' logs.
    Idempotent.
    """
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _prepare(record)
        return record

    logging.setLogRecordFactory(factory)


def _prepare(record: logging.LogRecord) -> None:
    if getattr(record, "_masked", False):
        return
    record._masked = True
    rid = _request_id.get()
    record.request_id = rid or "-"
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call: leave it to the handler to report
        return
    masked = mask_text(message)
    record.msg = f"[{rid}] {masked}" if rid else masked
    record.args = None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = mask_text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
