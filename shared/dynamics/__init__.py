"""The only code that talks to Dataverse: the Web API v9.2 client, its query builder and errors.

```python
from shared.dynamics import DataverseClient, Filter as F, Query, credential_for

client = DataverseClient(url, credential_for(url, static_token=None))
step = client.counted()
leads = list(step.list_records("leads", Query(select=["leadid"], filter=F.eq("emailaddress1", email))))
step.request_count
```

See docs/DYNAMICS_CLIENT.md for the retry policy (what is retried and why it is safe), the
error tree (`shared.dynamics.errors`) and round-trip counting.

The client and the batch codec load `requests` and are imported on first use (`__getattr__`
below): `shared.http` and the steps' rules import the errors and the query builder from here,
and a function's import must not pay for an HTTP stack it uses only once it runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .auth import StaticTokenCredential, credential_for
from .changes import ChangeFeed, DeletedRecord
from .errors import (
    ConcurrencyError,
    DataverseAuthError,
    DataverseError,
    DataverseRequestError,
    DataverseThrottledError,
    DataverseUnavailableError,
    DeltaTokenExpiredError,
    RecordExistsError,
    RecordNotFoundError,
)
from .metadata import Column, MetadataCache, TableColumns
from .query import Expand, Filter, Query, bind, literal
from .retry import RetryPolicy
from .tables import primary_key

if TYPE_CHECKING:
    from .batch import (
        MAX_BATCH_OPERATIONS,
        BatchRequest,
        BatchResponse,
        ChangeSet,
        ChangeSetOutcome,
        build_batch,
        parse_batch_response,
    )
    from .client import DataverseClient, UpsertResult

_LAZY = {
    "MAX_BATCH_OPERATIONS": "batch",
    "BatchRequest": "batch",
    "BatchResponse": "batch",
    "ChangeSet": "batch",
    "ChangeSetOutcome": "batch",
    "build_batch": "batch",
    "parse_batch_response": "batch",
    "DataverseClient": "client",
    "UpsertResult": "client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "MAX_BATCH_OPERATIONS",
    "BatchRequest",
    "BatchResponse",
    "ChangeFeed",
    "ChangeSet",
    "ChangeSetOutcome",
    "Column",
    "ConcurrencyError",
    "DataverseAuthError",
    "DataverseClient",
    "DataverseError",
    "DataverseRequestError",
    "DataverseThrottledError",
    "DataverseUnavailableError",
    "DeletedRecord",
    "DeltaTokenExpiredError",
    "Expand",
    "Filter",
    "MetadataCache",
    "Query",
    "RecordExistsError",
    "RecordNotFoundError",
    "RetryPolicy",
    "StaticTokenCredential",
    "TableColumns",
    "UpsertResult",
    "bind",
    "build_batch",
    "credential_for",
    "literal",
    "parse_batch_response",
    "primary_key",
]
