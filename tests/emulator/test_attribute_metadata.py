"""Column metadata as the product reads it: `EntityDefinitions(LogicalName='x')/Attributes`, and
custom columns a seed declares (type and MaxLength)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api, error_of


def attributes(api: Api, table: str, cast: str = "") -> dict[str, dict[str, Any]]:
    path = f"EntityDefinitions(LogicalName='{table}')/Attributes" + (f"/Microsoft.Dynamics.CRM.{cast}" if cast else "")
    response = api.get(path)
    assert response.status_code == 200, response.text
    assert response.json()["@odata.context"].endswith(f"$metadata#EntityDefinitions('{table}')/Attributes"
                                                      + (f"/Microsoft.Dynamics.CRM.{cast}" if cast else ""))
    return {item["LogicalName"]: item for item in response.json()["value"]}


@pytest.mark.parametrize(("table", "column", "length"), [
    ("contact", "firstname", 50), ("contact", "emailaddress1", 100), ("contact", "jobtitle", 100),
    ("contact", "telephone1", 50), ("contact", "address1_city", 80), ("account", "name", 160),
    ("account", "websiteurl", 200), ("account", "accountnumber", 20), ("lead", "companyname", 100),
    ("contact", "description", 2000),
])
def test_when_attributes_are_listed_untyped_text_columns_carry_their_subtype_and_max_length(
    api: Api, table: str, column: str, length: int
) -> None:
    item = attributes(api, table)[column]
    assert item["MaxLength"] == length
    kind = "Memo" if column == "description" else "String"
    assert item["AttributeType"] == kind
    assert item["@odata.type"] == f"#Microsoft.Dynamics.CRM.{kind}AttributeMetadata"
    assert item["IsValidForCreate"] is True and item["IsValidForUpdate"] is True


def test_when_attributes_are_listed_lookups_name_their_targets_and_polymorphic_kinds(api: Api) -> None:
    contact = attributes(api, "contact")
    assert contact["parentcustomerid"]["AttributeType"] == "Customer"
    assert set(contact["parentcustomerid"]["Targets"]) == {"account", "contact"}
    assert contact["ownerid"]["AttributeType"] == "Owner"
    assert attributes(api, "lead")["parentcontactid"]["AttributeType"] == "Lookup"
    assert all(item["@odata.type"] == "#Microsoft.Dynamics.CRM.LookupAttributeMetadata"
               for item in (contact["parentcustomerid"], contact["ownerid"]))
    assert "MaxLength" not in contact["parentcustomerid"]


def test_when_columns_are_server_owned_they_are_not_valid_for_create_or_update(api: Api) -> None:
    contact = attributes(api, "contact")
    for name in ("createdon", "modifiedon", "fullname", "versionnumber"):
        assert contact[name]["IsValidForCreate"] is False and contact[name]["IsValidForUpdate"] is False, name


def test_when_attributes_are_cast_to_string_only_string_columns_come_back(api: Api) -> None:
    strings = attributes(api, "account", "StringAttributeMetadata")
    assert strings and {item["AttributeType"] for item in strings.values()} == {"String"}
    assert strings["name"]["MaxLength"] == 160


def test_when_a_seed_declares_custom_columns_they_are_listed_with_type_and_max_length(api: Api) -> None:
    api.dv.seed({"$entities": {"contact": {"attributes": {
        "new_opens": {"type": "text", "maxLength": 100}, "new_analysis": {"type": "memo", "maxLength": 5000},
        "new_score": "int", "new_engaged": "boolean"}}}})
    contact = attributes(api, "contact")
    assert (contact["new_opens"]["AttributeType"], contact["new_opens"]["MaxLength"]) == ("String", 100)
    assert (contact["new_analysis"]["AttributeType"], contact["new_analysis"]["MaxLength"]) == ("Memo", 5000)
    assert contact["new_score"]["AttributeType"] == "Integer" and "MaxLength" not in contact["new_score"]
    assert contact["new_engaged"]["AttributeType"] == "Boolean"


def test_when_a_value_is_longer_than_a_custom_columns_max_length_the_write_is_400(api: Api) -> None:
    api.dv.seed({"$entities": {"contact": {"attributes": {"new_opens": {"type": "text", "maxLength": 100}}}}})
    assert api.post("contacts", {"lastname": "Fits", "new_opens": "x" * 100}).status_code == 204
    response = api.post("contacts", {"lastname": "Long", "new_opens": "x" * 101})
    assert response.status_code == 400
    assert error_of(response)["code"] == "0x80044331"


def test_when_the_table_is_unknown_its_attributes_are_404(api: Api) -> None:
    response = api.get("EntityDefinitions(LogicalName='nosuchtable')/Attributes")
    assert response.status_code == 404
    assert error_of(response)["code"] == "0x80040217"
