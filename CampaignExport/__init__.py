"""CampaignExport: not built yet.

Raising (rather than returning) keeps every message: the host makes it visible again after
host.json's `visibilityTimeout`, and after `maxDequeueCount` deliveries parks it in
`campaign-export-poison`, from where it can be replayed once the use-case exists.
"""

import logging

import azure.functions as func

_log = logging.getLogger(__name__)


def main(msg: func.QueueMessage) -> None:
    _log.error(
        "CampaignExport cannot process message %s yet (delivery %s); it will be retried, then kept in campaign-export-poison",
        msg.id,
        msg.dequeue_count,
    )
    raise NotImplementedError("CampaignExport is not built yet: message left on the queue for a retry")
