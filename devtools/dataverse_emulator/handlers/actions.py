"""Functions and actions other than the list ones: WhoAmI and the bulk actions bound to entity sets."""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import payload_error, record_not_found
from ..paths import split_path
from ..protocol import Response, empty_response, json_response
from ..references import find_by_key, invalid_key, strip_service_root
from ..schema import Table
from ..values import normalize_guid


def who_am_i(ctx: Context) -> Response:
    return json_response(200, {
        "@odata.context": f"{ctx.root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": ctx.caller.business_unit_id, "UserId": ctx.caller.user_id,
        "OrganizationId": ctx.app.identity.organization_id,
    })


def _targets(ctx: Context, table: Table) -> list[dict[str, Any]]:
    body = ctx.json_body()
    targets = body.get("Targets") if isinstance(body, dict) else None
    if not isinstance(targets, list):
        raise payload_error("Request message has unresolved parameters: 'Targets' is required.")
    for target in targets:
        if not isinstance(target, dict) or str(target.get("@odata.type", "")).lstrip("#") != table.entity_type:
            raise payload_error(f"Every target must be an object with \"@odata.type\": \"{table.entity_type}\".")
    ctx.operations = max(1, len(targets))
    return targets


def create_multiple(ctx: Context, table: Table) -> Response:
    targets = _targets(ctx, table)
    writer = ctx.writer()
    ids: list[str] = []
    with ctx.store.transaction():
        for target in targets:
            ids.append(writer.create(table, target)[table.primary_key])
    return json_response(200, {
        "@odata.context": f"{ctx.root}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse", "Ids": ids,
    })


def update_multiple(ctx: Context, table: Table) -> Response:
    targets = _targets(ctx, table)
    writer = ctx.writer()
    with ctx.store.transaction():
        for target in targets:
            raw = target.get(table.primary_key)
            record_id = normalize_guid(raw) if isinstance(raw, str) else None
            if record_id is None:
                raise payload_error(f"Every target must carry its primary key '{table.primary_key}'.")
            if not ctx.store.exists(table.logical_name, record_id):
                raise record_not_found(table.logical_name, record_id)
            writer.update(table, record_id, {k: v for k, v in target.items() if k != table.primary_key})
    return empty_response(204)


def upsert_multiple(ctx: Context, table: Table) -> Response:
    targets = _targets(ctx, table)
    writer = ctx.writer()
    with ctx.store.transaction():
        for target in targets:
            body = {k: v for k, v in target.items() if k != "@odata.id"}
            reference = target.get("@odata.id")
            key: str | dict[str, Any]
            if isinstance(reference, str):
                segments = split_path(strip_service_root(reference, ctx.request.content_ids))
                if len(segments) != 1 or segments[0].name != table.entity_set or segments[0].key is None:
                    raise invalid_key(table)
                from ..paths import parse_key

                key = parse_key(segments[0].key)
            elif isinstance(target.get(table.primary_key), str):
                key = normalize_guid(target[table.primary_key]) or ""
                body.pop(table.primary_key, None)
            else:
                raise payload_error("Every target needs @odata.id or its primary key.")
            record_id, key_values = find_by_key(ctx.store, table, key)
            if record_id is None:
                if isinstance(key, str):
                    writer.create(table, body, record_id=key)
                else:
                    writer.create(table, body, key_values=key_values or key)
            else:
                writer.update(table, record_id, {k: v for k, v in body.items() if k not in key_values})
    return empty_response(204)
