"""Navigation properties: reading related rows and (dis)associating them with `$ref`."""

from __future__ import annotations

from ..context import Context
from ..errors import ODataError, bad_request, method_not_allowed, payload_error, segment_not_found
from ..membership import add_member, remove_member
from ..paths import Segment, parse_key
from ..protocol import Response, empty_response, json_response
from ..query import parse_options
from ..references import find_by_key, missing_record, resolve_reference
from ..relations import related_rows
from ..schema import CollectionNav, NavProperty, Table
from ..values import LookupRef
from .entities import require
from .reading import count_text, read_collection


def single_nav(ctx: Context, table: Table, segment: Segment, nav: NavProperty, rest: list[Segment]) -> Response:
    record_id = require(ctx, table, segment)
    method = ctx.request.method
    if rest:
        if rest[0].name != "$ref" or len(rest) > 1:
            raise segment_not_found(rest[0].name)
        if method == "PUT":
            reference = _reference_body(ctx)
            target, target_id = resolve_reference(ctx.schema, ctx.store, reference, ctx.request.content_ids)
            if target.logical_name not in nav.targets:
                raise payload_error(f"The navigation property '{nav.name}' cannot refer to '{target.entity_type}'.")
            ctx.writer().set_lookup(table, record_id, nav, LookupRef(target.logical_name, target_id))
            return empty_response(204)
        if method == "DELETE":
            row = ctx.store.get(table.logical_name, record_id) or {}
            current = row.get(nav.attribute)
            if isinstance(current, LookupRef) and current.table in nav.targets:
                ctx.writer().set_lookup(table, record_id, nav, None)
            return empty_response(204)
        if method == "GET":
            row = ctx.store.get(table.logical_name, record_id) or {}
            ref = row.get(nav.attribute)
            if not isinstance(ref, LookupRef) or ref.table not in nav.targets:
                return empty_response(204)
            target = ctx.schema.table(ref.table)
            return json_response(200, {"@odata.context": f"{ctx.root}$metadata#$ref",
                                       "@odata.id": f"{ctx.root}{target.entity_set}({ref.id})"})
        raise method_not_allowed(method, f"'{nav.name}/$ref'")
    if method != "GET":
        raise method_not_allowed(method, f"the navigation property '{nav.name}'")
    row = ctx.store.get(table.logical_name, record_id) or {}
    ref = row.get(nav.attribute)
    if not isinstance(ref, LookupRef) or ref.table not in nav.targets:
        return empty_response(204)
    target = ctx.schema.table(ref.table)
    related = ctx.store.get(target.logical_name, ref.id)
    if related is None:
        return empty_response(204)
    from .entities import _entity_body, _options_for_entity

    options = _options_for_entity(ctx, target)
    return json_response(200, _entity_body(ctx, target, related, options), ctx.applied_header())


def _reference_body(ctx: Context) -> str:
    body = ctx.json_body()
    reference = body.get("@odata.id") if isinstance(body, dict) else None
    if not isinstance(reference, str):
        raise payload_error("The request body must be an entity reference: {\"@odata.id\": \"<url>\"}.")
    return reference


def collection_nav(ctx: Context, table: Table, segment: Segment, nav: CollectionNav, rest: list[Segment]) -> Response:
    record_id = require(ctx, table, segment)
    parent = ctx.store.get(table.logical_name, record_id) or {}
    target = ctx.schema.table(nav.target)
    method = ctx.request.method
    if not rest:
        if method == "POST":
            raise ODataError(501, "0x80040216", "Creating a related row through a collection navigation "
                                                "property is not implemented by the Dataverse emulator.")
        if method != "GET":
            raise method_not_allowed(method, f"the navigation property '{nav.name}'")
        options = parse_options(ctx.request.query())
        rows = related_rows(ctx.schema, ctx.store, table, parent, nav)
        return read_collection(ctx, target, rows, options)
    last = rest[-1]
    if rest[0].name == "$count" and len(rest) == 1 and method == "GET":
        return count_text(len(related_rows(ctx.schema, ctx.store, table, parent, nav)))
    if rest[0].name == "$ref" and len(rest) == 1:
        if method == "POST":
            reference = _reference_body(ctx)
            child_table, child_id = resolve_reference(ctx.schema, ctx.store, reference, ctx.request.content_ids)
            _associate(ctx, table, record_id, nav, child_table, child_id)
            return empty_response(204)
        if method == "DELETE":
            id_option = ctx.request.query().get("$id")
            if not id_option:
                raise bad_request("The $id query option is required to remove a reference.", "0x80060888")
            child_table, ref_id = resolve_reference(ctx.schema, ctx.store, id_option, ctx.request.content_ids)
            _disassociate(ctx, table, record_id, nav, child_table, ref_id)
            return empty_response(204)
        if method == "GET":
            rows = related_rows(ctx.schema, ctx.store, table, parent, nav)
            return json_response(200, {"@odata.context": f"{ctx.root}$metadata#Collection($ref)", "value": [
                {"@odata.id": f"{ctx.root}{target.entity_set}({r[target.primary_key]})"} for r in rows]})
        raise method_not_allowed(method, f"'{nav.name}/$ref'")
    if rest[0].key is not None and len(rest) == 2 and last.name == "$ref" and method == "DELETE":
        key = parse_key(rest[0].key)
        found_id, _ = find_by_key(ctx.store, target, key)
        if found_id is None:
            raise missing_record(target, key)
        child_id = found_id
        _disassociate(ctx, table, record_id, nav, target, child_id)
        return empty_response(204)
    raise segment_not_found(rest[0].raw)


def _associate(ctx: Context, table: Table, record_id: str, nav: CollectionNav, child_table: Table,
               child_id: str) -> None:
    if child_table.logical_name != nav.target:
        raise payload_error(f"'{nav.name}' relates to '{nav.target}' rows, not '{child_table.logical_name}'.")
    writer = ctx.writer()
    if nav.kind == "one_to_many":
        child_nav = _child_nav(child_table, nav.attribute, table.logical_name)
        writer.set_lookup(child_table, child_id, child_nav, LookupRef(table.logical_name, record_id))
    elif nav.kind == "list_members":
        _, created = add_member(writer, record_id, LookupRef(child_table.logical_name, child_id))
        if not created:
            raise ODataError(412, "0x80040237", "Cannot insert duplicate key: the member is already in the list.")
    else:
        _, created = add_member(writer, child_id, LookupRef(table.logical_name, record_id))
        if not created:
            raise ODataError(412, "0x80040237", "Cannot insert duplicate key: the member is already in the list.")


def _disassociate(ctx: Context, table: Table, record_id: str, nav: CollectionNav, child_table: Table,
                  child_id: str) -> None:
    writer = ctx.writer()
    if nav.kind == "one_to_many":
        child = ctx.store.get(child_table.logical_name, child_id) or {}
        if child.get(nav.attribute) == LookupRef(table.logical_name, record_id):
            child_nav = _child_nav(child_table, nav.attribute, table.logical_name)
            writer.set_lookup(child_table, child_id, child_nav, None)
    elif nav.kind == "list_members":
        remove_member(writer, record_id, LookupRef(child_table.logical_name, child_id))
    else:
        remove_member(writer, child_id, LookupRef(table.logical_name, record_id))


def _child_nav(child_table: Table, attribute: str, parent_table: str) -> NavProperty:
    for nav in child_table.navs.values():
        if nav.attribute == attribute and parent_table in nav.targets:
            return nav
    raise ODataError(500, "0x80040216", f"No navigation property for {child_table.logical_name}.{attribute}.")
