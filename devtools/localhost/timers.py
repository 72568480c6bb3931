"""Timer triggers: six-field NCRONTAB schedules in UTC; runs of one timer never overlap."""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest

from devtools.localhost.functions import Function, invoke
from devtools.ncrontab import Schedule

LOG = logging.getLogger(__name__)

PAST_DUE_TOLERANCE = timedelta(seconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def timer_request(past_due: bool, last: datetime | None, following: datetime | None) -> TimerRequest:
    status = {
        "Last": last.isoformat() if last else None,
        "Next": following.isoformat() if following else None,
        "LastUpdated": utcnow().isoformat(),
    }
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})


class TimerListener:
    """Fires one timer function on its schedule; runs never overlap (one thread per timer)."""

    def __init__(self, function: Function, schedule: Schedule, run_on_startup: bool) -> None:
        self.function = function
        self.schedule = schedule
        self.run_on_startup = run_on_startup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{function.name}-timer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _fire(self, past_due: bool, last: datetime | None, following: datetime | None) -> None:
        # invoke() logs a failure; a failed tick must not stop the schedule.
        with contextlib.suppress(Exception):
            invoke(self.function, timer_request(past_due, last, following))

    def _run(self) -> None:
        LOG.info("Timer %s scheduled '%s' (UTC); next at %s", self.function.name, self.schedule.expression,
                 self.schedule.next_after(utcnow()).isoformat())
        last: datetime | None = None
        if self.run_on_startup:
            last = utcnow()
            self._fire(False, None, self.schedule.next_after(last))
        due = self.schedule.next_after(utcnow())
        forced_late = False
        while not self._stop.wait(max(0.0, (due - utcnow()).total_seconds())):
            following = self.schedule.next_after(due)
            self._fire(forced_late or utcnow() - due > PAST_DUE_TOLERANCE, last, following)
            last = due
            if following <= utcnow():
                # Occurrences went by while it ran: one late run stands for all of them.
                due, forced_late = utcnow(), True
            else:
                due, forced_late = following, False
