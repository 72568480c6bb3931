"""The HTTP exchange with Dataverse: one pooled session, headers, auth, retries, error translation.

`Transport.send` runs one logical request under the `RetryPolicy` (see `retry` for what is
retried and why that is safe) and either returns a successful `requests.Response` or raises the
typed error from `errors`. Every exchange is added to the caller's `RequestCounter`.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from shared.masking import mask_text

from .auth import TokenCache
from .errors import (
    DataverseError,
    DataverseRequestError,
    DataverseThrottledError,
    DataverseUnavailableError,
    DeltaTokenExpiredError,
    RecordNotFoundError,
    error_from_parts,
)
from .query import format_datetime
from .retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 60.0)
POOL_SIZE = 32

ODATA_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}


class RequestCounter:
    """A thread-safe count of HTTP exchanges; a child also counts into its parent."""

    def __init__(self, parent: RequestCounter | None = None) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._parent = parent

    def add(self) -> None:
        with self._lock:
            self._count += 1
        if self._parent is not None:
            self._parent.add()

    @property
    def value(self) -> int:
        with self._lock:
            return self._count


@dataclass
class Request:
    """One logical request as the client methods describe it."""

    method: str
    url: str
    operation: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    # Safe to resend after it may have reached Dataverse (see `retry`).
    retry_safe: bool = False
    # A status that, met on a retry after an attempt that may have landed, means that it did.
    landed_if: int | None = None
    # `$batch`: hand a failed multipart response back for per-part parsing instead of raising.
    multipart_ok: bool = False
    # A change-tracking delta-link request: a refusal means the token is no longer valid.
    delta: bool = False
    # 404 is an answer, not an error (delete of a row that is already gone).
    absent_ok: bool = False
    # A link Dataverse handed out (`@odata.nextLink`): sent exactly as received.
    verbatim: bool = False


class _BearerAuth(requests.auth.AuthBase):
    # Passing auth explicitly also keeps requests from applying ~/.netrc credentials.
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def new_session() -> requests.Session:
    """A pooled session with no transport-level retries and no cookies.

    Retries belong to `RetryPolicy` only. Cookies are refused so the server-affinity cookie does
    not pin every request to one web server (limits are per server, reference 11.2), and so
    threads sharing the session share no mutable cookie state.
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


def json_body(data: Any) -> bytes:
    return json.dumps(data, default=_json_default, separators=(",", ":")).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def response_body(response: requests.Response) -> Any:
    """The parsed JSON body, the text when it is not JSON, or None when empty."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request certainly did not reach the server (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        for arg in exc.args:
            reason = getattr(arg, "reason", arg)
            if isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
                return True
    return False


# A URL that can go on the request line as it is: printable ASCII, no spaces.
_VERBATIM_SAFE = re.compile(r"^[!-~]+$")


def _log_path(url: str) -> str:
    return mask_text(urlsplit(url).path)


class Transport:
    """Session, token cache, timeout and retry policy shared by a client and its counted views."""

    def __init__(
        self,
        tokens: TokenCache,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.tokens = tokens
        self.session = session if session is not None else new_session()
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()

    def send(self, request: Request, counter: RequestCounter) -> requests.Response:
        budget = self.retry.start()
        refreshed = False
        # Whether an earlier attempt may have been executed by Dataverse.
        may_have_landed = False
        while True:
            budget.attempt()
            token = self.tokens.token()
            headers = {**ODATA_HEADERS, **request.headers}
            try:
                response = self._exchange(request, headers, token)
            except requests.RequestException as exc:
                counter.add()
                sent = not _never_sent(exc)
                may_have_landed = may_have_landed or sent
                delay = self.retry.backoff(budget.retries + 1)
                if (not sent or request.retry_safe) and budget.can_wait(delay):
                    self._log_retry(request, type(exc).__name__, budget.attempts, delay)
                    budget.wait(delay)
                    continue
                unavailable = DataverseUnavailableError(
                    0, "", f"{type(exc).__name__} talking to Dataverse after {budget.attempts} attempt(s)"
                )
                self._log_raise(request, unavailable)
                raise unavailable from exc

            counter.add()
            status = response.status_code
            if 200 <= status < 300 or status == 304 or (status == 404 and request.absent_ok):
                return response
            if status == 401 and not refreshed:
                # Refresh once: the cached token may have been revoked or expired early.
                refreshed = True
                self.tokens.invalidate(token)
                budget.attempts -= 1
                logger.warning("%s %s: 401, refreshing the token and retrying once",
                               request.method, _log_path(request.url))
                continue
            if may_have_landed and request.landed_if == status:
                return response
            if request.multipart_ok and response.headers.get("Content-Type", "").startswith("multipart/"):
                return response

            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429:
                delay = retry_after if retry_after is not None else self.retry.backoff(budget.retries + 1)
                if budget.can_wait(delay):
                    self._log_retry(request, "429", budget.attempts, delay)
                    budget.wait(delay)
                    continue
                # Without a Retry-After, tell the caller at least the wait we would have made.
                retry_after = max(1.0, delay) if retry_after is None else retry_after
            elif status in RETRYABLE_STATUSES and request.retry_safe:
                may_have_landed = True
                delay = self.retry.backoff(budget.retries + 1)
                if budget.can_wait(delay):
                    self._log_retry(request, str(status), budget.attempts, delay)
                    budget.wait(delay)
                    continue

            error = self._error(request, response, retry_after)
            self._log_raise(request, error)
            raise error

    def _exchange(self, request: Request, headers: dict[str, str], token: str) -> requests.Response:
        prepared = self.session.prepare_request(
            requests.Request(request.method, request.url, headers=headers, data=request.body, auth=_BearerAuth(token))
        )
        if request.verbatim and _VERBATIM_SAFE.match(request.url):
            # requests would re-quote the link; Dataverse says to follow it unedited.
            prepared.url = request.url
        settings = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
        return self.session.send(prepared, timeout=self.timeout, allow_redirects=False, **settings)

    def _error(
        self, request: Request, response: requests.Response, retry_after: float | None
    ) -> DataverseError:
        error = error_from_parts(
            response.status_code,
            response_body(response),
            retry_after=retry_after,
            sent_etag=request.headers.get("If-Match", "*") != "*",
            response=response,
        )
        if request.delta and isinstance(error, DataverseRequestError | RecordNotFoundError):
            return DeltaTokenExpiredError(error.status, error.code, error.message, response=response)
        return error

    @staticmethod
    def _log_retry(request: Request, reason: str, attempt: int, delay: float) -> None:
        logger.warning(
            "%s %s (%s): %s on attempt %d, retrying in %.2f s",
            request.method, _log_path(request.url), request.operation, reason, attempt, delay,
        )

    @staticmethod
    def _log_raise(request: Request, error: DataverseError) -> None:
        extra = f", retry after {error.retry_after:g} s" if isinstance(error, DataverseThrottledError) else ""
        logger.warning(
            "%s %s (%s) failed: %s %s%s",
            request.method, _log_path(request.url), request.operation,
            type(error).__name__, mask_text(str(error)), extra,
        )
