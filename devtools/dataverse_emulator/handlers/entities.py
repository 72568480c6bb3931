"""Single-record operations: create, retrieve, upsert/update, delete, and single-column access."""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import (
    ODataError,
    bad_request,
    duplicate_record,
    method_not_allowed,
    version_mismatch,
)
from ..paths import Segment, parse_key
from ..protocol import Response, empty_response, json_response
from ..query import QueryOptions, check_expand, check_select, parse_options
from ..references import find_by_key, missing_record
from ..representation import context_fragment, etag
from ..schema import Table
from ..values import LookupRef


def _entity_body(ctx: Context, table: Table, row: dict[str, Any], options: QueryOptions) -> dict[str, Any]:
    ctx.apply_annotations_preference()
    body: dict[str, Any] = {
        "@odata.context": f"{ctx.root}$metadata#{context_fragment(table, options.select, options.expand)}/$entity"
    }
    body.update(ctx.renderer().row(table, row, options.select, options.expand))
    return body


def _options_for_entity(ctx: Context, table: Table) -> QueryOptions:
    options = parse_options(ctx.request.query())
    check_select(table, options.select)
    check_expand(ctx.schema, table, options.expand)
    return options


def locate(ctx: Context, table: Table, segment: Segment) -> tuple[str | None, str | dict[str, Any]]:
    key = parse_key(segment.key or "")
    if isinstance(key, dict):
        _check_key_characters(key)
    record_id, _ = find_by_key(ctx.store, table, key)
    return record_id, key


def _check_key_characters(key: dict[str, Any]) -> None:
    for value in key.values():
        if isinstance(value, str) and any(c in value for c in '/<>*%&:\\?+'):
            raise ODataError(400, "0x80060888",
                             "A potentially dangerous Request.Path value was detected from the client. "
                             "Key values containing / < > * % & : \\ ? + cannot be used in a URL; query with $filter.")


def require(ctx: Context, table: Table, segment: Segment) -> str:
    record_id, key = locate(ctx, table, segment)
    if record_id is None:
        raise missing_record(table, key)
    return record_id


def get_entity(ctx: Context, table: Table, segment: Segment) -> Response:
    options = _options_for_entity(ctx, table)
    record_id = require(ctx, table, segment)
    row = ctx.store.get(table.logical_name, record_id) or {}
    tag = etag(row)
    if_none_match = ctx.request.headers.get("If-None-Match")
    if (if_none_match and if_none_match.strip() != "null" and not options.expand
            and "odata.include-annotations" not in ctx.prefer
            and (if_none_match.strip() == "*" or tag in [t.strip() for t in if_none_match.split(",")])):
        return empty_response(304, [("ETag", tag)])
    body = _entity_body(ctx, table, row, options)
    return json_response(200, body, [("ETag", tag), *ctx.applied_header()])


def create(ctx: Context, table: Table) -> Response:
    options = _options_for_entity(ctx, table)
    body = ctx.json_body()
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "0x80048d19")
    row = ctx.writer().create(table, body)
    record_id = row[table.primary_key]
    if ctx.wants_representation():
        ctx.applied.append("return=representation")
        stored = ctx.store.get(table.logical_name, record_id) or row
        response = json_response(201, _entity_body(ctx, table, stored, options),
                                 [("ETag", etag(stored)), *ctx.applied_header()])
        response.entity_url = f"{ctx.root}{table.entity_set}({record_id})"
        return response
    url = f"{ctx.root}{table.entity_set}({record_id})"
    response = empty_response(204, [("OData-EntityId", url)])
    response.entity_url = url
    return response


def upsert(ctx: Context, table: Table, segment: Segment) -> Response:
    options = _options_for_entity(ctx, table)
    options.expand = []  # Dataverse ignores $expand on PATCH
    body = ctx.json_body()
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "0x80048d19")
    record_id, key = locate(ctx, table, segment)
    if_match = (ctx.request.headers.get("If-Match") or "").strip()
    if_none_match = (ctx.request.headers.get("If-None-Match") or "").strip()
    writer = ctx.writer()
    created = False
    if record_id is None:
        if if_match:
            raise missing_record(table, key)
        created = True
        if isinstance(key, str):
            row = writer.create(table, body, record_id=key)
        elif set(key) == {table.primary_key}:
            row = writer.create(table, body, record_id=str(key[table.primary_key]))
        else:
            row = writer.create(table, body, key_values=key)
        record_id = row[table.primary_key]
    else:
        if if_none_match == "*":
            raise duplicate_record()
        current = ctx.store.get(table.logical_name, record_id) or {}
        if if_match and if_match != "*" and etag(current) not in [t.strip() for t in if_match.split(",")]:
            raise version_mismatch()
        if isinstance(key, dict):
            body = {k: v for k, v in body.items() if k not in key}
        writer.update(table, record_id, body)
    url = f"{ctx.root}{segment.raw}"
    if ctx.wants_representation():
        ctx.applied.append("return=representation")
        stored = ctx.store.get(table.logical_name, record_id) or {}
        response = json_response(201 if created else 200, _entity_body(ctx, table, stored, options),
                                 [("ETag", etag(stored)), *ctx.applied_header()])
    else:
        response = empty_response(204, [("OData-EntityId", url)])
    response.entity_url = f"{ctx.root}{table.entity_set}({record_id})"
    return response


def delete(ctx: Context, table: Table, segment: Segment) -> Response:
    record_id = require(ctx, table, segment)
    if_match = (ctx.request.headers.get("If-Match") or "").strip()
    if if_match and if_match != "*":
        current = ctx.store.get(table.logical_name, record_id) or {}
        if etag(current) not in [t.strip() for t in if_match.split(",")]:
            raise version_mismatch()
    ctx.writer().delete(table, record_id)
    return empty_response(204)


def property_operation(ctx: Context, table: Table, segment: Segment, name: str, rest: list[Segment]) -> Response:
    attr = table.attribute_by_read_name(name)
    if attr is None and not table.free_form:
        from ..errors import segment_not_found

        raise segment_not_found(name)
    record_id = require(ctx, table, segment)
    column = attr.name if attr else name
    method = ctx.request.method
    if rest and rest[0].name != "$value":
        from ..errors import segment_not_found

        raise segment_not_found(rest[0].name)
    if method == "GET":
        row = ctx.store.get(table.logical_name, record_id) or {}
        value = row.get(column)
        if isinstance(value, LookupRef):
            value = value.id
        if value is None:
            return empty_response(204)
        if rest:
            return Response(200, [("Content-Type", "text/plain"), ("OData-Version", "4.0")], str(value).encode())
        return json_response(200, {
            "@odata.context": f"{ctx.root}$metadata#{table.entity_set}({record_id})/{name}", "value": value,
        })
    if attr is not None and attr.type == "lookup":
        raise bad_request(f"The lookup column '{name}' cannot be written directly; use its navigation property "
                          "with @odata.bind or /$ref.", "0x80048d19")
    if method == "PUT":
        body = ctx.json_body()
        if not isinstance(body, dict) or "value" not in body:
            raise bad_request("The request body must be an object with a 'value' member.", "0x80048d19")
        ctx.writer().update(table, record_id, {column: body["value"]})
        return empty_response(204)
    if method == "DELETE":
        ctx.writer().update(table, record_id, {column: None})
        return empty_response(204)
    raise method_not_allowed(method, f"the property '{name}'")
