"""The platform's side of the sync over HTTP: enqueue, changes and links. Nothing here talks to
Dynamics; what arrives waits in Table Storage for the next run."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import azure.functions as func

from shared.http import ProblemError, json_response, method_not_allowed, parse_body, parse_request
from shared.resolution import person_attributes
from shared.steps.config import StepConfig
from shared.steps.person import identifier_errors
from shared.store.idempotency import Claim, StoredResponse, body_hash
from shared.sync.models import ChangesRequest, EnqueueRequest, LinkRequest
from shared.sync.people import columns_for, enqueue_tags, mapping_locs

if TYPE_CHECKING:
    from shared.app import Dependencies

log = logging.getLogger(__name__)

KINDS = ("lead", "contact")
ENQUEUE_SCOPE = "sync-enqueue"


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def enqueue(req: func.HttpRequest, deps: Dependencies) -> func.HttpResponse:
    """202 with the tags to put on the contact; the next run creates or links the record."""
    request, raw = parse_request(req, EnqueueRequest)
    kind, person = request.as_, request.person
    config, _ = deps.config_store.get()
    settings, _ = deps.sync_settings_store.get()
    step_config = StepConfig.from_document(config)
    values = person.platform_values()
    # The journey steps' rule, over the columns the sync would write for the kind.
    columns = person_attributes({}, {}, columns_for(values, kind, step_config, settings))
    problems = identifier_errors(step_config, [kind], columns, mapping_locs(kind, settings))
    if problems:
        raise ProblemError(400, "Invalid request", "The person fills no identifier set of the kind.",
                           errors=[{"loc": list(loc), "msg": msg} for loc, msg in problems])
    body: dict[str, Any] = {"tags": enqueue_tags(kind, config.platform_name), "idempotent": False}
    claim: Claim | None = None
    if request.idempotency_key is not None:
        begun = deps.idempotency.begin(ENQUEUE_SCOPE, request.idempotency_key, body_hash(raw))
        if isinstance(begun, StoredResponse):
            return json_response({**begun.body, "idempotent": True}, status=begun.status)
        claim = begun
    try:
        if deps.sync_ledger.get_link(kind, person.id) is not None:
            # Already linked: the enqueue creates nothing and is treated as a change.
            deps.sync_pending.add_change(person.id, values, None, _now_text())
        else:
            deps.sync_pending.enqueue(kind, person.id, person.model_dump(mode="json", by_alias=True))
    except Exception:
        if claim is not None:
            deps.idempotency.release(claim)
        raise
    if claim is not None:
        deps.idempotency.complete(claim, 202, body)
    log.info("sync: a contact was enqueued as %s", kind)
    return json_response(body, status=202)


def changes(req: func.HttpRequest, deps: Dependencies) -> func.HttpResponse:
    """202 `{"accepted": n}`: the changes merged for the next run (one older than the change a
    run last applied for that contact is not)."""
    request = parse_body(req, ChangesRequest)
    accepted = 0
    for change in request.changes:
        if deps.sync_pending.add_change(change.person.id, change.person.platform_values(given_only=True),
                                        change.tags, change.updated_at_text):
            accepted += 1
    log.info("sync: %d of %d change(s) accepted", accepted, len(request.changes))
    return json_response({"accepted": accepted}, status=202)


def contact_links(req: func.HttpRequest, deps: Dependencies) -> func.HttpResponse:
    """GET: the contact's links and pending kinds; DELETE: end its links."""
    platform_contact_id = req.route_params.get("platformContactId") or ""
    if not 1 <= len(platform_contact_id) <= 200 or any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0
                                                         for c in platform_contact_id):
        raise ProblemError(400, "Invalid request", "The platform contact id has 1-200 characters, no controls.",
                           errors=[{"loc": ["path", "platformContactId"],
                                    "msg": "must be 1-200 characters without control characters"}])
    method = req.method.upper()
    if method == "GET":
        return _show(platform_contact_id, deps)
    if method == "DELETE":
        return _unlink(req, platform_contact_id, deps)
    return method_not_allowed(req, ["GET", "DELETE"])


def link(req: func.HttpRequest, deps: Dependencies) -> func.HttpResponse:
    """204 once the contact is linked to a record the sync sent; 422 `unknownRecord` otherwise."""
    request = parse_body(req, LinkRequest)
    dynamics_id = request.dynamics_id.lower()
    if deps.sync_ledger.get_record(request.entity, dynamics_id) is None:
        raise ProblemError(422, "Unknown record", f"The sync never sent this {request.entity}; only a record it "
                           "sent can be linked.", code="unknownRecord")
    deps.sync_ledger.link(request.entity, request.platform_contact_id, dynamics_id, _now_text()[:19] + "Z")
    return func.HttpResponse(status_code=204)


def _show(platform_contact_id: str, deps: Dependencies) -> func.HttpResponse:
    found = []
    for kind in KINDS:
        record = deps.sync_ledger.get_link(kind, platform_contact_id)
        if record is not None:
            found.append({"entity": kind, "dynamicsId": record.dynamics_id, "linkedAt": record.linked_at})
    return json_response({"platformContactId": platform_contact_id, "links": found,
                          "pending": deps.sync_pending.pending_kinds(platform_contact_id)})


def _unlink(req: func.HttpRequest, platform_contact_id: str, deps: Dependencies) -> func.HttpResponse:
    entity = req.params.get("entity")
    if entity is not None and entity not in KINDS:
        raise ProblemError(400, "Invalid request", "entity must be lead or contact.",
                           errors=[{"loc": ["query", "entity"], "msg": "must be lead or contact"}])
    for kind in (entity,) if entity else KINDS:
        deps.sync_ledger.unlink(kind, platform_contact_id)
        deps.sync_pending.drop_enqueue(kind, platform_contact_id)
    if all(deps.sync_ledger.get_link(kind, platform_contact_id) is None for kind in KINDS):
        deps.sync_pending.drop_change(platform_contact_id)  # kept while another kind stays linked
    return func.HttpResponse(status_code=204)
