"""Everything that crosses to Azure Storage: clients, idempotency records, versioned documents."""

from shared.store.clients import StorageClients
from shared.store.documents import VersionedDocumentStore
from shared.store.errors import (
    DocumentModified,
    IdempotencyConflict,
    IdempotencyError,
    IdempotencyInProgress,
    PersonBusy,
    StorageError,
    StorageUnavailableError,
    StoredDocumentInvalid,
)
from shared.store.idempotency import Claim, IdempotencyStore, StoredResponse, body_hash, derived_id
from shared.store.person_locks import HeldLocks, ManyLocks, PersonLocks

__all__ = [
    "Claim",
    "DocumentModified",
    "HeldLocks",
    "IdempotencyConflict",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyStore",
    "ManyLocks",
    "PersonBusy",
    "PersonLocks",
    "StorageClients",
    "StorageError",
    "StorageUnavailableError",
    "StoredDocumentInvalid",
    "StoredResponse",
    "VersionedDocumentStore",
    "body_hash",
    "derived_id",
]
