"""ScheduledSync (timer, hourly): queue a sync run when one is due (frequencyHours, or a cut-off run)."""

import logging

import azure.functions as func

from shared.app import dependencies
from shared.sync import runs


def main(timer: func.TimerRequest) -> None:
    run_id = runs.tick(dependencies())
    logging.getLogger(__name__).info("sync tick: %s", f"run {run_id} queued" if run_id else "no run due")
