"""Who a request acts as: the application user behind the bearer token, or the user it impersonates.

Dataverse impersonation (reference 13.1): `CallerObjectId: <Entra object id>` or the legacy
`MSCRMCallerID: <systemuserid>` makes the request act in that user's name (`createdby`,
`modifiedby`, default owner, WhoAmI), while `createdonbehalfby`/`modifiedonbehalfby` name the
real caller. Privileges are not emulated, so any caller may impersonate any existing user.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import record_not_found
from .protocol import Headers
from .store import Store
from .values import LookupRef, normalize_guid


@dataclass(frozen=True)
class Identity:
    """The fixed rows every reset creates: the application user, its business unit, the base currency."""

    user_id: str = "7ab6f5a5-0c1b-4a7e-9a67-6b3e4c1f2d10"
    business_unit_id: str = "2d7c5c8e-5f4b-4e36-8d3c-1b9a0e7f6a21"
    organization_id: str = "b1e2c3d4-0a9b-4c8d-9e7f-112233445566"
    currency_id: str = "c0e1d2a3-4b5c-4d6e-8f70-8192a3b4c5d6"

    def caller(self) -> Caller:
        return Caller(self.user_id, self.business_unit_id, self.currency_id)


@dataclass(frozen=True)
class Caller:
    """The user a request acts as; `delegate_id` is the real caller when it impersonates someone."""

    user_id: str
    business_unit_id: str
    currency_id: str
    delegate_id: str | None = None


def resolve_caller(store: Store, identity: Identity, headers: Headers) -> Caller:
    """The caller for a request's impersonation headers; an unknown user is 404 like any missing row."""
    own = identity.caller()
    object_id = (headers.get("CallerObjectId") or "").strip()
    user_id = (headers.get("MSCRMCallerID") or "").strip()
    if not object_id and not user_id:
        return own
    if object_id:
        wanted = normalize_guid(object_id)
        user = next((u for u in store.scan("systemuser") if wanted and u.get("azureactivedirectoryobjectid") == wanted),
                    None)
    else:
        wanted = normalize_guid(user_id)
        user = store.get("systemuser", wanted) if wanted else None
    if user is None:
        raise record_not_found("systemuser", object_id or user_id)
    if user["systemuserid"] == own.user_id:
        return own
    unit = user.get("businessunitid")
    return Caller(user["systemuserid"], unit.id if isinstance(unit, LookupRef) else own.business_unit_id,
                  own.currency_id, delegate_id=own.user_id)
