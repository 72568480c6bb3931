"""The Azure Storage service clients built from `AzureWebJobsStorage`, and first-use creation.

Each service's SDK is imported and its client built the first time a function uses that
service, so a function pays only for the SDKs on its own path (a journey step never loads the
queue SDK, Health loads only the table SDK). Tables, containers and queues are created the
first time a worker asks for them, once per worker (a name is remembered after it has been
created or found to exist).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.store.errors import translate

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient
    from azure.storage.blob import BlobServiceClient, ContainerClient
    from azure.storage.queue import QueueClient, QueueServiceClient

# Every call has a timeout, and the SDK retries stay inside an HTTP function's budget
# (the blob/queue SDK default waits 15 s before its first retry).
_CONNECTION_TIMEOUT = 5
_READ_TIMEOUT = 30
_TIMEOUTS: dict[str, Any] = {"connection_timeout": _CONNECTION_TIMEOUT, "read_timeout": _READ_TIMEOUT}


class StorageClients:
    """The table, queue and blob service clients of one storage account, each built on first use."""

    def __init__(self, connection_string: str) -> None:
        self._connection_string = connection_string
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: str) -> StorageClients:
        """No SDK import and no network I/O happen until the first call."""
        return cls(connection_string)

    def __repr__(self) -> str:
        return "StorageClients(<connection string hidden>)"

    # Two threads racing on a first use may each build a client; one is kept, and both work.
    @cached_property
    def tables(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        return TableServiceClient.from_connection_string(
            self._connection_string, retry_total=3, retry_backoff_factor=0.5, retry_backoff_max=5, **_TIMEOUTS
        )

    @cached_property
    def queues(self) -> QueueServiceClient:
        from azure.storage.queue import ExponentialRetry, QueueServiceClient

        return QueueServiceClient.from_connection_string(
            self._connection_string,
            retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3, random_jitter_range=1),
            **_TIMEOUTS,
        )

    @cached_property
    def blobs(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient, ExponentialRetry

        return BlobServiceClient.from_connection_string(
            self._connection_string,
            retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3, random_jitter_range=1),
            **_TIMEOUTS,
        )

    def table(self, name: str) -> TableClient:
        """The client of table `name`, created on first use."""
        client = self.tables.get_table_client(name)
        self._ensure(f"table:{name}", client.create_table, f"creating table {name}")
        return client

    def container(self, name: str) -> ContainerClient:
        """The client of blob container `name`, created on first use."""
        client = self.blobs.get_container_client(name)
        self._ensure(f"container:{name}", client.create_container, f"creating container {name}")
        return client

    def queue(self, name: str) -> QueueClient:
        """The client of queue `name`, created on first use.

        Messages are base64-encoded on send and decoded on receive, as the Functions host expects
        (host.json `messageEncoding: base64`): a plain-text message would never trigger a function.
        """
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

        client = self.queues.get_queue_client(
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )
        self._ensure(f"queue:{name}", client.create_queue, f"creating queue {name}")
        return client

    def ping(self, *, timeout: float = 5.0) -> None:
        """One request to the table service without retries; raises a store error when it fails."""
        from azure.core.exceptions import AzureError

        try:
            pages = self.tables.query_tables(
                "TableName eq 'healthcheck'", retry_total=0, connection_timeout=timeout, read_timeout=timeout
            )
            for _ in pages:
                break
        except AzureError as exc:
            raise translate(exc, "answering a health check") from exc

    def _ensure(self, key: str, create: Callable[[], object], what: str) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        if key in self._ready:
            return
        with self._lock:
            if key in self._ready:
                return
            try:
                create()
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise translate(exc, what) from exc
            self._ready.add(key)
