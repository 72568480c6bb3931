"""JourneyBatch (queue `journey-steps`) and its results endpoint; see docs/BATCH.md.

`process_message(deps, body)` runs one delivery; `batch_status(deps, batch_id, window)` answers
`GET /api/journey/batches/{batchId}`. The delivery's modules (the bulk layer, the Dataverse
client) are imported by `process_message` itself, so importing a function folder stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.journey_batch.status import BatchWindow
from shared.journey_batch.status import batch_status as _batch_status

if TYPE_CHECKING:
    from shared.app import Dependencies
    from shared.steps.config import StepConfig

__all__ = ["BatchWindow", "batch_status", "process_message"]


def process_message(deps: Dependencies, body: bytes) -> str:
    """Run one delivery of a `journey-steps` message; returns the batch's status after it.

    Raises `UnreadableMessage` (shared.journey_batch.message) for a message the host must retry
    and, after five deliveries, poison.
    """
    # Deferred on purpose: the bulk path loads the HTTP client (cold start, docs/PERFORMANCE.md).
    from shared.journey_batch.service import Delivery, run_delivery
    from shared.steps.config import StepConfig

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
