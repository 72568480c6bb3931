"""The unbound `Merge` action (reference 12.2) for lead, contact and account.

The target takes `UpdateContent`, every row that points at the subordinate through a lookup is
moved to the target (list memberships included, without making a second membership), and the
subordinate is deactivated with `merged` true and `masterid` = the target. Every one of these is
an ordinary write, so change tracking reports the subordinate and the moved rows as updates.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import ODataError, bad_request, not_implemented, payload_error, record_not_found
from ..protocol import Response, empty_response
from ..relations import find_membership, nav_for_reference
from ..schema import Table
from ..values import LookupRef, normalize_guid, utc_now
from ..writes import Writer

# The inactive state a merged subordinate takes: Inactive for contact and account, Disqualified for lead.
MERGED_STATE = {"lead": 2, "contact": 1, "account": 1}
_PARAMETERS = ("Target", "Subordinate", "UpdateContent", "PerformParentingChecks")
_CRM = "Microsoft.Dynamics.CRM."


def merge(ctx: Context) -> Response:
    body = ctx.json_body()
    if not isinstance(body, dict):
        raise payload_error("The request body must be a JSON object.")
    missing = [name for name in _PARAMETERS if name not in body]
    if missing:
        raise bad_request(f"Request message has unresolved parameters: {', '.join(repr(m) for m in missing)}.")
    table = _entity_table(ctx, body["Target"], "Target")
    for name in ("Subordinate", "UpdateContent"):
        other = _entity_table(ctx, body[name], name)
        if other is not table:
            raise bad_request(f"The '{name}' must be a '{table.entity_type}' like the 'Target'.")
    checks = body["PerformParentingChecks"]
    if not isinstance(checks, bool):
        raise payload_error("Cannot convert the literal 'PerformParentingChecks' to the expected type 'Edm.Boolean'.")
    if checks:
        raise not_implemented("Merge with PerformParentingChecks true")
    target_id = _record_id(table, body["Target"], "Target")
    subordinate_id = _record_id(table, body["Subordinate"], "Subordinate")
    if target_id == subordinate_id:
        raise bad_request("The target and the subordinate of a merge must be different records.")
    for record_id in (target_id, subordinate_id):
        row = ctx.store.get(table.logical_name, record_id)
        if row is None:
            raise record_not_found(table.logical_name, record_id)
        if row.get("merged") is True:
            raise bad_request(f"The {table.logical_name} with Id = {record_id} has already been merged "
                              "and cannot take part in another merge.")
    content = {k: v for k, v in body["UpdateContent"].items() if k != "@odata.type" and k != table.primary_key}
    writer = ctx.writer()
    with ctx.store.transaction():
        writer.update(table, target_id, content)
        _move_children(ctx, writer, LookupRef(table.logical_name, subordinate_id), target_id)
        _deactivate(writer, table, subordinate_id, target_id)
    return empty_response(204)


def _entity_table(ctx: Context, value: Any, name: str) -> Table:
    if not isinstance(value, dict):
        raise payload_error(f"The parameter '{name}' must be an entity object.")
    odata_type = value.get("@odata.type")
    if not isinstance(odata_type, str) or not odata_type.lstrip("#").startswith(_CRM):
        raise payload_error(f"The parameter '{name}' needs \"@odata.type\": \"Microsoft.Dynamics.CRM.<table>\".")
    logical = odata_type.lstrip("#")[len(_CRM):]
    table = ctx.schema.tables.get(logical)
    if table is None:
        raise payload_error(f"The entity type '{odata_type.lstrip('#')}' is not known.")
    if logical not in MERGED_STATE:
        raise bad_request(f"Merge is not supported for the entity '{logical}'.")
    return table


def _record_id(table: Table, value: dict[str, Any], name: str) -> str:
    raw = value.get(table.primary_key)
    record_id = normalize_guid(raw) if isinstance(raw, str) else None
    if record_id is None:
        raise payload_error(f"The '{name}' must carry its primary key '{table.primary_key}' as a GUID.")
    return record_id


def _move_children(ctx: Context, writer: Writer, subordinate: LookupRef, target_id: str) -> None:
    """Re-points every lookup to the subordinate at the target; `masterid` history stays as it is."""
    target = LookupRef(subordinate.table, target_id)
    for child_table in ctx.schema.tables.values():
        columns = [a.name for a in child_table.attributes.values()
                   if a.type == "lookup" and subordinate.table in a.targets and a.name != "masterid"
                   and not a.server_owned]
        if not columns or ctx.store.count(child_table.logical_name) == 0:
            continue
        for row in ctx.store.scan(child_table.logical_name):
            row_id = row[child_table.primary_key]
            if LookupRef(child_table.logical_name, row_id) in (subordinate, target):
                continue
            for column in columns:
                if row.get(column) != subordinate:
                    continue
                if child_table.logical_name == "listmember":
                    _move_membership(writer, row, target)
                    continue
                nav = nav_for_reference(child_table, column, subordinate.table)
                if nav is None:
                    raise ODataError(500, "0x80040216", f"No navigation property for '{column}'.")
                writer.set_lookup(child_table, row_id, child_table.navs[nav], target)


def _move_membership(writer: Writer, membership: dict[str, Any], target: LookupRef) -> None:
    """The target joins the subordinate's list; a list it is already on keeps one membership."""
    list_ref = membership["listid"]
    member_id = membership["listmemberid"]
    if find_membership(writer.store, list_ref.id, target) is not None:
        writer.store.delete("listmember", member_id)
        writer.refresh_member_count(list_ref.id)
        return
    moved = dict(membership)
    moved["entityid"] = target
    moved["modifiedon"] = utc_now()
    writer.store.put("listmember", member_id, moved)


def _deactivate(writer: Writer, table: Table, subordinate_id: str, target_id: str) -> None:
    state = MERGED_STATE[table.logical_name]
    writer.mark_merged(table, subordinate_id, LookupRef(table.logical_name, target_id), state,
                       table.states[state][0])
