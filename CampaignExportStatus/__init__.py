"""CampaignExportStatus: GET /api/campaign-exports/{exportId}?skip=&top= (see shared.export)."""

import azure.functions as func

from shared.app import dependencies
from shared.export import BatchWindow, export_status
from shared.http import endpoint, json_response, parse_query


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    window = parse_query(req, BatchWindow)
    return json_response(export_status(dependencies(), req.route_params.get("exportId", ""), window))
