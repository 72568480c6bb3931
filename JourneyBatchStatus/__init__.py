"""JourneyBatchStatus: not built yet; answers 501 problem+json until its use-case lands in `shared`."""

import azure.functions as func

from shared.http import endpoint
from shared.placeholders import not_implemented


@endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return not_implemented("Reading a journey batch's results")
