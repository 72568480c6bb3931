"""ScheduledSync (timer, hourly): not built yet; each tick fails visibly (see shared.placeholders)."""

import azure.functions as func

from shared.placeholders import not_built


def main(timer: func.TimerRequest) -> None:
    not_built("ScheduledSync", f"past due: {timer.past_due}")
