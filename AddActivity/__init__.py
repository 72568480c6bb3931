"""HTTP journey step: POST /api/journey/add-activity (docs/STEPS.md, shared.steps.add_activity)."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint, json_response, parse_request
from shared.steps.models import ActivityRequest
from shared.steps.service import add_activity


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    request, body = parse_request(req, ActivityRequest)
    return json_response(add_activity(dependencies(), request, body))
