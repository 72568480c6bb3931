"""Versioned documents: one pydantic model stored as a JSON blob, its version the blob's ETag.

The blob SDK is imported on the first read or write (see `shared.store.clients`).

Before the first write there is no blob; `get()` then returns the model's defaults with a
stable ETag derived from them (`"default-<hash>"`), and a `put()` that sends that ETag back
succeeds only while the blob still does not exist (`If-None-Match: *`). So the first write is
as safe from lost updates as every later one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
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

    def put(self, doc: M, if_match: str | None = None) -> str:
        """Store `doc` and return its new ETag.

        `if_match` None (or `*`) writes unconditionally; `default_etag` writes only if nothing is
        stored yet; any other value only if it is the stored ETag. A mismatch raises `DocumentModified`.
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
        conditions: dict[str, Any]
        if if_match is None or if_match.strip() == "*":
            conditions = {"overwrite": True}
        elif if_match.strip() == self.default_etag:
            conditions = {"overwrite": False}
        else:
            conditions = {"overwrite": True, "etag": if_match.strip(), "match_condition": MatchConditions.IfNotModified}
        try:
            result = self._blob().upload_blob(data, content_settings=settings, **conditions)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            raise DocumentModified(f"document {self.name} changed since it was read") from None
        except AzureError as exc:
            raise translate(exc, f"writing document {self.name}") from exc
        return str(result["etag"])
