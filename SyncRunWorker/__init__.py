"""SyncRunWorker (queue sync-runs): execute a sync run, a slice per delivery, under a blob lease."""

import azure.functions as func

from shared.app import dependencies
from shared.sync import runs


def main(msg: func.QueueMessage) -> None:
    runs.work(msg, dependencies())
