"""`GET /api/journey/batches/{batchId}?skip=&top=`: a window of a batch's results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from shared.http import ProblemError
from shared.journey_batch.names import BATCH_ID, OUTCOMES

if TYPE_CHECKING:
    from shared.store.batches import BatchResultsStore

__all__ = ["MAX_TOP", "BatchWindow", "batch_status"]

MAX_TOP = 1000


class BatchWindow(BaseModel):
    """The query parameters: `skip` >= 0 (default 0), `top` 1-1,000 (default 1,000)."""

    model_config = ConfigDict(extra="forbid")

    skip: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    top: Annotated[int, Field(ge=1, le=MAX_TOP)] = MAX_TOP


def batch_status(store: BatchResultsStore, batch_id: str, window: BatchWindow) -> dict[str, Any]:
    """The results document; 400 for a `batchId` outside the pattern, 404 when unknown."""
    if not BATCH_ID.fullmatch(batch_id):
        raise ProblemError(400, "Invalid request", "The batchId is not valid.",
                           errors=[{"loc": ["path", "batchId"],
                                    "msg": "must be 1-200 characters of A-Z a-z 0-9 . _ : -"}])
    record = store.load(batch_id, with_steps=False)
    if record is None:
        raise ProblemError(404, "Batch not found",
                           "No journey batch with this batchId has been read yet.", code="batchNotFound")
    steps = [row.entry for row in store.page(batch_id, window.skip, window.top)]
    end = window.skip + window.top
    next_path = f"/api/journey/batches/{quote(batch_id)}?skip={end}&top={window.top}" if end < record.total else None
    return {
        "batchId": batch_id,
        "status": record.status,
        "total": record.total,
        "failed": record.failed,
        "counts": {name: record.counts.get(name, 0) for name in OUTCOMES},
        "dynamicsRequests": record.dynamics_requests,
        "error": record.error,
        "conflicts": record.conflicts,
        "next": next_path,
        "steps": steps,
    }
