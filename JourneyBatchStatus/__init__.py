"""JourneyBatchStatus: GET /api/journey/batches/{batchId}?skip=&top= (see shared.journey_batch.status)."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint, json_response, parse_query
from shared.journey_batch import BatchWindow, batch_status


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    window = parse_query(req, BatchWindow)
    return json_response(batch_status(dependencies(), req.route_params.get("batchId", ""), window))
