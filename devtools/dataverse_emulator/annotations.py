"""Which `@`-annotations a request asked for with `Prefer: odata.include-annotations`."""

from __future__ import annotations

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAV = "Microsoft.Dynamics.CRM.associatednavigationproperty"
TOTAL_COUNT = "Microsoft.Dynamics.CRM.totalrecordcount"
TOTAL_EXCEEDED = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"


class AnnotationFilter:
    def __init__(self, preference: str | None) -> None:
        value = (preference or "").strip().strip('"')
        self.patterns = [p.strip() for p in value.split(",") if p.strip()]

    def wants(self, name: str) -> bool:
        for pattern in self.patterns:
            if pattern.startswith("-"):
                continue
            if pattern == "*" or pattern == name:
                return True
            if pattern.endswith(".*") and name.startswith(pattern[:-1]):
                return True
        return False
