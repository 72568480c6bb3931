"""The service document and a CSDL `$metadata` document generated from the schema."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from ..context import Context
from ..protocol import Response, json_response
from ..schema import EDM_TYPES


def service_document(ctx: Context) -> Response:
    sets = sorted(t.entity_set for t in ctx.schema.tables.values())
    return json_response(200, {
        "@odata.context": f"{ctx.root}$metadata",
        "value": [{"name": s, "kind": "EntitySet", "url": s} for s in sets],
    })


def metadata_document(ctx: Context) -> Response:
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
             "<edmx:DataServices>",
             '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">']
    for table in ctx.schema.tables.values():
        open_type = ' OpenType="true"' if table.free_form else ""
        lines.append(f"<EntityType Name={quoteattr(table.logical_name)}{open_type}>")
        lines.append(f"<Key><PropertyRef Name={quoteattr(table.primary_key)} /></Key>")
        for attr in table.attributes.values():
            lines.append(f"<Property Name={quoteattr(attr.read_name)} Type={quoteattr(EDM_TYPES[attr.type])} />")
        for nav in table.navs.values():
            target = nav.targets[0] if len(nav.targets) == 1 else "principal"
            lines.append(f"<NavigationProperty Name={quoteattr(nav.name)} Type={quoteattr('mscrm.' + target)} />")
        for collection in table.collections.values():
            lines.append(f"<NavigationProperty Name={quoteattr(collection.name)} "
                         f"Type={quoteattr('Collection(mscrm.' + collection.target + ')')} />")
        lines.append("</EntityType>")
    lines.append('<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false" /></Function>')
    lines.append('<Action Name="AddMemberList" IsBound="true"><Parameter Name="entity" Type="mscrm.list" '
                 'Nullable="false" /><Parameter Name="EntityId" Type="Edm.Guid" Nullable="false" />'
                 '<ReturnType Type="mscrm.AddMemberListResponse" Nullable="false" /></Action>')
    lines.append('<EntityContainer Name="System">')
    for table in ctx.schema.tables.values():
        lines.append(f"<EntitySet Name={quoteattr(table.entity_set)} EntityType={quoteattr('mscrm.' + table.logical_name)} />")
    lines.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return Response(200, [("Content-Type", "application/xml"), ("OData-Version", "4.0")],
                    "\n".join(lines).encode("utf-8"))
