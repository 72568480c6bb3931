"""JourneyBatch (queue `journey-steps`) and its results endpoint; see docs/BATCH.md.

`process_message(deps, body)` runs one delivery; `batch_status(deps, batch_id, window)` answers
`GET /api/journey/batches/{batchId}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.journey_batch.message import UnreadableMessage
from shared.journey_batch.service import Delivery, run_delivery
from shared.journey_batch.status import BatchWindow
from shared.journey_batch.status import batch_status as _batch_status
from shared.steps.config import StepConfig

if TYPE_CHECKING:
    from shared.app import Dependencies

__all__ = ["BatchWindow", "UnreadableMessage", "batch_status", "process_message"]


def process_message(deps: Dependencies, body: bytes) -> str:
    """Run one delivery of a `journey-steps` message; returns the batch's status after it."""

    def config() -> StepConfig:
        document, _etag = deps.config_store.get()
        return StepConfig.from_document(document)

    delivery = Delivery(
        client=deps.dynamics.counted(),
        results=deps.batch_results,
        queues=deps.batch_queues,
        idempotency=deps.idempotency,
        config=config,
        locks=deps.person_locks,
        metadata=deps.metadata,
        slice_seconds=deps.settings.journey_batch_slice_seconds,
    )
    return run_delivery(delivery, body)


def batch_status(deps: Dependencies, batch_id: str, window: BatchWindow) -> dict[str, Any]:
    return _batch_status(deps.batch_results, batch_id, window)
