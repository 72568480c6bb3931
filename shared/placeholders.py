"""Entry points whose use-case is not built yet: they fail loudly and lose nothing.

- HTTP: `not_implemented(what)` answers 501 problem+json (`code: notImplemented`).
- Queue and timer: `not_built(function, trigger)` logs an error and raises. A queue message is
  kept: the host makes it visible again after host.json's `visibilityTimeout` and, after
  `maxDequeueCount` deliveries, parks it in `<queue>-poison`, from where it can be replayed once
  the use-case exists. A timer tick shows as a failed invocation, not as a run that looks
  successful and did nothing.

Delete this module when the last placeholder is replaced.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import azure.functions as func

from shared.http import problem_response

log = logging.getLogger(__name__)


def not_implemented(what: str) -> func.HttpResponse:
    """501 for an endpoint that openapi.yaml describes but the code does not serve yet."""
    return problem_response(
        501, "Not implemented", f"{what} is not implemented yet.", code="notImplemented", errors=[]
    )


def not_built(function: str, trigger: str) -> NoReturn:
    """Fail this queue or timer invocation of `function`; `trigger` says what it was given."""
    log.error("%s is not built yet; failing the invocation (%s)", function, trigger)
    raise NotImplementedError(f"{function} is not built yet")
