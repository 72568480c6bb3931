"""ScheduledSync: not built yet.

Raising makes each hourly tick show up as a failed invocation in the logs and in monitoring,
instead of a run that looks successful and syncs nothing.
"""

import logging

import azure.functions as func

_log = logging.getLogger(__name__)


def main(timer: func.TimerRequest) -> None:
    _log.error("ScheduledSync is not built yet (past due: %s)", timer.past_due)
    raise NotImplementedError("ScheduledSync is not built yet")
