"""GET/PUT /api/config: the configuration document, versioned with an ETag."""

import azure.functions as func

from shared.app import dependencies
from shared.control import check_configuration, document_endpoint
from shared.http import endpoint


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    deps = dependencies()
    return document_endpoint(req, deps.config_store, lambda config: check_configuration(deps, config))
