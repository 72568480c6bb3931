"""VersionedDocumentStore against real Blob Storage (Azurite)."""

from __future__ import annotations

import threading

import pytest
from azure.storage.blob import ContainerClient

from shared.config import Configuration, SyncSettings
from shared.store import DocumentModified, StorageClients, StoredDocumentInvalid, VersionedDocumentStore


@pytest.fixture
def container(storage: StorageClients, unique_name: str) -> ContainerClient:
    return storage.container(unique_name)


@pytest.fixture
def store(container: ContainerClient) -> VersionedDocumentStore[Configuration]:
    return VersionedDocumentStore(container, "configuration.json", Configuration)


def renamed(doc: Configuration, name: str) -> Configuration:
    return doc.model_copy(update={"platform_name": name})


def test_when_nothing_is_stored_get_returns_defaults_with_a_stable_etag(
    store: VersionedDocumentStore[Configuration], container: ContainerClient
) -> None:
    doc, etag = store.get()
    assert doc == Configuration()
    again = VersionedDocumentStore(container, "configuration.json", Configuration)
    assert again.get()[1] == etag == store.default_etag


def test_put_returns_the_new_etag_and_get_reads_it_back(store: VersionedDocumentStore[Configuration]) -> None:
    _, etag = store.get()
    new_etag = store.put(renamed(Configuration(), "Acme"), if_match=[etag])
    doc, read_etag = store.get()
    assert doc.platform_name == "Acme"
    assert read_etag == new_etag != etag


def test_when_if_match_is_stale_put_raises_document_modified(store: VersionedDocumentStore[Configuration]) -> None:
    _, first = store.get()
    store.put(renamed(Configuration(), "One"), if_match=[first])
    with pytest.raises(DocumentModified):
        store.put(renamed(Configuration(), "Two"), if_match=[first])
    assert store.get()[0].platform_name == "One"


def test_when_two_first_writers_race_with_the_default_etag_one_wins(
    store: VersionedDocumentStore[Configuration],
) -> None:
    _, etag = store.get()
    outcomes: list[object] = [None] * 6
    barrier = threading.Barrier(6)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = store.put(renamed(Configuration(), f"W{index}"), if_match=[etag])
        except DocumentModified as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(o, str) for o in outcomes) == 1
    assert sum(isinstance(o, DocumentModified) for o in outcomes) == 5


def test_when_if_match_is_absent_put_overwrites(store: VersionedDocumentStore[Configuration]) -> None:
    store.put(renamed(Configuration(), "One"))
    store.put(renamed(Configuration(), "Two"))
    assert store.get()[0].platform_name == "Two"


def test_when_if_match_is_an_unknown_etag_on_an_empty_store_put_raises(
    store: VersionedDocumentStore[Configuration],
) -> None:
    with pytest.raises(DocumentModified):
        store.put(Configuration(), if_match=['"0x8D000000000000"'])


def test_when_if_match_lists_several_tags_put_succeeds_if_any_is_current(
    store: VersionedDocumentStore[Configuration],
) -> None:
    first = store.put(renamed(Configuration(), "One"))
    second = store.put(renamed(Configuration(), "Two"), if_match=['"0x8D000000000001"', first, store.default_etag])
    with pytest.raises(DocumentModified):
        store.put(renamed(Configuration(), "Three"), if_match=[first, store.default_etag])
    assert store.get() == (renamed(Configuration(), "Two"), second)


def test_when_writers_race_on_the_same_stored_etag_one_wins(store: VersionedDocumentStore[Configuration]) -> None:
    etag = store.put(Configuration())
    outcomes: list[object] = [None] * 6
    barrier = threading.Barrier(6)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = store.put(renamed(Configuration(), f"W{index}"), if_match=['"other"', etag])
        except DocumentModified as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(o, str) for o in outcomes) == 1


def test_the_stored_blob_is_camel_case_json(
    store: VersionedDocumentStore[Configuration], container: ContainerClient
) -> None:
    store.put(Configuration())
    text = container.get_blob_client("configuration.json").download_blob().readall().decode()
    assert '"platformName":"Platform"' in text


def test_when_the_stored_blob_does_not_fit_the_model_get_raises(
    store: VersionedDocumentStore[Configuration], container: ContainerClient
) -> None:
    container.get_blob_client("configuration.json").upload_blob(b'{"platformName": 3}', overwrite=True)
    with pytest.raises(StoredDocumentInvalid):
        store.get()


def test_documents_in_one_container_are_independent(container: ContainerClient) -> None:
    config = VersionedDocumentStore(container, "configuration.json", Configuration)
    sync = VersionedDocumentStore(container, "sync-settings.json", SyncSettings)
    config.put(renamed(Configuration(), "Acme"))
    assert sync.get() == (SyncSettings(), sync.default_etag)
