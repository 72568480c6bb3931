"""Dataverse-shaped errors: an exception carrying the HTTP status, the hex code and the message.

Every refusal in the emulator is raised as `ODataError` and turned into
`{"error": {"code": "0x...", "message": "..."}}` in one place (`http.error_response`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ODataError(Exception):
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code} {self.message}"


def bad_request(message: str, code: str = "0x80040203") -> ODataError:
    return ODataError(400, code, message)


def payload_error(message: str) -> ODataError:
    return ODataError(400, "0x80048d19", message)


def segment_not_found(segment: str) -> ODataError:
    return ODataError(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


def record_not_found(logical_name: str, record_id: str) -> ODataError:
    return ODataError(404, "0x80040217", f"Entity '{logical_name}' With Id = {record_id} Does Not Exist")


def property_not_found(name: str, logical_name: str) -> ODataError:
    return ODataError(
        400, "0x0", f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{logical_name}'."
    )


def invalid_property(name: str, logical_name: str) -> ODataError:
    return payload_error(
        f"Invalid property '{name}' was found in entity 'Microsoft.Dynamics.CRM.{logical_name}'. "
        f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{logical_name}'."
    )


def undeclared_bind(name: str) -> ODataError:
    return payload_error(
        f"An undeclared property '{name}' which only has property annotations in the payload but no "
        "property value was found in the payload. In OData, only declared navigation properties and "
        "declared named streams can be represented as properties without values."
    )


def duplicate_record() -> ODataError:
    return ODataError(412, "0x80040237", "A record with matching key values already exists.")


def duplicate_detected() -> ODataError:
    # Status as in Microsoft's documented example (a decompiled mapping suggests 412 in some builds).
    return ODataError(500, "0x80040333", "A record was not created or updated because a duplicate of the "
                                         "current record already exists.")


def version_mismatch() -> ODataError:
    return ODataError(
        412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."
    )


def no_http_resource(url: str) -> ODataError:
    return ODataError(404, "0x80060888", f"No HTTP resource was found that matches the request URI '{url}'.")


def method_not_allowed(method: str, what: str) -> ODataError:
    return ODataError(405, "0x80060888", f"The HTTP method '{method}' is not allowed on {what}.")


def not_implemented(what: str) -> ODataError:
    return ODataError(501, "0x80040216", f"{what} is not implemented by the Dataverse emulator.")
