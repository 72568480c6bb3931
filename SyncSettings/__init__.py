"""GET/PUT /api/sync/settings: the scheduled-sync settings document, versioned with an ETag."""

import azure.functions as func

from shared.app import dependencies
from shared.control import document_endpoint
from shared.http import endpoint


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return document_endpoint(req, dependencies().sync_settings_store)
