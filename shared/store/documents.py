"""Versioned documents: one pydantic model stored as a JSON blob, its version the blob's ETag.

The blob SDK is imported on the first read or write (see `shared.store.clients`).

Before the first write there is no blob; `get()` then returns the model's defaults with a
stable ETag derived from them (`"default-<hash>"`), and a `put()` that sends that ETag back
succeeds only while the blob still does not exist (`If-None-Match: *`). So the first write is
as safe from lost updates as every later one. `put()` takes the list of entity-tags an HTTP
`If-Match` carried; the HTTP layer (`shared.http.if_match_tags`) parses and checks the header.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.store.errors import DocumentModified, StoredDocumentInvalid, translate

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, ContainerClient

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class VersionedDocumentStore(Generic[M]):
    """A pydantic document in blob `name` of `container`, read and written with its ETag."""

    def __init__(
        self,
        container: ContainerClient | Callable[[], ContainerClient],
        name: str,
        model: type[M],
    ) -> None:
        """`container` is a ContainerClient, or a callable giving one (created on first use)."""
        self._container_source = container
        self._container: ContainerClient | None = None if callable(container) else container
        self.name = name
        self.model = model
        defaults = model().model_dump_json(by_alias=True)
        self.default_etag = f'"default-{hashlib.sha256(defaults.encode()).hexdigest()[:16]}"'

    def _blob(self) -> BlobClient:
        if self._container is None:
            source = self._container_source
            assert callable(source)
            self._container = source()
        return self._container.get_blob_client(self.name)

    def get(self) -> tuple[M, str]:
        """The document and its ETag; the defaults and `default_etag` when nothing was stored yet."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            downloader = self._blob().download_blob()
            data = downloader.readall()
            etag = str(downloader.properties.etag)
        except ResourceNotFoundError:
            return self.model(), self.default_etag
        except AzureError as exc:
            raise translate(exc, f"reading document {self.name}") from exc
        try:
            return self.model.model_validate_json(data), etag
        except ValidationError as exc:
            log.error("stored document %s does not fit its model (%d errors)", self.name, exc.error_count())
            raise StoredDocumentInvalid(f"stored document {self.name} does not fit its model") from None

    def current_etag(self) -> str:
        """The stored document's ETag, or `default_etag` while nothing is stored."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return str(self._blob().get_blob_properties().etag)
        except ResourceNotFoundError:
            return self.default_etag
        except AzureError as exc:
            raise translate(exc, f"reading document {self.name}") from exc

    def put(self, doc: M, if_match: Sequence[str] | None = None) -> str:
        """Store `doc` and return its new ETag.

        `if_match` None writes unconditionally (seeding, tests). Otherwise it is the list of
        strong entity-tags the caller sent (RFC 9110: the write goes ahead when any of them is
        the current ETag). Azure Storage takes a single condition, so the matching tag is chosen
        first and the write is still made conditional on it: a write that lands in between
        makes this one fail. `default_etag` matches only while nothing is stored. A mismatch
        raises `DocumentModified`.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            AzureError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.storage.blob import ContentSettings

        data = doc.model_dump_json(by_alias=True).encode("utf-8")
        settings = ContentSettings(content_type="application/json")
        conditions: dict[str, Any] = {"overwrite": True}
        if if_match is not None:
            current = self.current_etag()
            if current not in {tag.strip() for tag in if_match}:
                raise DocumentModified(f"document {self.name} changed since it was read")
            if current == self.default_etag:
                conditions = {"overwrite": False}
            else:
                conditions = {"overwrite": True, "etag": current, "match_condition": MatchConditions.IfNotModified}
        try:
            result = self._blob().upload_blob(data, content_settings=settings, **conditions)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            raise DocumentModified(f"document {self.name} changed since it was read") from None
        except AzureError as exc:
            raise translate(exc, f"writing document {self.name}") from exc
        return str(result["etag"])
