"""Which handler answers a request: the OData resource path decides, then the HTTP method."""

from __future__ import annotations

from .context import Context
from .errors import (
    ODataError,
    bad_request,
    method_not_allowed,
    no_http_resource,
    not_implemented,
    segment_not_found,
)
from .handlers import actions, batch, entities, lists, merge, metadata, navigation, reading, service, tracking
from .paths import Segment, split_path
from .protocol import Response
from .query import parse_options
from .schema import Table

CRM = "Microsoft.Dynamics.CRM."
# Messages Dataverse has that the emulator does not implement: answered 501, never a quiet 200.
NOT_EMULATED = {
    "QualifyLead", "RetrieveTotalRecordCount", "BulkDelete", "ExecuteMultiple", "RetrieveVersion",
    "RetrieveCurrentOrganization", "SetState", "Assign", "GrantAccess", "RevokeAccess", "CopyMembersList",
    "CopyDynamicListToStatic", "QualifyMemberList", "AddMembersBatchList", "RemoveListMembersList",
    "RetrieveEntityChanges", "CalculateRollupField", "InitializeFrom", "SendEmail", "RetrieveUserPrivileges",
    "RetrieveMetadataChanges", "GlobalOptionSetDefinitions", "RelationshipDefinitions", "DeleteMultiple",
}
UNBOUND_FUNCTIONS = {"WhoAmI"}
UNBOUND_ACTIONS = {"AddListMembersList": lists.add_list_members_list, "Merge": merge.merge}


def dispatch(ctx: Context) -> Response:
    request = ctx.request
    segments = split_path(request.path)
    method = request.method
    if not segments:
        if method != "GET":
            raise method_not_allowed(method, "the service document")
        return service.service_document(ctx)
    first = segments[0]
    if first.name == "$metadata":
        return service.metadata_document(ctx)
    if first.name == "$batch":
        if method != "POST":
            raise method_not_allowed(method, "$batch")
        if request.content_ids or request.in_change_set:
            raise bad_request("Nested batch requests are not supported.", "0x80060888")
        return batch.handle_batch(ctx)
    if first.name in UNBOUND_FUNCTIONS:
        if method != "GET":
            raise no_http_resource(f"{ctx.root}{request.path.lstrip('/')}")
        return actions.who_am_i(ctx)
    if first.name in UNBOUND_ACTIONS:
        if method != "POST":
            raise no_http_resource(f"{ctx.root}{request.path.lstrip('/')}")
        return UNBOUND_ACTIONS[first.name](ctx)
    if first.name == "EntityDefinitions":
        return metadata.entity_definitions(ctx, segments)
    name = first.name[len(CRM):] if first.name.startswith(CRM) else first.name
    if name in NOT_EMULATED:
        raise not_implemented(f"The message '{name}'")
    table = ctx.schema.by_set(first.name)
    if table is None:
        raise segment_not_found(first.name)
    if first.key is None:
        return _collection(ctx, table, segments[1:])
    return _entity(ctx, table, first, segments[1:])


def _collection(ctx: Context, table: Table, rest: list[Segment]) -> Response:
    method = ctx.request.method
    if not rest:
        if method == "GET":
            options = parse_options(ctx.request.query())
            if tracking.is_tracking_request(ctx, options):
                return tracking.track(ctx, table, options)
            return reading.read_collection(ctx, table, reading.candidate_rows(ctx, table, options), options)
        if method == "POST":
            return entities.create(ctx, table)
        raise method_not_allowed(method, f"the entity set '{table.entity_set}'")
    segment = rest[0]
    if segment.name == "$count" and len(rest) == 1:
        if method != "GET":
            raise method_not_allowed(method, "$count")
        options = parse_options(ctx.request.query())
        if options.deltatoken is not None:
            return tracking.count_changes(ctx, table, options)
        rows = ctx.store.scan(table.logical_name)
        if options.filter is not None:
            evaluator = ctx.evaluator()
            evaluator.check(options.filter, table)
            rows = [r for r in rows if evaluator.matches(options.filter, table, r)]
        return reading.count_text(len(rows))
    action = segment.name[len(CRM):] if segment.name.startswith(CRM) else None
    bulk = {"CreateMultiple": actions.create_multiple, "UpdateMultiple": actions.update_multiple,
            "UpsertMultiple": actions.upsert_multiple}
    if action in bulk or segment.name in bulk:
        if action is None:
            raise bad_request("Request message has unresolved parameters.", "0x80040203")
        if method != "POST":
            raise no_http_resource(f"{ctx.root}{ctx.request.path.lstrip('/')}")
        offered = ctx.app.config.get("bulkActionTables")
        if offered is not None and table.logical_name not in offered:
            raise bad_request(f"The {action} message is not available for the entity '{table.logical_name}'.",
                              "0x80040800")
        return bulk[action](ctx, table)
    if action is not None:
        raise not_implemented(f"The action '{segment.name}'")
    raise segment_not_found(segment.name)


def _entity(ctx: Context, table: Table, first: Segment, rest: list[Segment]) -> Response:
    method = ctx.request.method
    if not rest:
        if method == "GET":
            return entities.get_entity(ctx, table, first)
        if method == "PATCH":
            return entities.upsert(ctx, table, first)
        if method == "DELETE":
            return entities.delete(ctx, table, first)
        raise method_not_allowed(method, f"an entity of '{table.entity_set}'")
    segment = rest[0]
    name = segment.name
    if name in table.navs and segment.key is None:
        return navigation.single_nav(ctx, table, first, table.navs[name], rest[1:])
    if name in table.collections:
        return navigation.collection_nav(ctx, table, first, table.collections[name], rest[1:] if segment.key is None
                                         else rest)
    list_actions = {"AddMemberList": lists.add_member_list, "RemoveMemberList": lists.remove_member_list}
    if table.logical_name == "list" and (name in list_actions or name[len(CRM):] in list_actions):
        if not name.startswith(CRM):
            raise bad_request("Request message has unresolved parameters.", "0x80040203")
        if method != "POST":
            raise no_http_resource(f"{ctx.root}{ctx.request.path.lstrip('/')}")
        record_id = entities.require(ctx, table, first)
        return list_actions[name[len(CRM):]](ctx, record_id)
    if name.startswith(CRM):
        raise not_implemented(f"The bound action '{name}'")
    if segment.key is None:
        return entities.property_operation(ctx, table, first, name, rest[1:])
    raise segment_not_found(segment.raw)


def handle(ctx: Context) -> Response:
    try:
        return dispatch(ctx)
    except RecursionError as exc:
        raise ODataError(400, "0x80060888", "The request is nested too deeply.") from exc
