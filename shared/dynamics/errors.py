"""Errors raised by the Dataverse client: one tree, callers act on the class.

```
DataverseError(status, code, message)          anything Dataverse refused or could not do
├── DataverseAuthError                          401/403, or the credential could not produce a token
├── RecordNotFoundError                         404
├── RecordExistsError                           412 duplicate key / create-only upsert on an existing row
├── ConcurrencyError                            412 stale ETag
├── DataverseRequestError                       other 4xx: retrying will not help
│   └── DeltaTokenExpiredError                  a change-tracking delta link Dataverse no longer accepts
└── DataverseUnavailableError                   5xx, timeouts, connection errors past the retry budget
    └── DataverseThrottledError(retry_after)    429 past the retry budget
```

`status` is the HTTP status (0 when no response arrived), `code` the Dataverse error code from the
body (`"0x80040217"`; empty when the body had none), `message` its message. Messages come from
Dataverse and may hold personal data: log them through `shared.masking`.
"""

from __future__ import annotations

from typing import Any

# Dataverse error codes the client acts on (reference 10.3).
OBJECT_DOES_NOT_EXIST = "0x80040217"
DUPLICATE_RECORD = "0x80040237"
DUPLICATE_KEY = "0x80060892"
DUPLICATE_DETECTED = "0x80040333"
CONCURRENCY_VERSION_MISMATCH = "0x80060882"


class DataverseError(Exception):
    """Anything Dataverse refused or could not do."""

    def __init__(self, status: int, code: str, message: str, *, response: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}" if code else f"{status}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.response = response


class DataverseAuthError(DataverseError):
    """401/403: the token is missing, expired or invalid, or the caller lacks a privilege."""


class RecordNotFoundError(DataverseError):
    """404: the row (or the resource) does not exist."""


class RecordExistsError(DataverseError):
    """412 duplicate key: a row with that id or key already exists."""


class ConcurrencyError(DataverseError):
    """412 stale ETag: the row changed since it was read."""


class DataverseRequestError(DataverseError):
    """Any other 4xx: the request itself is wrong; retrying will not help."""


class DeltaTokenExpiredError(DataverseRequestError):
    """Dataverse refused a change-tracking delta link (expired or invalid): do a full resync."""


class DataverseUnavailableError(DataverseError):
    """5xx, timeouts and connection errors that outlived the retry budget."""


class DataverseThrottledError(DataverseUnavailableError):
    """429 past the retry budget; `retry_after` is Dataverse's last Retry-After in seconds."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: float, response: Any = None
    ) -> None:
        super().__init__(status, code, message, response=response)
        self.retry_after = retry_after


def error_from_parts(
    status: int,
    body: Any,
    *,
    retry_after: float | None = None,
    sent_etag: bool = False,
    response: Any = None,
) -> DataverseError:
    """The typed error for a failed response: `body` is its parsed JSON (or text, or None).

    `sent_etag` tells a 412 caused by a stale `If-Match` ETag from a duplicate key when the
    error code does not say which it is.
    """
    code, message = _code_and_message(body)
    message = message or f"HTTP {status}"
    kwargs: dict[str, Any] = {"response": response}
    if code == DUPLICATE_DETECTED:
        return RecordExistsError(status, code, message, **kwargs)
    if status in (401, 403):
        return DataverseAuthError(status, code, message, **kwargs)
    if status == 404:
        return RecordNotFoundError(status, code, message, **kwargs)
    if status == 412:
        if code == CONCURRENCY_VERSION_MISMATCH:
            return ConcurrencyError(status, code, message, **kwargs)
        if code in (DUPLICATE_RECORD, DUPLICATE_KEY) or "already exists" in message:
            return RecordExistsError(status, code, message, **kwargs)
        if sent_etag:
            return ConcurrencyError(status, code, message, **kwargs)
        return RecordExistsError(status, code, message, **kwargs)
    if status == 429:
        return DataverseThrottledError(
            status, code, message, retry_after=retry_after if retry_after is not None else 0.0, **kwargs
        )
    if status >= 500 or status == 0:
        return DataverseUnavailableError(status, code, message, **kwargs)
    return DataverseRequestError(status, code, message, **kwargs)


def _code_and_message(body: Any) -> tuple[str, str]:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message")
            return (str(code) if code is not None else "", str(message) if message is not None else "")
        return "", ""
    if isinstance(body, str):
        return "", body.strip()[:500]
    return "", ""
