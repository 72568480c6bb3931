"""GET /api/sync/runs/{runId}: one sync run, or 404."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint
from shared.sync import runs


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return runs.run_status_endpoint(req, dependencies())
