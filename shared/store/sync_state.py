"""Where each sync kind stands, in Table Storage: whether its next run is an initial sync, the
last key an initial sync has dealt with, and the delta link or watermark later runs start from.

One row per kind (`PartitionKey` "kind", `RowKey` "lead" / "contact") in the sync table. A kind
without a row has never run: its first run is an initial sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shared.store.errors import DocumentModified, translate

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

_PARTITION = "kind"


@dataclass(frozen=True)
class KindState:
    """Where one kind stands. `etag` is None for a kind that has no row yet."""

    kind: str
    initial_pending: bool = True
    last_key: str | None = None
    """The primary key of the last row an unfinished initial sync has sent (None: from the first row)."""
    delta_link: str | None = None
    watermark: str | None = None
    """`modifiedon` (ISO 8601 `Z`) later runs read from when the table has no change tracking."""
    generation: str | None = None
    """Names the initial sync under way, so a resumed one knows what it already sent."""
    ledger_empty_at_start: bool = False
    """The ledger knew no record of the kind when the initial sync under way began, and no push
    has added one since: its pages need no ledger look-up (their rows are all new to the ledger,
    or sent by this very initial sync before a checkpoint)."""
    etag: str | None = None

    def restarted(self) -> KindState:
        """The next run reads this kind from scratch: checkpoint, delta link and watermark dropped."""
        return replace(self, initial_pending=True, last_key=None, delta_link=None, watermark=None, generation=None,
                       ledger_empty_at_start=False)


class SyncStateStore:
    def __init__(self, table: TableClient | Callable[[], TableClient]) -> None:
        self._source = table
        self._table: TableClient | None = None if callable(table) else table

    def _client(self) -> TableClient:
        if self._table is None:
            source = self._source
            assert callable(source)
            self._table = source()
        return self._table

    def get(self, kind: str) -> KindState:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            entity = self._client().get_entity(_PARTITION, kind)
        except ResourceNotFoundError:
            return KindState(kind)
        except AzureError as exc:
            raise translate(exc, f"reading the sync state of {kind}") from exc
        return KindState(
            kind=kind,
            initial_pending=bool(entity.get("initialPending", True)),
            last_key=entity.get("lastKey"),
            delta_link=entity.get("deltaLink"),
            watermark=entity.get("watermark"),
            generation=entity.get("generation"),
            ledger_empty_at_start=bool(entity.get("ledgerEmptyAtStart", False)),
            etag=str(entity.metadata["etag"]),
        )

    def save(self, state: KindState) -> KindState:
        """Write `state` if the row is still the one it was read from (`DocumentModified` otherwise:
        another run moved it on). Returns the state with its new ETag."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        entity: dict[str, Any] = {"PartitionKey": _PARTITION, "RowKey": state.kind,
                                  "initialPending": state.initial_pending}
        if state.ledger_empty_at_start:
            entity["ledgerEmptyAtStart"] = True
        for name, value in (("lastKey", state.last_key), ("deltaLink", state.delta_link),
                            ("watermark", state.watermark), ("generation", state.generation)):
            if value is not None:
                entity[name] = value
        table = self._client()
        try:
            if state.etag is None:
                metadata = table.create_entity(entity)
            else:
                metadata = table.update_entity(entity, mode=UpdateMode.REPLACE, etag=state.etag,
                                               match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            raise DocumentModified(f"the sync state of {state.kind} changed since it was read") from None
        except AzureError as exc:
            raise translate(exc, f"writing the sync state of {state.kind}") from exc
        return replace(state, etag=str(metadata["etag"]))

    def ledger_written(self, kind: str) -> None:
        """A record of the kind entered the ledger outside a pull: an initial sync under way can no
        longer skip the look-ups (`KindState.ledger_empty_at_start`)."""
        state = self.get(kind)
        if state.ledger_empty_at_start:
            self.save(replace(state, ledger_empty_at_start=False))

    def restart(self, kinds: Iterable[str]) -> None:
        """Make the next run an initial sync of each kind from scratch, whatever state it is in."""
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        table = self._client()
        for kind in kinds:
            entity = {"PartitionKey": _PARTITION, "RowKey": kind, "initialPending": True}
            try:
                table.upsert_entity(entity, mode=UpdateMode.REPLACE)
            except AzureError as exc:
                raise translate(exc, f"restarting the sync of {kind}") from exc
            log.info("sync of %s restarts with an initial sync", kind)
