"""GET /api/health (anonymous): do Dynamics and Storage answer? 200 when both do, 503 otherwise."""

import azure.functions as func

from shared.app import dependencies
from shared.control import health_response
from shared.http import endpoint


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return health_response(dependencies)
