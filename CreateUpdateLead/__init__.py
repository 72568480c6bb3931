"""HTTP journey step: POST /api/journey/create-update-lead (docs/STEPS.md, shared.steps.create_update_lead)."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint, json_response, parse_request
from shared.steps.models import LeadRequest
from shared.steps.service import create_update_lead


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    request, body = parse_request(req, LeadRequest)
    return json_response(create_update_lead(dependencies(), request, body))
