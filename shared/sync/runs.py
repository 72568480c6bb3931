"""Sync runs: queueing one (`POST /api/sync/run`, the timer), reading them, and the `sync-runs`
worker that executes a run in slices under a blob lease.

A run first pushes (enqueues, then changes; on its first delivery), then pulls every enabled
kind when `globalSync` is on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import azure.functions as func

from shared.config import SYNC_KINDS
from shared.dynamics.errors import DataverseUnavailableError
from shared.http import ProblemError, json_response, parse_query
from shared.steps.config import StepConfig
from shared.store.sync_pending import arrival_key
from shared.store.sync_runs import RunActive, RunLease, new_run_id
from shared.sync.messages import encode
from shared.sync.models import RunsQuery
from shared.sync.pull import KindPull, PullContext, Tally
from shared.sync.push import Push, PushContext
from shared.sync.selection import kind_reads

if TYPE_CHECKING:
    from shared.app import Dependencies
    from shared.dynamics import DataverseClient

log = logging.getLogger(__name__)

RUNS_QUEUE = "sync-runs"
QUEUED_LIMIT = dt.timedelta(minutes=15)
DUE_MARGIN = dt.timedelta(minutes=5)
SEND_THREADS = 8
"""Messages to `platform-updates` in flight at once while pulling."""
ENDED = frozenset({"succeeded", "partial", "failed", "cutOff"})


def now(deps: Dependencies) -> dt.datetime:
    """The sync's notion of now: shifted by `SYNC_CLOCK_OFFSET_SECONDS` for a loopback Dynamics only."""
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0)
    offset = deps.settings.sync_clock_offset_seconds
    if offset and deps.settings.dynamics_is_loopback:
        return moment + dt.timedelta(seconds=offset)
    if offset:
        log.warning("SYNC_CLOCK_OFFSET_SECONDS is ignored: DYNAMICS_URL is not a loopback address")
    return moment


def _text(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- queueing --------------------------------------------------------------------------------------

def cut_off_stale(deps: Dependencies) -> None:
    """A run `running` whose lease has run out, or `queued` for 15 minutes, is marked `cutOff`."""
    current = deps.sync_runs.current()
    if current is None:
        return
    # A running run between two deliveries holds no lease for a moment: it is stale only when it
    # also has not been saved for a lease's length.
    stale = (current["status"] == "queued" and now(deps) - _parse(current["queuedAt"]) >= QUEUED_LIMIT) or (
        current["status"] == "running" and deps.sync_runs.idle_seconds(current["runId"], now(deps).timestamp())
        >= RunLease.DURATION
        and not RunLease(deps.config_container).is_held_elsewhere())
    if current["status"] in ENDED or stale:
        run_id = current.pop("runId")
        if current["status"] not in ENDED:
            current.update(status="cutOff", end=_text(now(deps)))
            deps.sync_runs.save(run_id, current, now(deps).timestamp())
            log.warning("sync run %s was cut off", run_id)
        deps.sync_runs.release(run_id)


def queue_run(deps: Dependencies, trigger: str) -> dict[str, Any]:
    """Queue a run; `RunActive` when one is queued or running."""
    cut_off_stale(deps)
    queued = now(deps)
    run_id = new_run_id(int(queued.timestamp() * 1000))
    run = {"trigger": trigger, "status": "queued", "queuedAt": _text(queued), "start": None, "end": None,
           "durationMs": None, "dynamicsRequests": 0, **Tally().to_json()}
    deps.sync_runs.start(run_id, run, queued.timestamp())
    deps.storage.queue(RUNS_QUEUE).send_message(json.dumps({"runId": run_id}))
    log.info("sync run %s queued (%s)", run_id, trigger)
    return {"runId": run_id, **run}


def run_endpoint(req: func.HttpRequest, deps: Dependencies) -> func.HttpResponse:
    """POST /api/sync/run: 202 and the run's address, or 409 `syncRunning` naming the active run."""
    try:
        run = queue_run(deps, "manual")
    except RunActive as active:
        body = {"type": "/problems/syncRunning", "title": "Sync running", "status": 409,
                "detail": "A sync run is already queued or running; wait for it to end.", "code": "syncRunning",
                "runId": active.run_id}
        return func.HttpResponse(json.dumps(body), status_code=409, mimetype="application/problem+json",
                                 charset="utf-8")
    return json_response({"runId": run["runId"], "status": "queued"}, status=202,
                         headers={"Location": f"/api/sync/runs/{run['runId']}"})


def tick(deps: Dependencies) -> str | None:
    """The hourly timer: queue a run when one is due; the run's id, or None."""
    cut_off_stale(deps)
    settings, _ = deps.sync_settings_store.get()
    if deps.sync_runs.current() is not None:
        return None
    if not _due(deps, settings.frequency_hours):
        return None
    try:
        return str(queue_run(deps, "timer")["runId"])
    except RunActive:
        return None


def _due(deps: Dependencies, frequency_hours: int) -> bool:
    for run in deps.sync_runs.newest():
        if run["status"] == "cutOff":
            return True  # a cut-off run waits to be resumed, whatever the frequency
        if run["trigger"] == "timer" and run["status"] != "failed" and run.get("start"):
            return now(deps) >= _parse(run["start"]) + dt.timedelta(hours=frequency_hours) - DUE_MARGIN
    return True


# -- reading -----------------------------------------------------------------------------------------

def runs_endpoint(req: func.HttpRequest, deps: Dependencies) -> func.HttpResponse:
    """GET /api/sync/runs?top=: newest first, unfinished ones included."""
    query = parse_query(req, RunsQuery)
    return json_response({"runs": list(deps.sync_runs.newest(query.top))})


def run_status_endpoint(req: func.HttpRequest, deps: Dependencies) -> func.HttpResponse:
    run_id = req.route_params.get("runId") or ""
    run = deps.sync_runs.get(run_id)
    if run is None:
        raise ProblemError(404, "Not found", "There is no sync run with this id.", code="runNotFound")
    return json_response(run)


# -- the worker ----------------------------------------------------------------------------------------

def work(msg: func.QueueMessage, deps: Dependencies) -> None:
    """One delivery of a `sync-runs` message: run (or resume) the run for at most a slice."""
    run_id = str(json.loads(msg.get_body().decode("utf-8"))["runId"])
    run = deps.sync_runs.get(run_id)
    if run is None or run["status"] in ENDED:
        log.info("sync run %s has ended or is unknown; nothing to do", run_id)
        return
    lease = RunLease(deps.config_container)
    if not lease.acquire():
        raise RuntimeError(f"sync run {run_id}: another delivery holds the lease")
    try:
        _deliver(deps, run_id, run, lease)
    finally:
        lease.release()  # a delivery that fails gives the lease back at once; a killed one lets it run out


def _deliver(deps: Dependencies, run_id: str, run: dict[str, Any], lease: RunLease) -> None:
    started = time.monotonic()
    client = deps.dynamics.counted()
    run.pop("runId")
    tally = Tally.from_json(run)
    first_delivery = run["start"] is None
    if first_delivery:
        run["start"] = _text(now(deps))
    run["status"] = "running"
    deps.sync_runs.save(run_id, run, now(deps).timestamp())
    try:
        finished = _sync_all(deps, run_id, client, tally, push=first_delivery,
                             out_of_time=lambda: time.monotonic() - started >= deps.settings.sync_run_slice_seconds,
                             renew=lease.renew)
    except DataverseUnavailableError as exc:
        # The run cannot go on; the checkpoint stays for the next run.
        tally.error("", None, None, "dynamicsUnavailable", str(exc))
        _end(deps, run_id, run, tally, client.request_count, "failed")
        return
    if not finished:
        run.update(tally.to_json())
        run["dynamicsRequests"] = int(run["dynamicsRequests"]) + client.request_count
        deps.sync_runs.save(run_id, run, now(deps).timestamp())
        lease.release()
        deps.storage.queue(RUNS_QUEUE).send_message(json.dumps({"runId": run_id}))
        log.info("sync run %s handed on to a new delivery", run_id)
        return
    _end(deps, run_id, run, tally, client.request_count, "partial" if tally.counts["errors"] else "succeeded")


def _end(deps: Dependencies, run_id: str, run: dict[str, Any], tally: Tally, requests: int, status: str) -> None:
    run.update(tally.to_json())
    run["dynamicsRequests"] = int(run["dynamicsRequests"]) + requests
    end = now(deps)
    run.update(status=status, end=_text(end),
               durationMs=int((end - _parse(run["start"])).total_seconds() * 1000))
    deps.sync_runs.save(run_id, run, now(deps).timestamp())
    deps.sync_runs.release(run_id)
    log.info("sync run %s %s: %s", run_id, status, tally.counts)


def _send_message(queue: Any, text: str) -> None:
    """Send once more when the connection broke before the answer (the SDK does not resend a
    POST): should the first have landed, the platform drops the copy by its `messageId`."""
    from azure.core.exceptions import ServiceResponseError

    try:
        queue.send_message(text)
    except ServiceResponseError:
        log.warning("platform-updates: a message got no answer; sending it again")
        queue.send_message(text)


def _sync_all(deps: Dependencies, run_id: str, client: DataverseClient, tally: Tally, *, push: bool,
              out_of_time: Callable[[], bool], renew: Callable[[], None]) -> bool:
    """Push (first delivery only), then pull every enabled kind; False when time ran out."""
    settings, _ = deps.sync_settings_store.get()
    config, _ = deps.config_store.get()
    queue = deps.platform_updates

    def send(body: dict[str, Any]) -> bool:
        if not settings.global_sync:
            return True  # no message of any kind goes to the platform
        text = encode(body)
        if text is None:
            return False
        _send_message(queue, text)
        return True

    reads = {}
    for kind in SYNC_KINDS:
        types = {name: column.type for name, column in deps.metadata.columns(client, kind).columns.items()}
        reads[kind] = kind_reads(kind, settings, config.person_fields.email, types)
    if push:
        pusher = Push(PushContext(run_id=run_id, client=client, ledger=deps.sync_ledger, pending=deps.sync_pending,
                                  tally=tally, settings=settings, config=StepConfig.from_document(config),
                                  platform_name=config.platform_name, reads=reads, send=send,
                                  now_text=lambda: _text(now(deps))))
        cutoff = arrival_key()
        for kind in SYNC_KINDS:
            if pusher.enqueues(kind, cutoff):
                deps.sync_state.ledger_written(kind)
        pusher.changes()
        renew()
    if not settings.global_sync:
        return True  # Dynamics changes made meanwhile are never replayed: turning it on starts afresh
    with ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="platform-updates") as senders:
        def send_texts(texts: list[str]) -> None:
            list(senders.map(lambda text: _send_message(queue, text), texts))  # one message per request

        ctx = PullContext(run_id=run_id, client=client, ledger=deps.sync_ledger, states=deps.sync_state,
                          send_texts=send_texts, tally=tally, now_text=lambda: _text(now(deps)),
                          page_size=deps.settings.sync_page_size, out_of_time=out_of_time, renew=renew)
        for kind in SYNC_KINDS:
            if settings.selection(kind).enabled and not KindPull(ctx, reads[kind]).run():
                return False
    return True
