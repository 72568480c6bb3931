"""JourneyBatch (queue journey-steps): see shared.journey_batch and docs/BATCH.md.

An unreadable message raises, so the host retries it and, after maxDequeueCount deliveries,
moves it unchanged to journey-steps-poison.
"""

import azure.functions as func

from shared.app import dependencies
from shared.http import request_context
from shared.journey_batch import process_message


def main(msg: func.QueueMessage) -> None:
    with request_context(f"journey-steps:{msg.id}"):
        process_message(dependencies(), msg.get_body())
