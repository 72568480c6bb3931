"""POST /api/sync/enqueue: create or link a lead/contact for a platform contact at the next run."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint
from shared.sync import intake


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return intake.enqueue(req, dependencies())
