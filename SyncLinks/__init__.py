"""POST /api/sync/links: the platform contact made for a record the sync sent."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint
from shared.sync import intake


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return intake.link(req, dependencies())
