"""CampaignExport (queue `campaign-export`) and its results endpoint; see docs/EXPORT.md.

`process_message(deps, body)` runs one delivery; `export_status(deps, export_id, window)` answers
`GET /api/campaign-exports/{exportId}`. The pure parts: `message` (reading the message),
`mapping` (mapping -> Dynamics fields, domains, membership, truncation), `matching` (the look-ups).
The delivery's modules (the bulk layer, the Dataverse client) are imported by `process_message`
itself, so importing a function folder stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.export.status import export_status as _export_status
from shared.journey_batch.message import UnreadableMessage
from shared.journey_batch.status import BatchWindow

if TYPE_CHECKING:
    from shared.app import Dependencies
    from shared.export.mapping import ExportConfig

__all__ = ["BatchWindow", "UnreadableMessage", "export_status", "process_message"]


def process_message(deps: Dependencies, body: bytes) -> str:
    """Run one delivery of a `campaign-export` message; returns the export's status after it."""
    # Deferred on purpose: the bulk path loads the HTTP client (cold start, docs/DESIGN.md).
    from shared.export.mapping import ExportConfig
    from shared.export.service import ExportDelivery, run_export

    def config() -> ExportConfig:
        document, _etag = deps.config_store.get()
        return ExportConfig.from_document(document)

    delivery = ExportDelivery(
        client=deps.dynamics.counted(),
        results=deps.export_results,
        queues=deps.export_queues,
        metadata=deps.metadata,
        config=config,
        locks=deps.person_locks,
        slice_seconds=deps.settings.journey_batch_slice_seconds,
    )
    return run_export(delivery, body)


def export_status(deps: Dependencies, export_id: str, window: BatchWindow) -> dict[str, Any]:
    return _export_status(deps.export_results, export_id, window)
