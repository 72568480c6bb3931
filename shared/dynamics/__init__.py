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
"""

from .auth import StaticTokenCredential, credential_for
from .batch import (
    MAX_BATCH_OPERATIONS,
    BatchRequest,
    BatchResponse,
    ChangeSet,
    build_batch,
    parse_batch_response,
)
from .changes import ChangeFeed, DeletedRecord
from .client import DataverseClient, UpsertResult
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

__all__ = [
    "MAX_BATCH_OPERATIONS",
    "BatchRequest",
    "BatchResponse",
    "ChangeFeed",
    "ChangeSet",
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
