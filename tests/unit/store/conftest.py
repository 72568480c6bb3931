"""Storage fixtures: real Azurite, a fresh table/container name per test."""

from __future__ import annotations

import uuid

import pytest

from shared.store import StorageClients


@pytest.fixture
def storage(storage_connection_string: str) -> StorageClients:
    # A new StorageClients per test: "created once per worker" state starts empty each time.
    return StorageClients.from_connection_string(storage_connection_string)


@pytest.fixture
def unique_name() -> str:
    """Letters and digits only: valid as a table name and as a container name."""
    return "t" + uuid.uuid4().hex[:20]
