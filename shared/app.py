"""The per-worker dependency cache: settings, the Dataverse client and the stores.

Entry points call `dependencies()` and pass what they need into `shared` use-cases; nothing
else reaches for module globals. Building it does no network I/O (clients connect on first
call, tables and containers are created on first use), and the Dataverse client is built
only when a function first asks for it, so Config and a GET of SyncSettings never import azure.identity.
Importing this module imports no Azure SDK and builds no document model: a worker pays for
those on its first call, and only for what that call uses (see `shared.store.clients`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from shared.settings import Settings
from shared.store import IdempotencyStore, PersonLocks, StorageClients, VersionedDocumentStore
from shared.store.batches import BatchQueues, BatchResultsStore
from shared.store.sync_ledger import SyncLedger
from shared.store.sync_pending import SyncPendingStore
from shared.store.sync_runs import SyncRunStore
from shared.store.sync_state import SyncStateStore

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient
    from azure.storage.queue import QueueClient

    from shared.config import Configuration, SyncSettings
    from shared.dynamics import DataverseClient, RetryPolicy
    from shared.dynamics.metadata import MetadataCache

CONFIG_BLOB = "configuration.json"
SYNC_SETTINGS_BLOB = "sync-settings.json"
PERSON_LOCK_TABLE = "personlocks"
PLATFORM_UPDATES_QUEUE = "platform-updates"


@dataclass(frozen=True)
class Dependencies:
    """Everything a function needs, built once per worker process. Thread-safe to share."""

    settings: Settings
    storage: StorageClients
    idempotency: IdempotencyStore
    person_locks: PersonLocks
    config_store: VersionedDocumentStore[Configuration]
    sync_settings_store: VersionedDocumentStore[SyncSettings]
    batch_results: BatchResultsStore
    batch_queues: BatchQueues
    export_results: BatchResultsStore
    export_queues: BatchQueues
    sync_state: SyncStateStore
    sync_ledger: SyncLedger
    sync_pending: SyncPendingStore
    sync_runs: SyncRunStore
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def build(cls, settings: Settings) -> Dependencies:
        # Imported here: the document models are built on a worker's first call, not at import.
        from shared.config import Configuration, SyncSettings

        storage = StorageClients.from_connection_string(settings.storage_connection_string.get_secret_value())
        container = settings.config_container
        return cls(
            settings=settings,
            storage=storage,
            idempotency=IdempotencyStore(
                lambda: storage.table(settings.idempotency_table),
                retention=timedelta(days=settings.idempotency_retention_days),
                lease=timedelta(seconds=settings.idempotency_lease_seconds),
            ),
            person_locks=PersonLocks(
                lambda: storage.table(PERSON_LOCK_TABLE), lease=timedelta(seconds=settings.person_lock_lease_seconds)
            ),
            config_store=VersionedDocumentStore(lambda: storage.container(container), CONFIG_BLOB, Configuration),
            sync_settings_store=VersionedDocumentStore(
                lambda: storage.container(container), SYNC_SETTINGS_BLOB, SyncSettings
            ),
            batch_results=BatchResultsStore(lambda: storage.table(settings.journey_batch_table)),
            batch_queues=BatchQueues(storage),
            export_results=BatchResultsStore(lambda: storage.table(settings.campaign_export_table)),
            export_queues=BatchQueues(storage, "campaign-export", "campaign-export-results"),
            sync_state=SyncStateStore(lambda: storage.table(settings.sync_table)),
            sync_ledger=SyncLedger(lambda: storage.table(settings.sync_table)),
            sync_pending=SyncPendingStore(lambda: storage.table(settings.sync_table)),
            sync_runs=SyncRunStore(lambda: storage.table(settings.sync_table)),
        )

    def config_container(self) -> ContainerClient:
        """The configuration container (documents and the sync run's lease blob)."""
        return self.storage.container(self.settings.config_container)

    @cached_property
    def platform_updates(self) -> QueueClient:
        """The `platform-updates` queue, in `PLATFORM_UPDATES_CONNECTION`'s account or `AzureWebJobsStorage`."""
        connection = self.settings.platform_updates_connection
        storage = self.storage if connection is None else StorageClients.from_connection_string(
            connection.get_secret_value())
        return storage.queue(PLATFORM_UPDATES_QUEUE)

    @cached_property
    def dynamics(self) -> DataverseClient:
        """The Dataverse client (one session and token cache per worker; use `.counted()` per step)."""
        with self._lock:
            return self._dataverse_client()

    @cached_property
    def metadata(self) -> MetadataCache:
        """Column metadata of Dataverse tables, kept 10 minutes per worker (`shared.dynamics.metadata`)."""
        from shared.dynamics.metadata import MetadataCache

        with self._lock:
            return MetadataCache()

    @cached_property
    def dynamics_probe(self) -> DataverseClient:
        """A client for health checks: one attempt, short timeouts, so the check answers quickly."""
        from shared.dynamics import RetryPolicy

        with self._lock:
            return self._dataverse_client(timeout=(3.0, 5.0), retry=RetryPolicy(max_attempts=1, max_elapsed=5.0))

    def _dataverse_client(
        self, *, timeout: tuple[float, float] | None = None, retry: RetryPolicy | None = None
    ) -> DataverseClient:
        from shared.dynamics import DataverseClient, credential_for

        token = self.settings.dynamics_static_token
        url = self.settings.dynamics_url
        credential = credential_for(url, static_token=token.get_secret_value() if token else None)
        if timeout is None:
            return DataverseClient(url, credential, retry=retry)
        return DataverseClient(url, credential, timeout=timeout, retry=retry)


_cache: Dependencies | None = None
_cache_lock = threading.Lock()


def dependencies() -> Dependencies:
    """The worker's dependencies, built on first call from the environment (raises `SettingsError`)."""
    global _cache
    if _cache is None:
        with _cache_lock:
            if _cache is None:
                _cache = Dependencies.build(Settings.from_env())
    return _cache


def reset_dependencies() -> None:
    """Forget the cached dependencies, so the next call reads the environment again (tests, local host)."""
    global _cache
    with _cache_lock:
        _cache = None
