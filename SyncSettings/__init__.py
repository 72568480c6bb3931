"""GET/PUT /api/sync/settings: the scheduled-sync settings document, versioned with an ETag."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint
from shared.sync.settings_document import sync_settings_endpoint


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return sync_settings_endpoint(req, dependencies())
