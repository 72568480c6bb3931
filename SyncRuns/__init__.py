"""GET /api/sync/runs?top=: sync runs, newest first."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint
from shared.sync import runs


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return runs.runs_endpoint(req, dependencies())
