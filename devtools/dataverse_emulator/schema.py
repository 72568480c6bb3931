"""Declarations of the emulated tables: columns, lookups, relationships, states and keys.

Pure data: nothing here reads or writes rows. `Schema.default()` builds the built-in tables;
a seed's `$entities`, `$keys` and `$changeTracking` extend a copy (`Schema.extend`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

# Attribute types: string memo int bigint decimal money double bool datetime date picklist
# state status guid lookup any
STRING_TYPES = ("string", "memo")
EDM_TYPES = {
    "string": "Edm.String", "memo": "Edm.String", "int": "Edm.Int32", "bigint": "Edm.Int64",
    "decimal": "Edm.Decimal", "money": "Edm.Decimal", "double": "Edm.Double", "bool": "Edm.Boolean",
    "datetime": "Edm.DateTimeOffset", "date": "Edm.Date", "picklist": "Edm.Int32", "state": "Edm.Int32",
    "status": "Edm.Int32", "guid": "Edm.Guid", "lookup": "Edm.Guid", "any": "Edm.Untyped",
}


@dataclass
class Attribute:
    name: str
    type: str
    max_length: int | None = None
    options: dict[int, str] | None = None
    targets: tuple[str, ...] = ()
    server_owned: bool = False  # ignored in write bodies (seeds may set some, see seed.py)
    valid_for_update: bool = True

    @property
    def read_name(self) -> str:
        """The name the Web API uses to read this column (`_x_value` for lookups)."""
        return f"_{self.name}_value" if self.type == "lookup" else self.name


@dataclass
class NavProperty:
    """A single-valued navigation property (how a lookup is written with @odata.bind)."""

    name: str
    attribute: str
    targets: tuple[str, ...]


@dataclass
class CollectionNav:
    """A collection-valued navigation property.

    kind "one_to_many": rows of `target` whose lookup `attribute` points at the parent.
    kind "list_members": from a list, its members of table `target` (through listmember).
    kind "member_lists": from a member row, the lists (`target` = "list") it belongs to.
    """

    name: str
    target: str
    kind: str
    attribute: str = ""


@dataclass
class Table:
    logical_name: str
    entity_set: str
    primary_key: str
    primary_name: str
    attributes: dict[str, Attribute] = field(default_factory=dict)
    navs: dict[str, NavProperty] = field(default_factory=dict)
    collections: dict[str, CollectionNav] = field(default_factory=dict)
    # state -> allowed statuses; the first status is the default of that state.
    states: dict[int, tuple[int, ...]] = field(default_factory=dict)
    state_labels: dict[int, str] = field(default_factory=dict)
    statecode_valid_for_create: bool = True
    change_tracking: bool = False
    keys: list[tuple[str, ...]] = field(default_factory=list)
    # Columns that, all equal (case-insensitively), make two rows duplicates when detection is on.
    duplicate_rules: list[tuple[str, ...]] = field(default_factory=list)
    free_form: bool = False
    computed_fullname: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)
    object_type_code: int = 10000

    @property
    def entity_type(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    def attribute_by_read_name(self, name: str) -> Attribute | None:
        if name.startswith("_") and name.endswith("_value"):
            attr = self.attributes.get(name[1:-6])
            return attr if attr is not None and attr.type == "lookup" else None
        attr = self.attributes.get(name)
        return attr if attr is not None and attr.type != "lookup" else None

    def add(self, attr: Attribute) -> None:
        self.attributes[attr.name] = attr


def _s(name: str, length: int) -> Attribute:
    return Attribute(name, "string", max_length=length)


def _memo(name: str, length: int = 2000) -> Attribute:
    return Attribute(name, "memo", max_length=length)


def _lookup(name: str, *targets: str, server_owned: bool = False) -> Attribute:
    return Attribute(name, "lookup", targets=targets, server_owned=server_owned)


def _pick(name: str, options: dict[int, str]) -> Attribute:
    return Attribute(name, "picklist", options=options)


def _single(table: Table, name: str, target: str, *, server_owned: bool = False) -> None:
    """A lookup to one table, written through the navigation property of the same name."""
    table.add(_lookup(name, target, server_owned=server_owned))
    table.navs[name] = NavProperty(name, name, (target,))


def _polymorphic(table: Table, name: str, *targets: str, suffix: str = "") -> None:
    """A lookup to several tables, written through one navigation property per target."""
    table.add(_lookup(name, *targets))
    for target in targets:
        nav = f"{name}_{target}{suffix}"
        table.navs[nav] = NavProperty(nav, name, (target,))


def _one_to_many(table: Table, name: str, target: str, attribute: str) -> None:
    """Rows of `target` whose lookup `attribute` points at this row."""
    table.collections[name] = CollectionNav(name, target, "one_to_many", attribute)


_CONSENT = ("donotemail", "donotbulkemail", "donotphone", "donotpostalmail", "donotfax", "donotsendmm")
_ADDRESS = (("address1_line1", 250), ("address1_line2", 250), ("address1_city", 80),
            ("address1_stateorprovince", 50), ("address1_postalcode", 20), ("address1_country", 80))
_LEAD_SOURCE = {1: "Advertisement", 2: "Employee Referral", 3: "External Referral", 4: "Partner",
                5: "Public Relations", 6: "Seminar", 7: "Trade Show", 8: "Web", 9: "Word of Mouth", 10: "Other"}
_PRIORITY = {0: "Low", 1: "Normal", 2: "High"}
_INDUSTRY = {1: "Accounting", 2: "Agriculture and Non-petrol Natural Resource Extraction",
             3: "Broadcasting Printing and Publishing", 4: "Brokers", 5: "Building Supply Retail",
             6: "Business Services", 7: "Consulting", 8: "Consumer Services", 33: "Other"}
_CONTACT_METHOD = {1: "Any", 2: "Email", 3: "Phone", 4: "Fax", 5: "Mail"}
_STATUS_LABELS = {
    "lead": {1: "New", 2: "Contacted", 3: "Qualified", 4: "Lost", 5: "Cannot Contact",
             6: "No Longer Interested", 7: "Canceled"},
    "contact": {1: "Active", 2: "Inactive"},
    "account": {1: "Active", 2: "Inactive"},
    "task": {2: "Not Started", 3: "In Progress", 4: "Waiting on someone else", 7: "Deferred",
             5: "Completed", 6: "Canceled"},
    "phonecall": {1: "Open", 2: "Made", 4: "Received", 3: "Canceled"},
    "list": {0: "Active", 1: "Inactive"},
}


def _owned(table: Table) -> None:
    """Columns every user/team-owned table has."""
    table.add(Attribute("createdon", "datetime", server_owned=True))
    table.add(Attribute("modifiedon", "datetime", server_owned=True))
    table.add(Attribute("versionnumber", "bigint", server_owned=True))
    table.add(_lookup("createdby", "systemuser", server_owned=True))
    table.add(_lookup("modifiedby", "systemuser", server_owned=True))
    table.add(_lookup("createdonbehalfby", "systemuser", server_owned=True))
    table.add(_lookup("modifiedonbehalfby", "systemuser", server_owned=True))
    table.add(_lookup("ownerid", "systemuser", "team"))
    table.add(_lookup("owninguser", "systemuser", server_owned=True))
    table.add(_lookup("owningteam", "team", server_owned=True))
    table.add(_lookup("owningbusinessunit", "businessunit", server_owned=True))
    # One navigation property for both targets: the bound URL says which (`/systemusers()`, `/teams()`).
    table.navs["ownerid"] = NavProperty("ownerid", "ownerid", ("systemuser", "team"))


def _state(table: Table, states: dict[int, tuple[int, ...]], labels: dict[int, str]) -> None:
    table.states = states
    table.state_labels = labels
    status_labels = _STATUS_LABELS.get(table.logical_name, {})
    table.add(Attribute("statecode", "state", options=dict(labels)))
    table.add(Attribute("statuscode", "status", options=dict(status_labels)))


def _person(table: Table) -> None:
    for name, length in (("firstname", 50), ("lastname", 50), ("middlename", 50)):
        table.add(_s(name, length))
    table.add(Attribute("fullname", "string", max_length=160, server_owned=True))
    table.computed_fullname = True


def _contactable(table: Table) -> None:
    for name in ("emailaddress1", "emailaddress2", "emailaddress3"):
        table.add(_s(name, 100))
    for name in ("telephone1", "telephone2", "telephone3", "fax"):
        table.add(_s(name, 50))
    table.add(_s("mobilephone", 20))
    table.add(_s("websiteurl", 200))
    table.add(_s("jobtitle", 100))
    for name, length in _ADDRESS:
        table.add(_s(name, length))
    table.add(_memo("description", 2000))
    for name in _CONSENT:
        table.add(Attribute(name, "bool"))
        table.defaults[name] = False
    table.add(_pick("preferredcontactmethodcode", _CONTACT_METHOD))
    table.defaults["preferredcontactmethodcode"] = 1


def _mergeable(table: Table) -> None:
    table.add(Attribute("merged", "bool", server_owned=True))
    _single(table, "masterid", table.logical_name, server_owned=True)
    table.defaults["merged"] = False


def _lead() -> Table:
    t = Table("lead", "leads", "leadid", "fullname", object_type_code=4, change_tracking=True,
              statecode_valid_for_create=False)
    t.add(Attribute("leadid", "guid"))
    t.add(_s("subject", 300))
    _person(t)
    _contactable(t)
    t.add(_s("companyname", 100))
    t.add(_pick("leadsourcecode", _LEAD_SOURCE))
    t.add(_pick("leadqualitycode", {1: "Hot", 2: "Warm", 3: "Cold"}))
    t.add(_pick("industrycode", _INDUSTRY))
    t.add(Attribute("numberofemployees", "int"))
    t.add(Attribute("revenue", "money"))
    _single(t, "parentcontactid", "contact")
    _single(t, "parentaccountid", "account")
    _polymorphic(t, "customerid", "account", "contact")
    _mergeable(t)
    _owned(t)
    _state(t, {0: (1, 2), 1: (3,), 2: (4, 5, 6, 7)}, {0: "Open", 1: "Qualified", 2: "Disqualified"})
    t.defaults["leadqualitycode"] = 2
    t.duplicate_rules = [("emailaddress1",)]
    _one_to_many(t, "Lead_Tasks", "task", "regardingobjectid")
    _one_to_many(t, "Lead_Phonecalls", "phonecall", "regardingobjectid")
    t.collections["listlead_association"] = CollectionNav("listlead_association", "list", "member_lists")
    return t


def _contact() -> Table:
    t = Table("contact", "contacts", "contactid", "fullname", object_type_code=2, change_tracking=True)
    t.add(Attribute("contactid", "guid"))
    _person(t)
    _contactable(t)
    t.add(Attribute("birthdate", "date"))
    t.add(_pick("gendercode", {1: "Male", 2: "Female"}))
    _polymorphic(t, "parentcustomerid", "account", "contact")
    _single(t, "originatingleadid", "lead")
    _mergeable(t)
    _owned(t)
    _state(t, {0: (1,), 1: (2,)}, {0: "Active", 1: "Inactive"})
    t.duplicate_rules = [("emailaddress1",)]
    _one_to_many(t, "Contact_Tasks", "task", "regardingobjectid")
    _one_to_many(t, "Contact_Phonecalls", "phonecall", "regardingobjectid")
    _one_to_many(t, "lead_parent_contact", "lead", "parentcontactid")
    _one_to_many(t, "contact_customer_contacts", "contact", "parentcustomerid")
    t.collections["listcontact_association"] = CollectionNav("listcontact_association", "list", "member_lists")
    return t


def _account() -> Table:
    t = Table("account", "accounts", "accountid", "name", object_type_code=1, change_tracking=True)
    t.add(Attribute("accountid", "guid"))
    t.add(_s("name", 160))
    t.add(_s("accountnumber", 20))
    _contactable(t)
    del t.attributes["jobtitle"], t.attributes["mobilephone"]
    t.add(_pick("industrycode", _INDUSTRY))
    t.add(Attribute("numberofemployees", "int"))
    t.add(Attribute("revenue", "money"))
    _single(t, "primarycontactid", "contact")
    _single(t, "parentaccountid", "account")
    _mergeable(t)
    _owned(t)
    _state(t, {0: (1,), 1: (2,)}, {0: "Active", 1: "Inactive"})
    t.duplicate_rules = [("name",), ("emailaddress1",)]
    _one_to_many(t, "Account_Tasks", "task", "regardingobjectid")
    _one_to_many(t, "Account_Phonecalls", "phonecall", "regardingobjectid")
    _one_to_many(t, "contact_customer_accounts", "contact", "parentcustomerid")
    _one_to_many(t, "lead_parent_account", "lead", "parentaccountid")
    t.collections["listaccount_association"] = CollectionNav("listaccount_association", "list", "member_lists")
    return t


def _activity(logical: str, entity_set: str, code: int) -> Table:
    t = Table(logical, entity_set, "activityid", "subject", object_type_code=code)
    t.add(Attribute("activityid", "guid"))
    t.add(_s("subject", 200))
    t.add(_memo("description", 2000))
    t.add(Attribute("scheduledstart", "datetime"))
    t.add(Attribute("scheduledend", "datetime"))
    t.add(Attribute("actualstart", "datetime"))
    t.add(Attribute("actualend", "datetime"))
    t.add(Attribute("actualdurationminutes", "int"))
    t.add(_pick("prioritycode", _PRIORITY))
    t.defaults["prioritycode"] = 1
    t.add(Attribute("activitytypecode", "string", max_length=64, server_owned=True))
    t.defaults["activitytypecode"] = logical
    _polymorphic(t, "regardingobjectid", "lead", "contact", "account", suffix=f"_{logical}")
    _owned(t)
    return t


def _task() -> Table:
    t = _activity("task", "tasks", 4212)
    t.add(Attribute("percentcomplete", "int"))
    t.add(_s("category", 250))
    _state(t, {0: (2, 3, 4, 7), 1: (5,), 2: (6,)}, {0: "Open", 1: "Completed", 2: "Canceled"})
    return t


def _phonecall() -> Table:
    t = _activity("phonecall", "phonecalls", 4210)
    t.statecode_valid_for_create = False
    t.add(_s("phonenumber", 200))
    t.add(Attribute("directioncode", "bool"))
    t.defaults["directioncode"] = True
    t.add(Attribute("leftvoicemail", "bool"))
    t.defaults["leftvoicemail"] = False
    _state(t, {0: (1,), 1: (2, 4), 2: (3,)}, {0: "Open", 1: "Completed", 2: "Canceled"})
    return t


def _list() -> Table:
    t = Table("list", "lists", "listid", "listname", object_type_code=4300)
    t.add(Attribute("listid", "guid"))
    t.add(_s("listname", 128))
    t.add(Attribute("createdfromcode", "picklist", options={1: "Account", 2: "Contact", 4: "Lead"},
                    valid_for_update=False))
    t.add(Attribute("type", "bool", valid_for_update=False))
    t.defaults["type"] = False
    t.add(Attribute("query", "memo", max_length=1048576))
    t.add(Attribute("lockstatus", "bool"))
    t.defaults["lockstatus"] = False
    t.add(Attribute("membercount", "int", server_owned=True))
    t.defaults["membercount"] = 0
    t.add(Attribute("membertype", "int", server_owned=True))
    t.add(_memo("purpose", 512))
    t.add(_s("source", 128))
    t.add(_memo("description", 2000))
    t.add(Attribute("cost", "money"))
    t.add(Attribute("lastusedon", "datetime"))
    _owned(t)
    _state(t, {0: (0,), 1: (1,)}, {0: "Active", 1: "Inactive"})
    for member in ("lead", "contact", "account"):
        name = f"list{member}_association"
        t.collections[name] = CollectionNav(name, member, "list_members")
    return t


def _listmember() -> Table:
    t = Table("listmember", "listmembers", "listmemberid", "name", object_type_code=4301)
    t.add(Attribute("listmemberid", "guid"))
    t.add(_s("name", 100))
    _single(t, "listid", "list")
    _polymorphic(t, "entityid", "account", "contact", "lead")
    t.add(Attribute("entitytype", "string", max_length=64, server_owned=True))
    t.add(Attribute("createdon", "datetime", server_owned=True))
    t.add(Attribute("modifiedon", "datetime", server_owned=True))
    t.add(Attribute("versionnumber", "bigint", server_owned=True))
    return t


def _principal(logical: str, entity_set: str, key: str, name: str, code: int) -> Table:
    t = Table(logical, entity_set, key, name, object_type_code=code)
    t.add(Attribute(key, "guid"))
    t.add(Attribute("ownerid", "guid", server_owned=True))
    t.add(Attribute("azureactivedirectoryobjectid", "guid"))
    t.add(Attribute("createdon", "datetime", server_owned=True))
    t.add(Attribute("modifiedon", "datetime", server_owned=True))
    t.add(Attribute("versionnumber", "bigint", server_owned=True))
    t.add(_lookup("businessunitid", "businessunit"))
    return t


def _systemuser() -> Table:
    t = _principal("systemuser", "systemusers", "systemuserid", "fullname", 8)
    _person(t)
    t.add(_s("domainname", 1024))
    t.add(_s("internalemailaddress", 100))
    t.add(Attribute("applicationid", "guid"))
    t.add(Attribute("isdisabled", "bool"))
    t.defaults["isdisabled"] = False
    t.add(_pick("accessmode", {0: "Read-Write", 1: "Administrative", 2: "Read", 3: "Support User",
                               4: "Non-interactive", 5: "Delegated Admin"}))
    t.defaults["accessmode"] = 0
    return t


def _team() -> Table:
    t = _principal("team", "teams", "teamid", "name", 9)
    t.add(_s("name", 160))
    t.add(_pick("teamtype", {0: "Owner", 1: "Access", 2: "Security Group", 3: "Office Group"}))
    t.defaults["teamtype"] = 0
    t.add(Attribute("isdefault", "bool"))
    t.defaults["isdefault"] = False
    return t


def _businessunit() -> Table:
    t = Table("businessunit", "businessunits", "businessunitid", "name", object_type_code=10)
    t.add(Attribute("businessunitid", "guid"))
    t.add(_s("name", 160))
    t.add(Attribute("createdon", "datetime", server_owned=True))
    t.add(Attribute("modifiedon", "datetime", server_owned=True))
    t.add(Attribute("versionnumber", "bigint", server_owned=True))
    return t


def _transactioncurrency() -> Table:
    t = Table("transactioncurrency", "transactioncurrencies", "transactioncurrencyid", "currencyname",
              object_type_code=9105)
    t.add(Attribute("transactioncurrencyid", "guid"))
    t.add(_s("currencyname", 100))
    t.add(_s("isocurrencycode", 5))
    t.add(_s("currencysymbol", 13))
    t.add(Attribute("exchangerate", "decimal"))
    t.add(Attribute("createdon", "datetime", server_owned=True))
    t.add(Attribute("modifiedon", "datetime", server_owned=True))
    t.add(Attribute("versionnumber", "bigint", server_owned=True))
    return t


def _link_currency(table: Table) -> None:
    """Tables with money columns carry the currency those amounts are in."""
    if "transactioncurrencyid" not in table.attributes and any(
            a.type == "money" for a in table.attributes.values()):
        _single(table, "transactioncurrencyid", "transactioncurrency")


_TYPE_ALIASES = {"text": "string", "integer": "int", "boolean": "bool", "datetimeoffset": "datetime",
                 "uniqueidentifier": "guid", "choice": "picklist", "number": "decimal", "float": "double"}


def _attribute_from_spec(name: str, spec: Any) -> Attribute:
    """`"string"`, or `{"type": "string", "maxLength": 100}`, or `{"type": "lookup", "targets": [...]}`."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        raise ValueError(f"attribute {name!r}: expected a type name or an object")
    kind = str(spec.get("type", "string")).lower()
    kind = _TYPE_ALIASES.get(kind, kind)
    if kind not in EDM_TYPES:
        raise ValueError(f"attribute {name!r}: unknown type {kind!r}")
    max_length = spec.get("maxLength")
    if kind in STRING_TYPES and max_length is None:
        max_length = 4000 if kind == "string" else 1048576
    options = spec.get("options")
    return Attribute(
        name, kind, max_length=max_length,
        options={int(k): str(v) for k, v in options.items()} if isinstance(options, dict) else None,
        targets=tuple(spec.get("targets", ())),
    )


@dataclass
class Schema:
    tables: dict[str, Table]

    @classmethod
    def default(cls) -> Schema:
        built = [_lead(), _contact(), _account(), _task(), _phonecall(), _list(), _listmember(),
                 _systemuser(), _team(), _businessunit(), _transactioncurrency()]
        for table in built:
            _link_currency(table)
        return cls({t.logical_name: t for t in built})

    def copy(self) -> Schema:
        return copy.deepcopy(self)

    def by_set(self, entity_set: str) -> Table | None:
        for table in self.tables.values():
            if table.entity_set == entity_set:
                return table
        return None

    def table(self, logical_name: str) -> Table:
        return self.tables[logical_name]

    def declare_free_form(self, entity_set: str) -> Table:
        """A table for an entity set that a seed uses without declaring it."""
        logical = entity_set[:-1] if entity_set.endswith("s") else entity_set
        return self._declare(logical, {"entitySet": entity_set, "freeForm": True})

    def extend(self, spec: dict[str, Any]) -> None:
        """Apply a seed's `$entities` declarations."""
        for logical, body in spec.items():
            if not isinstance(body, dict):
                raise ValueError(f"$entities.{logical}: expected an object")
            if logical in self.tables:
                table = self.tables[logical]
                for name, attr_spec in (body.get("attributes") or {}).items():
                    table.add(_attribute_from_spec(name, attr_spec))
                _link_currency(table)
                if body.get("freeForm"):
                    table.free_form = True
                if "changeTracking" in body:
                    table.change_tracking = bool(body["changeTracking"])
            else:
                self._declare(logical, body)

    def _declare(self, logical: str, body: dict[str, Any]) -> Table:
        entity_set = body.get("entitySet") or f"{logical}s"
        key = body.get("primaryKey") or f"{logical}id"
        name = body.get("primaryName") or "name"
        table = Table(logical, entity_set, key, name, change_tracking=bool(body.get("changeTracking", False)),
                      free_form=bool(body.get("freeForm", False)), object_type_code=10000 + len(self.tables))
        table.add(Attribute(key, "guid"))
        table.add(Attribute(name, "string", max_length=4000))
        table.add(Attribute("createdon", "datetime", server_owned=True))
        table.add(Attribute("modifiedon", "datetime", server_owned=True))
        table.add(Attribute("versionnumber", "bigint", server_owned=True))
        attributes = body.get("attributes")
        if attributes == "*":
            table.free_form = True
        elif isinstance(attributes, dict):
            for attr_name, attr_spec in attributes.items():
                attr = _attribute_from_spec(attr_name, attr_spec)
                table.add(attr)
                if attr.type == "lookup":
                    table.navs[attr_name] = NavProperty(attr_name, attr_name, attr.targets)
        if body.get("states"):
            table.states = {int(k): tuple(v) for k, v in body["states"].items()}
            table.add(Attribute("statecode", "state"))
            table.add(Attribute("statuscode", "status"))
        _link_currency(table)
        self.tables[logical] = table
        return table

    def add_keys(self, spec: dict[str, Any]) -> None:
        for logical, keys in spec.items():
            table = self.tables.get(logical)
            if table is None:
                raise ValueError(f"$keys: unknown table {logical!r}")
            for key in keys:
                columns = tuple(key)
                for column in columns:
                    attr = table.attribute_by_read_name(column)
                    if attr is None and not table.free_form:
                        raise ValueError(f"$keys: {logical} has no column {column!r}")
                if columns not in table.keys:
                    table.keys.append(columns)

    def set_change_tracking(self, spec: dict[str, Any]) -> None:
        for logical, enabled in spec.items():
            table = self.tables.get(logical) or self.by_set(logical)
            if table is None:
                raise ValueError(f"$changeTracking: unknown table {logical!r}")
            table.change_tracking = bool(enabled)
