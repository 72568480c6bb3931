"""Daily timer: delete idempotency records and dead holders' person locks past their `expiresAt`
(Table Storage has no TTL)."""

import uuid

import azure.functions as func

from shared.app import dependencies
from shared.http import request_context


def main(timer: func.TimerRequest) -> None:
    with request_context(f"purge-{uuid.uuid4().hex[:12]}"):
        deps = dependencies()
        deps.idempotency.purge_expired()
        deps.person_locks.purge_expired()
