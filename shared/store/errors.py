"""Errors raised by `shared.store`: one tree, callers act on the class.

```
StorageError                                anything Azure Storage refused or could not do
├── StorageUnavailableError                 connection errors, timeouts, 5xx past the SDK's retries
├── StoredDocumentInvalid                   a stored document no longer fits its model
├── DocumentModified                        If-Match did not match the stored document (412)
├── IdempotencyError
│   ├── IdempotencyConflict                 the key was used with another body (409)
│   └── IdempotencyInProgress(retry_after)  another attempt holds a live claim on the key (409)
└── PersonBusy(retry_after)                 another writer holds a lock of the person (409)
```

Azure SDK exceptions never leave the package: `translate()` turns them into this tree
(`raise translate(exc) from exc`). Messages hold no connection string, key or body.

This module imports no Azure SDK: `shared.http` maps these errors for every function, and a
function that never touches Storage (or only one of its services) must not pay for the SDKs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.exceptions import AzureError


class StorageError(Exception):
    """Anything Azure Storage refused or could not do."""


class StorageUnavailableError(StorageError):
    """Storage did not answer (connection refused, timeout) or answered 5xx past the retries."""

    retry_after: float = 5.0


class StoredDocumentInvalid(StorageError):
    """A stored document failed validation against its model (edited by hand, or an old shape)."""


class DocumentModified(StorageError):
    """The document's ETag is not the one the caller sent in `If-Match`: it changed since it was read."""


class IdempotencyError(StorageError):
    """Base of the idempotency outcomes a caller must answer instead of doing the work."""


class IdempotencyConflict(IdempotencyError):
    """The idempotency key was already used on this endpoint with a different body."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"the idempotency key was already used on {scope} with a different body")
        self.scope = scope


class IdempotencyInProgress(IdempotencyError):
    """Another attempt with the same key and body is still running; retry after `retry_after` seconds."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"a request with this idempotency key is still in progress on {scope}")
        self.scope = scope
        self.retry_after = retry_after


class PersonBusy(StorageError):
    """Another writer holds a lock of this person (`shared.store.person_locks`) and did not let go
    in time; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("another step for this person is still being written")
        self.retry_after = retry_after


def translate(exc: AzureError, what: str) -> StorageError:
    """The store error for an Azure SDK failure while doing `what` (a few words, no data)."""
    # Loaded already: `exc` came from the SDK.
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return StorageUnavailableError(f"Azure Storage did not answer while {what}: {type(exc).__name__}")
    if isinstance(exc, ClientAuthenticationError):
        return StorageError(f"Azure Storage refused the credentials while {what}")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code = getattr(exc, "error_code", None) or ""
        if status >= 500 or status in (0, 408, 429):
            return StorageUnavailableError(f"Azure Storage answered {status} {code} while {what}".rstrip())
        return StorageError(f"Azure Storage answered {status} {code} while {what}".rstrip())
    return StorageUnavailableError(f"Azure Storage failed while {what}: {type(exc).__name__}")
