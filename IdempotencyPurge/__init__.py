"""Daily timer: delete idempotency records past their `expiresAt` (Table Storage has no TTL)."""

import uuid

import azure.functions as func

from shared.app import dependencies
from shared.http import request_context


def main(timer: func.TimerRequest) -> None:
    with request_context(f"purge-{uuid.uuid4().hex[:12]}"):
        dependencies().idempotency.purge_expired()
