"""GET/PUT of the sync settings document: the configuration rules, plus the metadata checks and
the initial syncs a saved change starts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from shared.config import SYNC_KINDS, SyncSettings
from shared.control import document_endpoint
from shared.http import ProblemError
from shared.sync.settings_checks import initial_sync_started, metadata_errors

if TYPE_CHECKING:
    from shared.app import Dependencies

log = logging.getLogger(__name__)


def sync_settings_endpoint(req: func.HttpRequest, deps: Dependencies) -> func.HttpResponse:
    """As `/api/config` (`document_endpoint`), and a PUT is checked against each kind's columns
    (400 listing every misfit; 503 when Dynamics cannot be asked). A change that starts an initial
    sync is recorded before the document is saved: should the save then fail, the worst is one
    needless initial sync, never a missed one."""

    def fits_the_columns(new_doc: SyncSettings) -> None:
        columns = {kind: deps.metadata.columns(deps.dynamics, kind).columns for kind in SYNC_KINDS}
        problems = metadata_errors(new_doc, columns)
        if problems:
            count = len(problems)
            raise ProblemError(400, "Invalid request",
                               f"The request has {count} invalid field{'s' if count != 1 else ''}.", errors=problems)

    def restart_initial_syncs(new_doc: SyncSettings, tags: list[str]) -> None:
        before, current_etag = deps.sync_settings_store.get()
        started = initial_sync_started(before, new_doc)
        if started and current_etag in tags:
            kinds = SYNC_KINDS if started.everything else sorted(started.kinds)
            deps.sync_state.restart(kinds)
            log.info("sync settings: the next run is an initial sync of %s", ", ".join(kinds))

    return document_endpoint(req, deps.sync_settings_store, check=fits_the_columns,
                             before_write=restart_initial_syncs)
