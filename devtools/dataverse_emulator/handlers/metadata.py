"""`EntityDefinitions`: enough table and column metadata for real clients (Microsoft's SDK among them)."""

from __future__ import annotations

import uuid
from typing import Any

from ..context import Context
from ..errors import method_not_allowed, not_implemented, record_not_found, segment_not_found
from ..paths import Segment, parse_key
from ..protocol import Response, json_response
from ..query import parse_options
from ..schema import Attribute, Table
from .reading import MAX_PAGE

_NS = uuid.UUID("6f1f2a43-6c8e-4d5e-9a53-3e0f2c1d9b70")
_ATTRIBUTE_TYPES = {
    "string": ("String", "StringAttributeMetadata"), "memo": ("Memo", "MemoAttributeMetadata"),
    "int": ("Integer", "IntegerAttributeMetadata"), "bigint": ("BigInt", "BigIntAttributeMetadata"),
    "decimal": ("Decimal", "DecimalAttributeMetadata"), "money": ("Money", "MoneyAttributeMetadata"),
    "double": ("Double", "DoubleAttributeMetadata"), "bool": ("Boolean", "BooleanAttributeMetadata"),
    "datetime": ("DateTime", "DateTimeAttributeMetadata"), "date": ("DateTime", "DateTimeAttributeMetadata"),
    "picklist": ("Picklist", "PicklistAttributeMetadata"), "state": ("State", "StateAttributeMetadata"),
    "status": ("Status", "StatusAttributeMetadata"), "guid": ("Uniqueidentifier", "UniqueIdentifierAttributeMetadata"),
    "lookup": ("Lookup", "LookupAttributeMetadata"), "any": ("String", "StringAttributeMetadata"),
}
CRM = "Microsoft.Dynamics.CRM."


def _label(text: str) -> dict[str, Any]:
    label = {"Label": text, "LanguageCode": 1033, "IsManaged": True}
    return {"LocalizedLabels": [label], "UserLocalizedLabel": label}


def _metadata_id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def entity_metadata(table: Table) -> dict[str, Any]:
    schema_name = table.logical_name[:1].upper() + table.logical_name[1:]
    return {
        "MetadataId": _metadata_id(table.logical_name), "LogicalName": table.logical_name,
        "SchemaName": schema_name, "EntitySetName": table.entity_set, "LogicalCollectionName": table.entity_set,
        "CollectionSchemaName": table.entity_set[:1].upper() + table.entity_set[1:],
        "PrimaryIdAttribute": table.primary_key, "PrimaryNameAttribute": table.primary_name,
        "ObjectTypeCode": table.object_type_code, "ChangeTrackingEnabled": table.change_tracking,
        "IsOptimisticConcurrencyEnabled": True, "IsCustomEntity": table.logical_name.count("_") > 0,
        "IsActivity": table.logical_name in ("task", "phonecall"),
        "OwnershipType": "UserOwned" if "ownerid" in table.navs else "OrganizationOwned",
        "DisplayName": _label(schema_name), "DisplayCollectionName": _label(table.entity_set),
        "Keys": [{"KeyAttributes": list(k), "EntityKeyIndexStatus": "Active"} for k in table.keys],
    }


def _lookup_kind(attr: Attribute) -> str:
    # Dataverse describes polymorphic lookups as LookupAttributeMetadata whose AttributeType says
    # which kind: Customer (account or contact) and Owner (systemuser or team).
    targets = set(attr.targets)
    if targets == {"account", "contact"}:
        return "Customer"
    if attr.name == "ownerid" and targets == {"systemuser", "team"}:
        return "Owner"
    return "Lookup"


def attribute_metadata(table: Table, attr: Attribute) -> dict[str, Any]:
    kind, odata_type = _ATTRIBUTE_TYPES[attr.type]
    if attr.type == "lookup":
        kind = _lookup_kind(attr)
    body: dict[str, Any] = {
        "@odata.type": f"#{CRM}{odata_type}", "MetadataId": _metadata_id(table.logical_name, attr.name),
        "LogicalName": attr.name, "SchemaName": attr.name, "EntityLogicalName": table.logical_name,
        "AttributeType": kind, "AttributeTypeName": {"Value": f"{kind}Type"},
        "IsPrimaryId": attr.name == table.primary_key, "IsPrimaryName": attr.name == table.primary_name,
        "IsValidForCreate": not attr.server_owned and not (attr.name == "statecode"
                                                            and not table.statecode_valid_for_create),
        "IsValidForUpdate": not attr.server_owned and attr.valid_for_update,
        "IsValidForRead": True, "DisplayName": _label(attr.name),
        "RequiredLevel": {"Value": "SystemRequired" if attr.name == table.primary_key else "None"},
    }
    if attr.max_length is not None:
        body["MaxLength"] = attr.max_length
    if attr.type == "lookup":
        body["Targets"] = list(attr.targets)
    if attr.type in ("picklist", "state", "status"):
        body["OptionSet"] = {
            "MetadataId": _metadata_id(table.logical_name, attr.name, "options"), "Name": f"{table.logical_name}_{attr.name}",
            "OptionSetType": kind, "IsGlobal": False,
            "Options": [{"Value": v, "Label": _label(text)} for v, text in (attr.options or {}).items()],
        }
    return body


def _pseudo_table(name: str, key: str) -> Table:
    return Table(name, name, key, "LogicalName", free_form=True)


def _select(item: dict[str, Any], names: list[str] | None, always: tuple[str, ...] = ("MetadataId",)) -> dict[str, Any]:
    if names is None:
        return dict(item)
    wanted = set(names) | set(always)
    return {k: v for k, v in item.items() if k in wanted or k == "@odata.type"}


def _query(ctx: Context, items: list[dict[str, Any]], context: str) -> Response:
    options = parse_options(ctx.request.query())
    if options.filter is not None:
        pseudo = _pseudo_table("metadata", "MetadataId")
        evaluator = ctx.evaluator()
        items = [i for i in items if evaluator.matches(options.filter, pseudo, i)]
    values = []
    for item in items[:MAX_PAGE]:
        selected = _select(item, options.select)
        for expand in options.expand:
            if expand.nav in item:
                value = item[expand.nav]
                selected[expand.nav] = _select(value, expand.select) if isinstance(value, dict) else value
        values.append(selected)
    return json_response(200, {"@odata.context": f"{ctx.root}$metadata#{context}", "value": values})


def entity_definitions(ctx: Context, segments: list[Segment]) -> Response:
    if ctx.request.method != "GET":
        raise method_not_allowed(ctx.request.method, "EntityDefinitions (metadata is read-only in the emulator)")
    first = segments[0]
    tables = list(ctx.schema.tables.values())
    if first.key is None:
        if len(segments) > 1:
            raise segment_not_found(segments[1].name)
        return _query(ctx, [entity_metadata(t) for t in tables], "EntityDefinitions")
    table = _find_table(ctx, first)
    if len(segments) == 1:
        options = parse_options(ctx.request.query())
        body: dict[str, Any] = {"@odata.context": f"{ctx.root}$metadata#EntityDefinitions/$entity"}
        body.update(_select(entity_metadata(table), options.select))
        for expand in options.expand:
            if expand.nav != "Attributes":
                raise not_implemented(f"$expand={expand.nav} on EntityDefinitions")
            body["Attributes"] = [_select(attribute_metadata(table, a), expand.select)
                                  for a in table.attributes.values()]
        return json_response(200, body)
    second = segments[1]
    if second.name != "Attributes":
        if second.name in ("Keys", "ManyToOneRelationships", "OneToManyRelationships", "ManyToManyRelationships"):
            raise not_implemented(f"EntityDefinitions/{second.name}")
        raise segment_not_found(second.name)
    attributes = [attribute_metadata(table, a) for a in table.attributes.values()]
    cast: str | None = None
    if len(segments) > 2:
        cast = segments[2].name
        if not cast.startswith(CRM):
            raise segment_not_found(cast)
        attributes = [a for a in attributes if a["@odata.type"] == f"#{cast}"]
    if second.key is not None:
        key = parse_key(second.key)
        wanted = key.get("LogicalName") if isinstance(key, dict) else key
        for attr in attributes:
            if attr["LogicalName"] == wanted or attr["MetadataId"] == wanted:
                options = parse_options(ctx.request.query())
                body = {"@odata.context": f"{ctx.root}$metadata#EntityDefinitions('{table.logical_name}')/Attributes/$entity"}
                body.update(_select(attr, options.select))
                return json_response(200, body)
        raise record_not_found("Attribute", str(wanted))
    context = f"EntityDefinitions('{table.logical_name}')/Attributes" + (f"/{cast}" if cast else "")
    return _query(ctx, attributes, context)


def _find_table(ctx: Context, segment: Segment) -> Table:
    key = parse_key(segment.key or "")
    for table in ctx.schema.tables.values():
        if isinstance(key, dict) and key.get("LogicalName") == table.logical_name:
            return table
        if isinstance(key, str) and key == _metadata_id(table.logical_name):
            return table
    raise ODataError404(segment)


def ODataError404(segment: Segment) -> Exception:
    from ..errors import ODataError

    return ODataError(404, "0x80040217", f"Could not find entity with key {segment.key}.")
