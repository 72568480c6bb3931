"""The few names every part of a journey batch agrees on (kept apart so the status endpoint
imports nothing of the bulk path)."""

from __future__ import annotations

import re

__all__ = ["BATCH_ID", "MAX_STEPS", "OUTCOMES"]

BATCH_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
MAX_STEPS = 5000
OUTCOMES = ("created", "updated", "skipped", "activityLogged", "added", "alreadyMember")
