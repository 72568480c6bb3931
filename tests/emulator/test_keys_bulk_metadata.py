"""Alternate keys, bulk actions bound to entity sets, and metadata (reference 2.6, 8.3, 1.2)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from .conftest import Api, error_of

KEYS = {"$keys": {"contact": [["emailaddress1"]], "account": [["accountnumber"]]}}


def test_when_no_key_is_declared_an_alternate_key_url_is_400(api: Api) -> None:
    response = api.patch("contacts(emailaddress1='a@x.com')", {"lastname": "X"})
    assert response.status_code == 400
    assert error_of(response)["message"].startswith(
        "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.contact'.")


def test_when_upserting_by_key_a_missing_row_is_created_with_the_key_values(api: Api) -> None:
    api.seed(KEYS)
    response = api.patch("contacts(emailaddress1='o''brien@x.com')", {"lastname": "O'Brien"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"].endswith("contacts(emailaddress1='o''brien@x.com')")
    rows = api.get("contacts?$select=emailaddress1,lastname").json()["value"]
    assert [(r["emailaddress1"], r["lastname"]) for r in rows] == [("o'brien@x.com", "O'Brien")]


def test_when_upserting_by_key_an_existing_row_is_updated(api: Api) -> None:
    api.seed(KEYS)
    contact = api.create("contacts", {"lastname": "Old", "emailaddress1": "k@x.com"})
    prefer = {"Prefer": "return=representation"}
    response = api.patch("contacts(emailaddress1='K@X.COM')?$select=lastname", {"lastname": "New"}, headers=prefer)
    assert response.status_code == 200
    assert response.json()["contactid"] == contact
    assert api.get(f"contacts({contact})?$select=emailaddress1").json()["emailaddress1"] == "k@x.com"


def test_when_a_key_value_is_duplicated_the_write_is_412(api: Api) -> None:
    api.seed(KEYS)
    api.create("accounts", {"name": "A", "accountnumber": "ACC-1"})
    response = api.post("accounts", {"name": "B", "accountnumber": "ACC-1"})
    assert response.status_code == 412
    assert error_of(response)["code"] == "0x80040237"


def test_when_a_row_is_read_by_key_it_is_found(api: Api) -> None:
    api.seed(KEYS)
    account = api.create("accounts", {"name": "A", "accountnumber": "ACC-1"})
    assert api.get("accounts(accountnumber='ACC-1')?$select=name").json()["accountid"] == account
    missing = api.get("accounts(accountnumber='ACC-2')")
    assert missing.status_code == 404


@pytest.mark.parametrize("character", list("/<>*%&:\\?+"))
def test_when_a_key_value_has_a_character_dataverse_refuses_in_urls_the_request_is_400(
        api: Api, character: str) -> None:
    api.seed(KEYS)
    api.seed({"contacts": [{"lastname": "Tagged", "emailaddress1": f"a{character}tag@x.com"}]})
    key = quote(f"emailaddress1='a{character}tag@x.com'", safe="'=@")
    for response in (api.get(f"contacts({key})"), api.patch(f"contacts({key})", {"jobtitle": "x"})):
        assert response.status_code == 400, character
        assert "potentially dangerous" in error_of(response)["message"]
    # The documented way round it: a $filter query finds the row.
    found = api.get(f"contacts?$filter=emailaddress1 eq '{quote(f'a{character}tag@x.com', safe='@')}'")
    assert [r["lastname"] for r in found.json()["value"]] == ["Tagged"]


def test_when_a_systemuser_is_addressed_by_a_named_key_it_is_refused(api: Api) -> None:
    user = api.get("WhoAmI").json()["UserId"]
    assert api.get(f"systemusers({user})").status_code == 200
    assert api.get(f"systemusers(systemuserid={user})").status_code == 400
    lead = api.create("leads", {"lastname": "L"})
    assert api.get(f"leads(leadid={lead})").status_code == 200


def test_when_create_multiple_runs_it_returns_the_ids(api: Api) -> None:
    body = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": n} for n in ("A", "B")]}
    response = api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", body)
    assert response.status_code == 200
    payload = response.json()
    assert payload["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    assert len(payload["Ids"]) == 2
    assert api.dv.stats()["operations"] == 2


def test_when_a_bulk_target_fails_nothing_is_written(api: Api) -> None:
    body = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "A"},
                        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "bad": 1}]}
    assert api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", body).status_code == 400
    assert api.get("contacts").json()["value"] == []
    untyped = {"Targets": [{"lastname": "A"}]}
    assert api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", untyped).status_code == 400


def test_when_update_and_upsert_multiple_run_rows_change(api: Api) -> None:
    api.seed(KEYS)
    contact = api.create("contacts", {"lastname": "A", "emailaddress1": "a@x.com"})
    update = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": contact, "jobtitle": "CTO"}]}
    assert api.post("contacts/Microsoft.Dynamics.CRM.UpdateMultiple", update).status_code == 204
    upsert = {"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "@odata.id": "contacts(emailaddress1='a@x.com')",
         "lastname": "A2"},
        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "@odata.id": "contacts(emailaddress1='b@x.com')",
         "lastname": "B"}]}
    assert api.post("contacts/Microsoft.Dynamics.CRM.UpsertMultiple", upsert).status_code == 204
    rows = {r["emailaddress1"]: r for r in api.get("contacts?$select=emailaddress1,lastname,jobtitle").json()["value"]}
    assert rows["a@x.com"]["lastname"] == "A2" and rows["a@x.com"]["jobtitle"] == "CTO"
    assert rows["b@x.com"]["lastname"] == "B"


def test_when_a_bulk_action_is_called_with_get_the_answer_is_404(api: Api) -> None:
    assert api.get("contacts/Microsoft.Dynamics.CRM.CreateMultiple").status_code == 404


def test_when_entity_definitions_are_filtered_by_logical_name_one_comes_back(api: Api) -> None:
    response = api.get("EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
                       "&$filter=LogicalName eq 'contact'")
    assert response.status_code == 200
    [item] = response.json()["value"]
    assert item["LogicalName"] == "contact" and item["EntitySetName"] == "contacts"
    assert item["PrimaryIdAttribute"] == "contactid" and "MetadataId" in item


def test_when_one_entity_definition_is_read_it_has_tracking_and_concurrency_flags(api: Api) -> None:
    body = api.get("EntityDefinitions(LogicalName='lead')?$select=ChangeTrackingEnabled,"
                   "IsOptimisticConcurrencyEnabled").json()
    assert body["ChangeTrackingEnabled"] is True and body["IsOptimisticConcurrencyEnabled"] is True
    assert api.get("EntityDefinitions(LogicalName='task')?$select=ChangeTrackingEnabled").json()[
        "ChangeTrackingEnabled"] is False
    assert api.get("EntityDefinitions(LogicalName='nosuch')").status_code == 404


def test_when_picklist_attributes_are_listed_they_carry_options(api: Api) -> None:
    response = api.get("EntityDefinitions(LogicalName='lead')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
                       "?$select=LogicalName&$expand=OptionSet($select=Options)")
    assert response.status_code == 200
    items = {i["LogicalName"]: i for i in response.json()["value"]}
    options = items["leadsourcecode"]["OptionSet"]["Options"]
    assert {"Value": 8, "Label": options[7]["Label"]} == options[7] and options[7]["Value"] == 8
    assert options[7]["Label"]["UserLocalizedLabel"]["Label"] == "Web"


def test_when_attributes_are_listed_they_include_max_length(api: Api) -> None:
    items = api.get("EntityDefinitions(LogicalName='task')/Attributes").json()["value"]
    subject = next(i for i in items if i["LogicalName"] == "subject")
    assert subject["MaxLength"] == 200 and subject["AttributeType"] == "String"


def test_when_metadata_is_requested_it_is_csdl(api: Api) -> None:
    response = api.get("$metadata")
    assert response.status_code == 200
    assert '<EntitySet Name="leads"' in response.text
    assert '<NavigationProperty Name="parentcustomerid_account"' in response.text


def test_when_attributes_are_expanded_on_a_definition_nested_select_applies(api: Api) -> None:
    body = api.get("EntityDefinitions(LogicalName='contact')?$select=LogicalName"
                   "&$expand=Attributes($select=LogicalName)").json()
    assert body["LogicalName"] == "contact"
    assert {"LogicalName", "MetadataId", "@odata.type"} >= set(body["Attributes"][0])
    assert "emailaddress1" in {a["LogicalName"] for a in body["Attributes"]}


def test_when_one_update_multiple_target_is_missing_no_target_is_updated(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "A"})
    body = {"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": contact, "jobtitle": "CTO"},
        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": "00000000-0000-4000-8000-00000000abcd",
         "jobtitle": "CFO"}]}
    assert api.post("contacts/Microsoft.Dynamics.CRM.UpdateMultiple", body).status_code == 404
    assert api.get(f"contacts({contact})?$select=jobtitle").json()["jobtitle"] is None


def test_when_a_table_does_not_offer_bulk_actions_they_are_refused_and_nothing_is_written(api: Api) -> None:
    api.dv.hook("POST", "config", {"bulkActionTables": ["contact"]})
    task = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.task", "subject": "T"}]}
    refused = api.post("tasks/Microsoft.Dynamics.CRM.CreateMultiple", task)
    assert refused.status_code == 400
    assert "not available" in refused.json()["error"]["message"]
    assert api.get("tasks").json()["value"] == []
    contact = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "A"}]}
    assert api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", contact).status_code == 200
