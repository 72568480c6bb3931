"""POST /api/sync/run: queue a sync run now (202), or 409 syncRunning."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint
from shared.sync import runs


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return runs.run_endpoint(req, dependencies())
