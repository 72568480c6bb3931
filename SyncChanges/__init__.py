"""POST /api/sync/changes: the platform's changed contacts, pushed at the next run."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint
from shared.sync import intake


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return intake.changes(req, dependencies())
