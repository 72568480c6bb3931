"""Queue triggers: one poller per function over Azure Storage (Azurite), retries and poison queues."""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient

from devtools.localhost.config import QueueOptions
from devtools.localhost.functions import Function, invocation_label, invoke

LOG = logging.getLogger(__name__)

# How long a dequeued message stays hidden while it is processed; renewed at half-time.
# The Functions host uses 10 minutes too, so a crashed host delays a message the same way.
QUEUE_LEASE_SECONDS = 600
MIN_POLL_SECONDS = 0.1


@dataclass
class _Lease:
    message: Any  # azure.storage.queue.QueueMessage
    pop_receipt: str
    renew_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    settled: bool = False


def storage_connection(binding: dict[str, Any], environ: MutableMapping[str, str]) -> str:
    name = str(binding.get("connection") or "AzureWebJobsStorage")
    for candidate in (name, f"AzureWebJobs{name}"):
        if environ.get(candidate):
            return environ[candidate]
    raise KeyError(f"storage connection setting {name!r} is not set")


class QueueListener:
    """Polls one queue for one function, as the Functions host's queue listener does."""

    def __init__(self, function: Function, connection_string: str, queue_name: str, options: QueueOptions) -> None:
        self.function = function
        self.queue_name = queue_name
        self.options = options
        self._queue = QueueClient.from_connection_string(connection_string, queue_name)
        self._poison = QueueClient.from_connection_string(connection_string, f"{queue_name}-poison")
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._leases: dict[str, _Lease] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=options.batch_size + options.new_batch_threshold,
            thread_name_prefix=f"{function.name}-worker",
        )
        self._thread = threading.Thread(target=self._run, name=f"{function.name}-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        token = invocation_label.set(f"{self.function.name} poller")
        delay = MIN_POLL_SECONDS
        while not self._stop.is_set():
            try:
                self._queue.create_queue()
                break
            except ResourceExistsError:
                break
            except AzureError as exc:
                LOG.warning("Queue %s not reachable (%s); retrying in %.1f s", self.queue_name, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.options.max_polling_interval)
        LOG.info("Listening on queue %s for %s", self.queue_name, self.function.name)
        delay = MIN_POLL_SECONDS
        while not self._stop.is_set():
            self._renew_leases()
            with self._changed:
                # A new batch only once the running ones drop to newBatchThreshold, as the host does.
                if len(self._leases) > self.options.new_batch_threshold:
                    self._changed.wait(timeout=1.0)
                    continue
            try:
                messages = list(self._queue.receive_messages(
                    max_messages=self.options.batch_size, visibility_timeout=QUEUE_LEASE_SECONDS))
            except AzureError as exc:
                LOG.warning("Polling %s failed: %s", self.queue_name, exc)
                messages = []
            if not messages:
                self._stop.wait(delay)
                delay = min(delay * 2, self.options.max_polling_interval)
                continue
            delay = MIN_POLL_SECONDS
            for message in messages:
                lease = _Lease(message, message.pop_receipt or "", time.monotonic() + QUEUE_LEASE_SECONDS / 2)
                with self._changed:
                    self._leases[message.id] = lease
                self._pool.submit(self._process, lease)
        # Stopping: no new messages, but keep the running ones leased until they finish.
        while True:
            with self._changed:
                if not self._leases:
                    break
                self._changed.wait(timeout=1.0)
            self._renew_leases()
        self._pool.shutdown(wait=True)
        invocation_label.reset(token)

    def _renew_leases(self) -> None:
        now = time.monotonic()
        with self._changed:
            due = [lease for lease in self._leases.values() if lease.renew_at <= now]
        for lease in due:
            with lease.lock:
                if lease.settled:
                    continue
                try:
                    receipt = self._queue.update_message(
                        lease.message.id, lease.pop_receipt, visibility_timeout=QUEUE_LEASE_SECONDS)
                    lease.pop_receipt = receipt.pop_receipt or lease.pop_receipt
                    lease.renew_at = now + QUEUE_LEASE_SECONDS / 2
                except AzureError as exc:
                    LOG.warning("Could not extend the lease of message %s: %s", lease.message.id, exc)

    def _decode(self, content: str) -> bytes:
        if self.options.message_encoding == "base64":
            try:
                return base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(
                    "message is not base64 text, which host.json's messageEncoding requires "
                    "(send it with TextBase64EncodePolicy)") from exc
        return content.encode("utf-8")

    def _process(self, lease: _Lease) -> None:
        message = lease.message
        failure: str | None = None
        if message.dequeue_count > self.options.max_dequeue_count:
            # Delivered more often than allowed without a verdict (the host died mid-run): park it.
            failure = f"dequeued {message.dequeue_count} times, more than maxDequeueCount"
        else:
            try:
                trigger = QueueMessage(
                    id=message.id,
                    body=self._decode(message.content),
                    dequeue_count=message.dequeue_count,
                    insertion_time=message.inserted_on,
                    expiration_time=message.expires_on,
                    time_next_visible=message.next_visible_on,
                    pop_receipt=lease.pop_receipt,
                )
                invoke(self.function, trigger)
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, ValueError) and "base64" in str(exc):
                    LOG.error("Message %s on %s: %s", message.id, self.queue_name, exc)
        with lease.lock:
            lease.settled = True
            try:
                self._settle(message, lease.pop_receipt, failure)
            except AzureError as exc:
                LOG.error("Could not settle message %s on %s (it reappears after its lease): %s",
                          message.id, self.queue_name, exc)
        with self._changed:
            self._leases.pop(message.id, None)
            self._changed.notify_all()

    def _settle(self, message: Any, pop_receipt: str, failure: str | None) -> None:
        if failure is None:
            self._queue.delete_message(message.id, pop_receipt)
            return
        if message.dequeue_count >= self.options.max_dequeue_count:
            try:
                self._poison.send_message(message.content)
            except ResourceNotFoundError:
                self._poison.create_queue()
                self._poison.send_message(message.content)
            self._queue.delete_message(message.id, pop_receipt)
            LOG.error("Message %s moved to %s-poison after %d deliveries: %s",
                      message.id, self.queue_name, message.dequeue_count, failure)
            return
        retry_in = round(self.options.visibility_timeout)
        self._queue.update_message(message.id, pop_receipt, visibility_timeout=retry_in)
        LOG.warning("Message %s on %s failed (delivery %d of %d); retry in %d s: %s", message.id,
                    self.queue_name, message.dequeue_count, self.options.max_dequeue_count, retry_in, failure)
