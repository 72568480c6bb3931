"""CampaignExport (queue campaign-export): not built yet; every message is kept (see shared.placeholders)."""

import azure.functions as func

from shared.placeholders import not_built


def main(msg: func.QueueMessage) -> None:
    not_built("CampaignExport", f"message {msg.id}, delivery {msg.dequeue_count}")
