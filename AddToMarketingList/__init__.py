"""HTTP journey step: POST /api/journey/add-to-marketing-list (docs/STEPS.md, shared.steps.add_to_marketing_list)."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint, json_response, parse_request
from shared.steps.models import ListRequest
from shared.steps.service import add_to_marketing_list


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    request, body = parse_request(req, ListRequest)
    return json_response(add_to_marketing_list(dependencies(), request, body))
