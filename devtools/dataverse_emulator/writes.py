"""Applying create/update bodies to rows: validation, lookups, defaults, states, keys, cascades.

One `Writer` per request: it knows the caller (for owner, createdby and createdonbehalfby), the
batch's Content-IDs (for `$n` references in `@odata.bind`) and whether the request turned
duplicate detection on (`MSCRM.SuppressDuplicateDetection: false`).
"""

from __future__ import annotations

from typing import Any

from .errors import (
    ODataError,
    bad_request,
    duplicate_detected,
    duplicate_record,
    invalid_property,
    not_implemented,
    payload_error,
    record_not_found,
    undeclared_bind,
)
from .identity import Caller
from .references import key_values_match, resolve_reference
from .schema import EDM_TYPES, Attribute, NavProperty, Schema, Table
from .store import Store
from .values import LookupRef, format_timestamp, normalize_guid, parse_datetime, utc_now

SEED_SETTABLE = ("createdon", "modifiedon", "statecode", "statuscode", "membercount", "merged", "masterid",
                 "createdby", "modifiedby", "owninguser", "owningteam", "activitytypecode", "entitytype")
_BIND = "@odata.bind"


def validation_error(message: str) -> ODataError:
    return ODataError(400, "0x80044331", f"A validation error occurred. {message}")


class Writer:
    def __init__(self, schema: Schema, store: Store, caller: Caller, content_ids: dict[str, str] | None = None,
                 *, seeding: bool = False, detect_duplicates: bool = False) -> None:
        self.schema = schema
        self.store = store
        self.caller = caller
        self.content_ids = content_ids or {}
        self.seeding = seeding
        self.detect_duplicates = detect_duplicates

    # -- public operations -----------------------------------------------------------------
    def create(self, table: Table, body: dict[str, Any], *, record_id: str | None = None,
               key_values: dict[str, Any] | None = None) -> dict[str, Any]:
        if table.logical_name == "listmember" and not self.seeding:
            return self._create_listmember(body)
        body_id = body.get(table.primary_key)
        if body_id is not None:
            normalized = normalize_guid(str(body_id)) if isinstance(body_id, str) else None
            if normalized is None:
                raise payload_error(f"Cannot convert the literal '{body_id}' to the expected type 'Edm.Guid'.")
            if record_id is not None and normalized != record_id:
                raise bad_request("The primary key in the request body does not match the key in the URI.")
            record_id = normalized
        from .values import new_guid

        record_id = record_id or new_guid()
        if self.store.exists(table.logical_name, record_id):
            raise duplicate_record()
        values, deferred = self._changes(table, body, creating=True, current=None)
        for name, value in (key_values or {}).items():
            attr = table.attribute_by_read_name(name)
            column = attr.name if attr else name
            if column not in values:
                values[column] = value
        row = self._defaults(table)
        row.update(values)
        row[table.primary_key] = record_id
        self._settle_state(table, row, values, creating=True)
        self._computed(table, row)
        self._currency(table, row)
        now = utc_now()
        row.setdefault("createdon", now)
        row.setdefault("modifiedon", now)
        if row.get("createdon") is None:
            row["createdon"] = now
        if row.get("modifiedon") is None:
            row["modifiedon"] = now
        self._check_keys(table, row)
        self._check_duplicates(table, row)
        self._check_list_rules(table, row, creating=True)
        self.store.put(table.logical_name, record_id, row)
        self._apply_deferred(table, record_id, deferred)
        return self.store.get(table.logical_name, record_id) or row

    def update(self, table: Table, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self.store.get(table.logical_name, record_id)
        if current is None:
            raise record_not_found(table.logical_name, record_id)
        if table.logical_name == "listmember":
            raise ODataError(405, "0x80060888", "The listmember table does not support Update.")
        values, deferred = self._changes(table, body, creating=False, current=current)
        row = dict(current)
        row.update(values)
        self._settle_state(table, row, values, creating=False)
        self._computed(table, row)
        self._currency(table, row)
        if self.seeding:
            row["modifiedon"] = values.get("modifiedon") or current.get("modifiedon") or utc_now()
        else:
            row["modifiedon"] = utc_now()
            self._stamp(table, row, ("modifiedby", "modifiedonbehalfby"))
        self._check_keys(table, row)
        self._check_duplicates(table, row)
        self._check_list_rules(table, row, creating=False, previous=current)
        self.store.put(table.logical_name, record_id, row)
        self._apply_deferred(table, record_id, deferred)
        return self.store.get(table.logical_name, record_id) or row

    def set_lookup(self, table: Table, record_id: str, nav: NavProperty, ref: LookupRef | None) -> None:
        current = self.store.get(table.logical_name, record_id)
        if current is None:
            raise record_not_found(table.logical_name, record_id)
        row = dict(current)
        row[nav.attribute] = ref
        self._owner_columns(table, row)
        row["modifiedon"] = utc_now()
        self.store.put(table.logical_name, record_id, row)

    def mark_merged(self, table: Table, record_id: str, master: LookupRef, state: int, status: int) -> None:
        """Deactivates a merge's subordinate: `merged` and `masterid` are server-owned, so no body can."""
        current = self.store.get(table.logical_name, record_id)
        if current is None:
            raise record_not_found(table.logical_name, record_id)
        row = dict(current)
        row.update({"merged": True, "masterid": master, "statecode": state, "statuscode": status,
                    "modifiedon": utc_now()})
        self._stamp(table, row, ("modifiedby", "modifiedonbehalfby"))
        self.store.put(table.logical_name, record_id, row)

    def delete(self, table: Table, record_id: str) -> None:
        if not self.store.exists(table.logical_name, record_id):
            raise record_not_found(table.logical_name, record_id)
        if table.logical_name == "listmember":
            row = self.store.get("listmember", record_id) or {}
            self.store.delete("listmember", record_id)
            list_ref = row.get("listid")
            if isinstance(list_ref, LookupRef):
                self.refresh_member_count(list_ref.id)
            return
        self.store.delete(table.logical_name, record_id)
        self._cascade(LookupRef(table.logical_name, record_id))

    def refresh_member_count(self, list_id: str) -> None:
        row = self.store.get("list", list_id)
        if row is None:
            return
        ref = LookupRef("list", list_id)
        count = sum(1 for m in self.store.scan("listmember") if m.get("listid") == ref)
        if row.get("membercount") != count:
            row["membercount"] = count
            row["modifiedon"] = utc_now()
            self.store.put("list", list_id, row)

    # -- body to column values ---------------------------------------------------------------
    def _changes(self, table: Table, body: dict[str, Any], *, creating: bool,
                 current: dict[str, Any] | None) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
        if not isinstance(body, dict):
            raise payload_error("The request body must be a JSON object.")
        values: dict[str, Any] = {}
        deferred: list[tuple[str, Any]] = []
        for key, value in body.items():
            if key.startswith("@"):
                self._check_type_annotation(table, key, value)
                continue
            if key.endswith(_BIND):
                self._bind(table, key[: -len(_BIND)], value, values, deferred)
                continue
            if "@" in key:
                continue  # instance annotations such as FormattedValue are ignored
            if key in table.navs:
                self._nav_value(table, table.navs[key], value, values)
                continue
            if key in table.collections:
                if not isinstance(value, list):
                    raise payload_error(f"A collection was expected for the navigation property '{key}'.")
                deferred.append((key, value))
                continue
            attr = table.attributes.get(key)
            if attr is None or attr.type == "lookup":
                if table.free_form and attr is None and not key.startswith("_"):
                    values[key] = value
                    continue
                raise invalid_property(key, table.logical_name)
            if key == table.primary_key:
                continue
            if attr.server_owned and not (self.seeding and key in SEED_SETTABLE):
                continue
            if not creating and not attr.valid_for_update and not self.seeding:
                continue
            if key == "statecode" and creating and not table.statecode_valid_for_create and not self.seeding:
                raise bad_request(
                    f"The 'statecode' attribute is not valid for create on entity '{table.logical_name}'. "
                    "Create the record, then set its state with an update.", "0x80040203")
            values[key] = self._convert(table, attr, value)
        return values, deferred

    def _check_type_annotation(self, table: Table, key: str, value: Any) -> None:
        if key == "@odata.type" and isinstance(value, str):
            name = value.lstrip("#")
            if name != table.entity_type:
                raise payload_error(f"The entity type '{name}' is not compatible with the base type "
                                    f"'{table.entity_type}' of the given entity set.")

    def _bind(self, table: Table, nav_name: str, value: Any, values: dict[str, Any],
              deferred: list[tuple[str, Any]]) -> None:
        nav = table.navs.get(nav_name)
        if nav is not None:
            if value is None:
                values[nav.attribute] = None
                return
            if not isinstance(value, str):
                raise payload_error(f"The value of '{nav_name}@odata.bind' must be an entity reference URL.")
            target, target_id = resolve_reference(self.schema, self.store, value, self.content_ids)
            if target.logical_name not in nav.targets:
                raise payload_error(
                    f"The navigation property '{nav_name}' of '{table.entity_type}' cannot refer to "
                    f"'{target.entity_type}'.")
            values[nav.attribute] = LookupRef(target.logical_name, target_id)
            return
        if nav_name in table.collections:
            if not isinstance(value, list):
                raise payload_error(f"A collection of entity references was expected for '{nav_name}@odata.bind'.")
            deferred.append((nav_name + _BIND, value))
            return
        attr = table.attributes.get(nav_name)
        if attr is not None and attr.type == "lookup":
            raise undeclared_bind(nav_name)
        raise invalid_property(nav_name, table.logical_name) if attr is not None else undeclared_bind(nav_name)

    def _nav_value(self, table: Table, nav: NavProperty, value: Any, values: dict[str, Any]) -> None:
        if value is None:
            values[nav.attribute] = None
            return
        if isinstance(value, dict):
            if len(nav.targets) != 1:
                raise not_implemented(f"Deep insert through the navigation property '{nav.name}'")
            target = self.schema.table(nav.targets[0])
            created = self.create(target, value)
            values[nav.attribute] = LookupRef(target.logical_name, created[target.primary_key])
            return
        raise payload_error(f"An entity or null was expected for the navigation property '{nav.name}'.")

    def _apply_deferred(self, table: Table, record_id: str, deferred: list[tuple[str, Any]]) -> None:
        parent = LookupRef(table.logical_name, record_id)
        for key, items in deferred:
            nav_name = key[: -len(_BIND)] if key.endswith(_BIND) else key
            collection = table.collections[nav_name]
            if collection.kind != "one_to_many":
                self._associate_lists(table, record_id, nav_name, key, items)
                continue
            target = self.schema.table(collection.target)
            for item in items:
                if key.endswith(_BIND):
                    if not isinstance(item, str):
                        raise payload_error(f"Entity references were expected for '{key}'.")
                    child_table, child_id = resolve_reference(self.schema, self.store, item, self.content_ids)
                    if child_table is not target:
                        raise payload_error(f"'{item}' is not a '{target.entity_type}'.")
                    child = self.store.get(target.logical_name, child_id) or {}
                    child[collection.attribute] = parent
                    self.store.put(target.logical_name, child_id, child)
                else:
                    if not isinstance(item, dict):
                        raise payload_error(f"Entities were expected for the navigation property '{nav_name}'.")
                    created = self.create(target, {k: v for k, v in item.items()})
                    child = self.store.get(target.logical_name, created[target.primary_key]) or {}
                    child[collection.attribute] = parent
                    self.store.put(target.logical_name, created[target.primary_key], child)

    def _associate_lists(self, table: Table, record_id: str, nav_name: str, key: str, items: list[Any]) -> None:
        from .membership import add_member

        if not key.endswith(_BIND):
            raise not_implemented(f"Deep insert through the relationship '{nav_name}'")
        collection = table.collections[nav_name]
        for item in items:
            if not isinstance(item, str):
                raise payload_error(f"Entity references were expected for '{key}'.")
            other, other_id = resolve_reference(self.schema, self.store, item, self.content_ids)
            if other.logical_name != collection.target:
                raise payload_error(f"'{item}' is not a '{collection.target}'.")
            if collection.kind == "list_members":
                add_member(self, record_id, LookupRef(other.logical_name, other_id))
            else:
                add_member(self, other_id, LookupRef(table.logical_name, record_id))

    def _convert(self, table: Table, attr: Attribute, value: Any) -> Any:
        if value is None:
            return None
        kind = attr.type
        edm = EDM_TYPES.get(kind, "Edm.String")

        def wrong() -> ODataError:
            shown = value if not isinstance(value, (dict, list)) else "[complex value]"
            return payload_error(f"Cannot convert the literal '{shown}' to the expected type '{edm}'.")

        if kind in ("string", "memo"):
            if not isinstance(value, str):
                raise wrong()
            if attr.max_length is not None and len(value) > attr.max_length:
                raise validation_error(
                    f"The length of the '{attr.name}' attribute of the '{table.logical_name}' entity exceeded "
                    f"the maximum allowed length of '{attr.max_length}'.")
            return value
        if kind in ("int", "bigint", "picklist", "state", "status"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong()
            if kind == "picklist" and attr.options and value not in attr.options:
                raise validation_error(
                    f"The value {value} of '{attr.name}' on record of type '{table.logical_name}' is outside "
                    f"the valid range. Accepted Values: {','.join(str(k) for k in attr.options)}")
            return value
        if kind in ("decimal", "money", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise wrong()
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                raise wrong()
            return value
        if kind in ("datetime", "date"):
            moment = parse_datetime(value) if isinstance(value, str) else None
            if moment is None:
                raise wrong()
            return moment.date().isoformat() if kind == "date" else format_timestamp(moment)
        if kind == "guid":
            normalized = normalize_guid(value) if isinstance(value, str) else None
            if normalized is None:
                raise wrong()
            return normalized
        return value

    # -- server-set columns ----------------------------------------------------------------
    def _defaults(self, table: Table) -> dict[str, Any]:
        row: dict[str, Any] = {name: None for name in table.attributes}
        row.update(table.defaults)
        if "ownerid" in table.navs:
            row["ownerid"] = LookupRef("systemuser", self.caller.user_id)
            row["owningbusinessunit"] = LookupRef("businessunit", self.caller.business_unit_id)
        self._stamp(table, row, ("createdby", "modifiedby", "createdonbehalfby", "modifiedonbehalfby"))
        if table.logical_name in ("systemuser", "team") and "businessunitid" in table.attributes:
            row["businessunitid"] = LookupRef("businessunit", self.caller.business_unit_id)
        return row

    def _stamp(self, table: Table, row: dict[str, Any], columns: tuple[str, ...]) -> None:
        """`*by` columns name the acting user, `*onbehalfby` the real caller when impersonating."""
        for column in columns:
            if column in table.attributes:
                user = self.caller.delegate_id if column.endswith("onbehalfby") else self.caller.user_id
                row[column] = LookupRef("systemuser", user) if user else None

    def _currency(self, table: Table, row: dict[str, Any]) -> None:
        """A money value without a currency is in the base currency (reference 2.1)."""
        if "transactioncurrencyid" not in table.attributes or row.get("transactioncurrencyid") is not None:
            return
        if any(a.type == "money" and row.get(a.name) is not None for a in table.attributes.values()):
            row["transactioncurrencyid"] = LookupRef("transactioncurrency", self.caller.currency_id)

    def _computed(self, table: Table, row: dict[str, Any]) -> None:
        if table.computed_fullname:
            parts = [row.get("firstname"), row.get("middlename"), row.get("lastname")]
            joined = " ".join(p for p in parts if isinstance(p, str) and p)
            row["fullname"] = joined or None
        if table.logical_name in ("systemuser", "team"):
            row["ownerid"] = row[table.primary_key]
        if table.logical_name == "list" and row.get("membertype") is None:
            row["membertype"] = row.get("createdfromcode")
        if table.logical_name == "listmember" and isinstance(row.get("entityid"), LookupRef):
            row["entitytype"] = row["entityid"].table
        self._owner_columns(table, row)

    def _owner_columns(self, table: Table, row: dict[str, Any]) -> None:
        if "ownerid" not in table.navs:
            return
        owner = row.get("ownerid")
        row["owninguser"] = owner if isinstance(owner, LookupRef) and owner.table == "systemuser" else None
        row["owningteam"] = owner if isinstance(owner, LookupRef) and owner.table == "team" else None

    def _settle_state(self, table: Table, row: dict[str, Any], values: dict[str, Any], *, creating: bool) -> None:
        if not table.states:
            return
        state = row.get("statecode")
        if creating and state is None:
            state = min(table.states)
        if state not in table.states:
            raise validation_error(f"{state} is not a valid state code on {table.logical_name}.")
        if "statuscode" in values and values["statuscode"] is not None:
            status = values["statuscode"]
            if "statecode" not in values and not creating:
                owning = [s for s, statuses in table.states.items() if status in statuses]
                if owning:
                    state = owning[0]
            if status not in table.states[state]:
                label = table.state_labels.get(state, str(state))
                raise ODataError(
                    400, "0x80048408",
                    f"{status} is not a valid status code for state code {table.logical_name}State.{label} "
                    f"on {table.logical_name} with Id {row.get(table.primary_key)}.")
        elif creating or "statecode" in values:
            status = table.states[state][0]
        else:
            status = row.get("statuscode")
        row["statecode"], row["statuscode"] = state, status

    def _check_keys(self, table: Table, row: dict[str, Any]) -> None:
        for key in table.keys:
            values: dict[str, Any] = {}
            for column in key:
                attr = table.attribute_by_read_name(column)
                value = row.get(attr.name if attr else column)
                values[column] = value.id if isinstance(value, LookupRef) else value
            if any(v is None for v in values.values()):
                continue
            for other in self.store.scan(table.logical_name):
                if other[table.primary_key] != row[table.primary_key] and key_values_match(other, table, values):
                    raise duplicate_record()

    def _check_duplicates(self, table: Table, row: dict[str, Any]) -> None:
        """The table's duplicate detection rules, only when the request turned detection on."""
        if not self.detect_duplicates:
            return
        for rule in table.duplicate_rules:
            wanted = [row.get(column) for column in rule]
            if not all(isinstance(value, str) and value for value in wanted):
                continue
            for other in self.store.scan(table.logical_name):
                if other[table.primary_key] != row[table.primary_key] and all(
                        isinstance(other.get(c), str) and other[c].casefold() == str(v).casefold()
                        for c, v in zip(rule, wanted, strict=True)):
                    raise duplicate_detected()

    def _check_list_rules(self, table: Table, row: dict[str, Any], *, creating: bool,
                          previous: dict[str, Any] | None = None) -> None:
        if table.logical_name != "list" or self.seeding:
            return
        if creating:
            for column in ("listname", "createdfromcode"):
                if row.get(column) in (None, ""):
                    raise bad_request(f"The '{column}' attribute is required to create a marketing list.",
                                      "0x80040203")
        elif previous is not None and previous.get("statecode") == 1 and row.get("statecode") == 1:
            raise bad_request("The marketing list is inactive and cannot be modified.", "0x80040203")

    # -- deletes ----------------------------------------------------------------------------
    def _cascade(self, ref: LookupRef) -> None:
        """Deleting a row deletes its activities and list memberships and clears other lookups to it."""
        for table in self.schema.tables.values():
            columns = [a.name for a in table.attributes.values() if a.type == "lookup" and ref.table in a.targets]
            if not columns or self.store.count(table.logical_name) == 0:
                continue
            for row in self.store.scan(table.logical_name):
                pointing = [c for c in columns if row.get(c) == ref]
                if not pointing:
                    continue
                row_id = row[table.primary_key]
                if table.logical_name == "listmember" or "regardingobjectid" in pointing:
                    if self.store.exists(table.logical_name, row_id):
                        self.delete(table, row_id)
                    continue
                current = self.store.get(table.logical_name, row_id) or row
                for column in pointing:
                    current[column] = None
                self._owner_columns(table, current)
                self.store.put(table.logical_name, row_id, current)

    def _create_listmember(self, body: dict[str, Any]) -> dict[str, Any]:
        from .membership import add_member

        list_url = body.get("listid@odata.bind")
        member_urls = [(k, v) for k, v in body.items() if k.startswith("entityid_") and k.endswith(_BIND)]
        if not isinstance(list_url, str) or len(member_urls) != 1 or not isinstance(member_urls[0][1], str):
            raise payload_error("A listmember needs 'listid@odata.bind' and one 'entityid_<table>@odata.bind'.")
        list_table, list_id = resolve_reference(self.schema, self.store, list_url, self.content_ids)
        if list_table.logical_name != "list":
            raise payload_error("'listid@odata.bind' must refer to a list.")
        member_table, member_id = resolve_reference(self.schema, self.store, member_urls[0][1], self.content_ids)
        member_id_created, _ = add_member(self, list_id, LookupRef(member_table.logical_name, member_id))
        return self.store.get("listmember", member_id_created) or {}
