"""GET and DELETE /api/sync/links/{platformContactId}: a platform contact's links."""

import azure.functions as func

from shared.app import dependencies
from shared.http import endpoint
from shared.sync import intake


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return intake.contact_links(req, dependencies())
