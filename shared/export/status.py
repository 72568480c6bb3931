"""`GET /api/campaign-exports/{exportId}?skip=&top=`: a window of an export's results."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shared.export.names import COMPANIES, CONTACTS, OUTCOMES
from shared.http import ProblemError
from shared.journey_batch.message import BATCH_ID
from shared.journey_batch.status import BatchWindow
from shared.store.batches import BatchResultsStore

__all__ = ["export_status"]


def export_status(store: BatchResultsStore, export_id: str, window: BatchWindow) -> dict[str, Any]:
    """The results document; 400 for an `exportId` outside the pattern, 404 when unknown.
    `skip` / `top` window the companies and the contacts alike."""
    if not BATCH_ID.fullmatch(export_id):
        raise ProblemError(400, "Invalid request", "The exportId is not valid.",
                           errors=[{"loc": ["path", "exportId"],
                                    "msg": "must be 1-200 characters of A-Z a-z 0-9 . _ : -"}])
    record = store.load(export_id)
    if record is None:
        raise ProblemError(404, "Export not found",
                           "No campaign export with this exportId has been read yet.", code="exportNotFound")
    lists = {prefix: [row for row in record.steps if row.prefix == prefix] for prefix in (COMPANIES, CONTACTS)}
    end = window.skip + window.top
    more = any(len(rows) > end for rows in lists.values())
    total = {"companies": len(lists[COMPANIES]), "contacts": len(lists[CONTACTS])}
    if record.status == "rejected":
        total = {"companies": record.totals.get("companies", 0), "contacts": record.totals.get("contacts", 0)}
    return {
        "exportId": export_id,
        "status": record.status,
        "total": total,
        "counts": {name: record.counts.get(name, 0) for name in OUTCOMES},
        "failed": record.failed,
        "dynamicsRequests": record.dynamics_requests,
        "error": record.error,
        "conflicts": record.conflicts,
        "next": f"/api/campaign-exports/{quote(export_id)}?skip={end}&top={window.top}" if more else None,
        "companies": [row.entry for row in lists[COMPANIES][window.skip : end]],
        "contacts": [row.entry for row in lists[CONTACTS][window.skip : end]],
    }
