"""How long a caller that met work in flight should wait before it tries again (`Retry-After`).

Shared by the idempotency claims and the person locks, so both answer by the same rule:

- work younger than a typical step (`TYPICAL_STEP_SECONDS`) should be done when that time is
  up: wait what is left of it;
- older work is dragging (Dynamics throttling, a slow write, a holder that died): wait about as
  long again as it has already run, so callers back off as it drags on;
- never past the moment its lease runs out (then the work can be taken over), never more than
  `MAX_RETRY_AFTER_SECONDS`, and always whole seconds, at least 1.
"""

from __future__ import annotations

import math

__all__ = ["MAX_RETRY_AFTER_SECONDS", "TYPICAL_STEP_SECONDS", "retry_after_seconds"]

# A journey step is two Dataverse round trips: well under 2 s unless Dynamics is slow.
TYPICAL_STEP_SECONDS = 2.0
MAX_RETRY_AFTER_SECONDS = 60


def retry_after_seconds(age: float, lease_left: float) -> int:
    """Whole seconds (>= 1) to wait for work that started `age` seconds ago and whose lease runs
    out in `lease_left` seconds."""
    age = max(0.0, age)  # a writer whose clock runs ahead of ours
    wait = TYPICAL_STEP_SECONDS - age if age < TYPICAL_STEP_SECONDS else age
    wait = min(wait, lease_left, MAX_RETRY_AFTER_SECONDS)
    if not math.isfinite(wait):
        return 1
    return max(1, math.ceil(wait))
