"""CampaignExport (queue campaign-export): see shared.export and docs/EXPORT.md.

An unreadable message raises, so the host retries it and, after maxDequeueCount deliveries,
moves it unchanged to campaign-export-poison.
"""

import azure.functions as func

from shared.app import dependencies
from shared.export import process_message
from shared.http import request_context


def main(msg: func.QueueMessage) -> None:
    with request_context(f"campaign-export:{msg.id}"):
        process_message(dependencies(), msg.get_body())
