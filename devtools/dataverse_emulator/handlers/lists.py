"""Marketing-list actions: AddMemberList, RemoveMemberList (bound) and AddListMembersList (unbound)."""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import payload_error, record_not_found
from ..membership import add_member, remove_member
from ..protocol import Response, empty_response, json_response
from ..values import LookupRef, normalize_guid


def _member_ref(ctx: Context, entity_id: str) -> LookupRef:
    for table in ("account", "contact", "lead"):
        if ctx.store.exists(table, entity_id):
            return LookupRef(table, entity_id)
    raise record_not_found("entity", entity_id)


def _entity_id(body: Any) -> str:
    raw = body.get("EntityId") if isinstance(body, dict) else None
    value = normalize_guid(raw) if isinstance(raw, str) else None
    if value is None:
        raise payload_error("The parameter 'EntityId' is missing or is not a GUID.")
    return value


def add_member_list(ctx: Context, list_id: str) -> Response:
    entity_id = _entity_id(ctx.json_body())
    if not ctx.store.exists("list", list_id):
        raise record_not_found("list", list_id)
    member_id, _ = add_member(ctx.writer(), list_id, _member_ref(ctx, entity_id))
    return json_response(200, {
        "@odata.context": f"{ctx.root}$metadata#Microsoft.Dynamics.CRM.AddMemberListResponse", "Id": member_id,
    })


def remove_member_list(ctx: Context, list_id: str) -> Response:
    entity_id = _entity_id(ctx.json_body())
    if not ctx.store.exists("list", list_id):
        raise record_not_found("list", list_id)
    remove_member(ctx.writer(), list_id, _member_ref(ctx, entity_id))
    return empty_response(204)


def add_list_members_list(ctx: Context) -> Response:
    body = ctx.json_body()
    if not isinstance(body, dict):
        raise payload_error("The request body must be a JSON object.")
    list_param = body.get("List")
    members = body.get("Members")
    if not isinstance(list_param, dict) or not isinstance(members, list):
        raise payload_error("Request message has unresolved parameters: 'List' and 'Members' are required.")
    list_id = _typed_key(list_param, "list", "listid")
    if not ctx.store.exists("list", list_id):
        raise record_not_found("list", list_id)
    writer = ctx.writer()
    ctx.operations = max(1, len(members))
    with ctx.store.transaction():
        for member in members:
            if not isinstance(member, dict):
                raise payload_error("Each member must be an entity object with @odata.type.")
            type_name = str(member.get("@odata.type", "")).lstrip("#")
            logical = type_name.rsplit(".", 1)[-1] if type_name.startswith("Microsoft.Dynamics.CRM.") else ""
            if logical not in ("account", "contact", "lead"):
                raise payload_error("EdmEntityObject passed should have the key property value set.")
            member_id = _typed_key(member, logical, f"{logical}id")
            if not ctx.store.exists(logical, member_id):
                raise record_not_found(logical, member_id)
            add_member(writer, list_id, LookupRef(logical, member_id))
    return empty_response(204)


def _typed_key(entity: dict[str, Any], logical: str, key: str) -> str:
    type_name = str(entity.get("@odata.type", "")).lstrip("#")
    if type_name != f"Microsoft.Dynamics.CRM.{logical}":
        raise payload_error("EdmEntityObject passed should have the key property value set.")
    raw = entity.get(key)
    value = normalize_guid(raw) if isinstance(raw, str) else None
    if value is None:
        raise payload_error("EdmEntityObject passed should have the key property value set.")
    return value
