"""Marketing-list membership: the rules Dataverse applies when members are added or removed."""

from __future__ import annotations

from typing import Any

from .errors import ODataError, record_not_found
from .relations import find_membership
from .values import LookupRef, new_guid, utc_now
from .writes import Writer

MEMBER_CODES = {"account": 1, "contact": 2, "lead": 4}


def list_error(message: str) -> ODataError:
    return ODataError(400, "0x80040203", message)


def check_list_accepts(writer: Writer, list_row: dict[str, Any], member_table: str) -> None:
    if list_row.get("statecode") == 1:
        raise list_error("The marketing list is inactive and cannot be modified.")
    if list_row.get("type") is True:
        raise list_error("Members cannot be added to a dynamic marketing list; its members come from its query.")
    if list_row.get("lockstatus") is True:
        raise list_error("The marketing list is locked. No members can be added to it.")
    expected = list_row.get("createdfromcode")
    if MEMBER_CODES.get(member_table) != expected:
        raise list_error(
            f"The member type '{member_table}' does not match the member type of the marketing list "
            f"(createdfromcode {expected}).")


def add_member(writer: Writer, list_id: str, member: LookupRef) -> tuple[str, bool]:
    """Adds `member` to the list; returns (listmember id, created). Re-adding is a no-op."""
    list_row = writer.store.get("list", list_id)
    if list_row is None:
        raise record_not_found("list", list_id)
    if not writer.store.exists(member.table, member.id):
        raise record_not_found(member.table, member.id)
    existing = find_membership(writer.store, list_id, member)
    check_list_accepts(writer, list_row, member.table)
    if existing is not None:
        return existing["listmemberid"], False
    member_id = new_guid()
    now = utc_now()
    writer.store.put("listmember", member_id, {
        "listmemberid": member_id, "listid": LookupRef("list", list_id), "entityid": member,
        "entitytype": member.table, "name": None, "createdon": now, "modifiedon": now,
    })
    writer.refresh_member_count(list_id)
    return member_id, True


def remove_member(writer: Writer, list_id: str, member: LookupRef) -> bool:
    list_row = writer.store.get("list", list_id)
    if list_row is None:
        raise record_not_found("list", list_id)
    if list_row.get("statecode") == 1:
        raise list_error("The marketing list is inactive and cannot be modified.")
    existing = find_membership(writer.store, list_id, member)
    if existing is None:
        return False
    writer.store.delete("listmember", existing["listmemberid"])
    writer.refresh_member_count(list_id)
    return True
