"""Create, retrieve, update/upsert and delete with Dataverse's status codes and headers (reference 2)."""

from __future__ import annotations

import re

import requests

from .conftest import Api, error_of

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
FIXED_ID = "11111111-2222-4333-8444-555555555555"


def test_when_a_record_is_created_the_answer_is_204_with_an_absolute_entity_id(api: Api) -> None:
    response = api.post("leads", {"subject": "Webinar", "firstname": "Ada", "lastname": "Lovelace"})
    assert response.status_code == 204
    assert response.content == b""
    entity_id = response.headers["OData-EntityId"]
    assert entity_id.startswith(api.base + "leads(")
    assert GUID.match(entity_id[len(api.base) + 6:-1])


def test_when_representation_is_preferred_create_answers_201_with_body_and_no_entity_id(api: Api) -> None:
    response = api.post("leads?$select=leadid,fullname", {"firstname": "Ada", "lastname": "Lovelace"},
                        headers={"Prefer": "return=representation"})
    assert response.status_code == 201
    assert "OData-EntityId" not in response.headers
    assert response.headers["Preference-Applied"] == "return=representation"
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#leads(leadid,fullname)/$entity")
    assert body["fullname"] == "Ada Lovelace"
    assert body["@odata.etag"] == response.headers["ETag"]
    assert set(body) == {"@odata.context", "@odata.etag", "leadid", "fullname"}


def test_when_a_record_is_created_server_columns_are_set(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "Hopper"})
    body = api.get(f"leads({lead_id})").json()
    assert GUID.match(body["leadid"])
    assert STAMP.match(body["createdon"]) and STAMP.match(body["modifiedon"])
    assert body["statecode"] == 0 and body["statuscode"] == 1
    assert body["@odata.etag"] == f'W/"{body["versionnumber"]}"'
    assert body["_ownerid_value"] == api.get("WhoAmI").json()["UserId"]
    assert "ownerid" not in body and "parentcontactid" not in body


def test_when_versions_are_assigned_they_increase_across_tables(api: Api) -> None:
    first = api.get(f"leads({api.create('leads', {'lastname': 'A'})})").json()["versionnumber"]
    second = api.get(f"contacts({api.create('contacts', {'lastname': 'B'})})").json()["versionnumber"]
    assert second > first


def test_when_the_client_supplies_the_primary_key_it_is_used(api: Api) -> None:
    response = api.post("contacts", {"contactid": FIXED_ID, "lastname": "Chosen"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"].endswith(f"contacts({FIXED_ID})")


def test_when_the_supplied_primary_key_exists_the_answer_is_412_duplicate(api: Api) -> None:
    api.post("contacts", {"contactid": FIXED_ID, "lastname": "Chosen"})
    response = api.post("contacts", {"contactid": FIXED_ID, "lastname": "Again"})
    assert response.status_code == 412
    assert error_of(response)["code"] == "0x80040237"


def test_when_a_record_is_read_it_has_an_etag_header_and_entity_context(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "Lovelace", "emailaddress1": "ada@example.com"})
    response = api.get(f"leads({lead_id})?$select=emailaddress1")
    assert response.status_code == 200
    body = response.json()
    assert response.headers["ETag"] == body["@odata.etag"]
    assert body["@odata.context"].endswith("$metadata#leads(emailaddress1)/$entity")
    assert body == {"@odata.context": body["@odata.context"], "@odata.etag": body["@odata.etag"],
                    "emailaddress1": "ada@example.com", "leadid": lead_id}


def test_when_a_body_has_an_unknown_property_the_answer_is_400(api: Api) -> None:
    response = api.post("leads", {"lastname": "X", "nosuchcolumn": 1})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "0x80048d19"
    assert "Invalid property 'nosuchcolumn' was found in entity 'Microsoft.Dynamics.CRM.lead'" in error["message"]


def test_when_a_string_exceeds_max_length_the_answer_is_400_validation(api: Api) -> None:
    response = api.post("tasks", {"subject": "x" * 201})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "0x80044331"
    assert "'subject' attribute of the 'task' entity exceeded the maximum allowed length of '200'" in error["message"]
    assert api.post("tasks", {"subject": "x" * 200}).status_code == 204


def test_when_a_value_has_the_wrong_type_the_answer_is_400(api: Api) -> None:
    response = api.post("accounts", {"name": "A", "numberofemployees": "many"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "0x80048d19"


def test_when_statecode_is_sent_on_lead_create_the_answer_is_400(api: Api) -> None:
    assert api.post("leads", {"lastname": "X", "statecode": 1}).status_code == 400
    assert api.post("phonecalls", {"subject": "X", "statecode": 0}).status_code == 400
    assert api.post("contacts", {"lastname": "X", "statecode": 1, "statuscode": 2}).status_code == 204


def test_when_statuscode_does_not_belong_to_the_state_the_answer_is_400(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X"})
    response = api.patch(f"leads({lead_id})", {"statecode": 2, "statuscode": 3})
    assert response.status_code == 400
    assert error_of(response)["code"] == "0x80048408"
    assert api.patch(f"leads({lead_id})", {"statecode": 2, "statuscode": 5}).status_code == 204
    assert api.get(f"leads({lead_id})?$select=statecode,statuscode").json()["statuscode"] == 5


def test_when_only_statecode_changes_statuscode_takes_that_states_default(api: Api) -> None:
    contact_id = api.create("contacts", {"lastname": "X"})
    api.patch(f"contacts({contact_id})", {"statecode": 1})
    body = api.get(f"contacts({contact_id})?$select=statecode,statuscode").json()
    assert (body["statecode"], body["statuscode"]) == (1, 2)


def test_when_fullname_is_computed_it_follows_first_and_last_name(api: Api) -> None:
    contact_id = api.create("contacts", {"firstname": "Grace", "lastname": "Hopper"})
    api.patch(f"contacts({contact_id})", {"firstname": "Rear Admiral Grace"})
    assert api.get(f"contacts({contact_id})?$select=fullname").json()["fullname"] == "Rear Admiral Grace Hopper"


def test_when_patch_targets_an_existing_row_it_updates_with_204_and_new_etag(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X"})
    before = api.get(f"leads({lead_id})").json()["@odata.etag"]
    response = api.patch(f"leads({lead_id})", {"jobtitle": "CTO"}, headers={"If-Match": "*"})
    assert response.status_code == 204
    after = api.get(f"leads({lead_id})?$select=jobtitle").json()
    assert after["jobtitle"] == "CTO" and after["@odata.etag"] != before


def test_when_patch_targets_a_missing_row_it_creates_it(api: Api) -> None:
    response = api.patch(f"leads({FIXED_ID})", {"lastname": "Upserted"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"].endswith(f"leads({FIXED_ID})")
    assert api.get(f"leads({FIXED_ID})?$select=lastname").json()["lastname"] == "Upserted"


def test_when_upsert_prefers_representation_create_is_201_and_update_is_200(api: Api) -> None:
    prefer = {"Prefer": "return=representation"}
    assert api.patch(f"leads({FIXED_ID})?$select=lastname", {"lastname": "A"}, headers=prefer).status_code == 201
    response = api.patch(f"leads({FIXED_ID})?$select=lastname", {"lastname": "B"}, headers=prefer)
    assert response.status_code == 200
    assert response.json()["lastname"] == "B"


def test_when_if_match_star_meets_a_missing_row_the_answer_is_404(api: Api) -> None:
    response = api.patch(f"leads({FIXED_ID})", {"lastname": "X"}, headers={"If-Match": "*"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "0x80040217"
    assert api.get(f"leads({FIXED_ID})").status_code == 404


def test_when_if_none_match_star_meets_an_existing_row_the_answer_is_412(api: Api) -> None:
    api.patch(f"leads({FIXED_ID})", {"lastname": "X"}, headers={"If-None-Match": "*"})
    response = api.patch(f"leads({FIXED_ID})", {"lastname": "Y"}, headers={"If-None-Match": "*"})
    assert response.status_code == 412
    assert error_of(response) == {"code": "0x80040237", "message": "A record with matching key values already exists."}


def test_when_if_match_carries_a_stale_etag_the_answer_is_412_version_mismatch(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X"})
    stale = api.get(f"leads({lead_id})").headers["ETag"]
    api.patch(f"leads({lead_id})", {"jobtitle": "changed"})
    response = api.patch(f"leads({lead_id})", {"jobtitle": "mine"}, headers={"If-Match": stale})
    assert response.status_code == 412
    assert error_of(response)["code"] == "0x80060882"
    fresh = api.get(f"leads({lead_id})").headers["ETag"]
    assert api.patch(f"leads({lead_id})", {"jobtitle": "mine"}, headers={"If-Match": fresh}).status_code == 204


def test_when_if_none_match_equals_the_etag_the_get_answers_304(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X"})
    tag = api.get(f"leads({lead_id})").headers["ETag"]
    response = api.get(f"leads({lead_id})", headers={"If-None-Match": tag})
    assert response.status_code == 304 and response.content == b""
    assert api.get(f"leads({lead_id})", headers={"If-None-Match": "null"}).status_code == 200
    annotated = api.get(f"leads({lead_id})", headers={"If-None-Match": tag,
                                                      "Prefer": 'odata.include-annotations="*"'})
    assert annotated.status_code == 200
    assert api.get(f"leads({lead_id})?$expand=parentcontactid", headers={"If-None-Match": tag}).status_code == 200
    api.patch(f"leads({lead_id})", {"jobtitle": "new"})
    assert api.get(f"leads({lead_id})", headers={"If-None-Match": tag}).status_code == 200


def test_when_a_record_is_deleted_the_answer_is_204_then_404(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X"})
    assert api.delete(f"leads({lead_id})").status_code == 204
    assert api.get(f"leads({lead_id})").status_code == 404
    response = api.delete(f"leads({lead_id})")
    assert response.status_code == 404
    assert error_of(response)["code"] == "0x80040217"


def test_when_delete_carries_a_stale_etag_the_answer_is_412(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X"})
    stale = api.get(f"leads({lead_id})").headers["ETag"]
    api.patch(f"leads({lead_id})", {"jobtitle": "changed"})
    assert api.delete(f"leads({lead_id})", headers={"If-Match": stale}).status_code == 412
    assert api.get(f"leads({lead_id})").status_code == 200


def test_when_a_single_property_is_read_it_is_wrapped_in_value(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X", "emailaddress1": "ada@example.com"})
    body = api.get(f"leads({lead_id})/emailaddress1").json()
    assert body["value"] == "ada@example.com"
    assert body["@odata.context"].endswith(f"$metadata#leads({lead_id})/emailaddress1")


def test_when_a_single_property_is_put_or_deleted_it_changes(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X", "jobtitle": "Dev"})
    assert api.put(f"leads({lead_id})/jobtitle", {"value": "CTO"}).status_code == 204
    assert api.get(f"leads({lead_id})/jobtitle").json()["value"] == "CTO"
    assert api.delete(f"leads({lead_id})/jobtitle").status_code == 204
    assert api.get(f"leads({lead_id})?$select=jobtitle").json()["jobtitle"] is None


def test_when_count_is_requested_on_a_set_it_is_plain_text(api: Api) -> None:
    for name in ("A", "B", "C"):
        api.create("contacts", {"lastname": name})
    response = api.get("contacts/$count")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.content.decode("utf-8-sig") == "3"


def test_when_a_row_is_deleted_its_activities_and_memberships_go_too(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "X"})
    api.create("tasks", {"subject": "Call", "regardingobjectid_lead_task@odata.bind": f"/leads({lead_id})"})
    list_id = api.create("lists", {"listname": "L", "createdfromcode": 4})
    api.post(f"lists({list_id})/Microsoft.Dynamics.CRM.AddMemberList", {"EntityId": lead_id})
    api.delete(f"leads({lead_id})")
    assert api.get("tasks").json()["value"] == []
    assert api.get("listmembers").json()["value"] == []
    assert api.get(f"lists({list_id})?$select=membercount").json()["membercount"] == 0


def test_when_patch_upserts_without_representation_create_and_update_answer_alike(api: Api) -> None:
    created = api.patch(f"leads({FIXED_ID})", {"lastname": "A"})
    updated = api.patch(f"leads({FIXED_ID})", {"lastname": "B"})

    def shape(response: requests.Response) -> tuple[int, bytes, str, set[str]]:
        names = {k.lower() for k in response.headers} - {"req_id", "date", "server", "content-length"}
        return response.status_code, response.content, response.headers["OData-EntityId"], names

    assert shape(created) == shape(updated)
    assert created.status_code == 204


def test_when_a_write_changes_nothing_the_etag_still_changes(api: Api) -> None:
    lead_id = api.create("leads", {"lastname": "Same"})
    before = api.get(f"leads({lead_id})").headers["ETag"]
    assert api.patch(f"leads({lead_id})", {"lastname": "Same"}).status_code == 204
    after = api.get(f"leads({lead_id})").headers["ETag"]
    assert after != before and re.fullmatch(r'W/"\d+"', after)


def test_when_business_required_columns_are_missing_the_row_is_still_created(api: Api) -> None:
    # Only SystemRequired columns are enforced; lastname/subject are ApplicationRequired (form hints).
    for entity_set in ("leads", "contacts", "tasks", "phonecalls"):
        assert api.post(entity_set, {}).status_code == 204, entity_set


def test_when_a_body_sets_server_owned_columns_the_server_values_win(api: Api) -> None:
    lead_id = api.create("leads", {"firstname": "Ada", "lastname": "Lovelace", "fullname": "Someone Else",
                                   "createdon": "2001-01-01T00:00:00Z", "versionnumber": 1, "merged": True})
    body = api.get(f"leads({lead_id})?$select=fullname,createdon,versionnumber,merged").json()
    assert body["fullname"] == "Ada Lovelace" and body["merged"] is False
    assert body["createdon"] != "2001-01-01T00:00:00Z" and body["versionnumber"] > 1
    list_id = api.create("lists", {"listname": "L", "createdfromcode": 2, "membercount": 9})
    assert api.get(f"lists({list_id})?$select=membercount").json()["membercount"] == 0


def test_when_guids_arrive_in_upper_case_they_are_stored_and_answered_in_lower_case(api: Api) -> None:
    upper = FIXED_ID.upper()
    response = api.post("contacts", {"contactid": upper, "lastname": "Upper"})
    assert response.headers["OData-EntityId"].endswith(f"contacts({FIXED_ID})")
    lead = api.create("leads", {"lastname": "L", "parentcontactid@odata.bind": f"/contacts({upper})"})
    body = api.get(f"leads({lead.upper()})?$select=_parentcontactid_value").json()
    assert body["leadid"] == lead and body["_parentcontactid_value"] == FIXED_ID


def test_when_a_money_column_is_selected_its_currency_comes_too(api: Api) -> None:
    account = api.create("accounts", {"name": "Contoso", "revenue": 1000000})
    usd = api.get("transactioncurrencies?$select=transactioncurrencyid&$filter=isocurrencycode eq 'USD'").json()
    [currency] = [row["transactioncurrencyid"] for row in usd["value"]]
    body = api.get(f"accounts({account})?$select=revenue").json()
    assert set(body) == {"@odata.context", "@odata.etag", "revenue", "_transactioncurrencyid_value", "accountid"}
    assert body["_transactioncurrencyid_value"] == currency
    assert "_transactioncurrencyid_value" not in api.get(f"accounts({account})?$select=name").json()


def test_when_duplicate_detection_is_not_asked_for_duplicates_are_saved(api: Api) -> None:
    api.create("contacts", {"lastname": "A", "emailaddress1": "twin@example.com"})
    assert api.post("contacts", {"lastname": "B", "emailaddress1": "TWIN@example.com"}).status_code == 204
    suppressed = {"MSCRM.SuppressDuplicateDetection": "true"}
    assert api.post("contacts", {"lastname": "C", "emailaddress1": "twin@example.com"},
                    headers=suppressed).status_code == 204


def test_when_duplicate_detection_is_turned_on_a_duplicate_is_refused(api: Api) -> None:
    detect = {"MSCRM.SuppressDuplicateDetection": "false"}
    first = api.create("leads", {"lastname": "A", "emailaddress1": "twin@example.com"})
    response = api.post("leads", {"lastname": "B", "emailaddress1": "Twin@Example.com"}, headers=detect)
    assert response.status_code == 500
    assert error_of(response)["code"] == "0x80040333"
    other = api.create("leads", {"lastname": "C", "emailaddress1": "other@example.com"})
    assert api.patch(f"leads({other})", {"emailaddress1": "twin@example.com"}, headers=detect).status_code == 500
    assert api.patch(f"leads({first})", {"jobtitle": "CTO"}, headers=detect).status_code == 204
    assert [r["lastname"] for r in api.get("leads?$filter=emailaddress1 eq 'twin@example.com'").json()["value"]] == ["A"]


def test_when_a_caller_impersonates_a_user_the_row_is_theirs_on_behalf_of_the_caller(api: Api) -> None:
    me = api.get("WhoAmI").json()["UserId"]
    object_id = "0a1b2c3d-0000-4000-8000-00000000e1d0"
    user = api.create("systemusers", {"firstname": "Grace", "lastname": "Hopper",
                                      "azureactivedirectoryobjectid": object_id})
    columns = "?$select=_createdby_value,_createdonbehalfby_value,_ownerid_value,_modifiedby_value"
    for header in ({"MSCRMCallerID": user}, {"CallerObjectId": object_id}):
        lead = api.post("leads", {"lastname": "L"}, headers=header)
        assert lead.status_code == 204
        body = api.get(lead.headers["OData-EntityId"] + columns).json()
        assert (body["_createdby_value"], body["_ownerid_value"], body["_modifiedby_value"]) == (user, user, user)
        assert body["_createdonbehalfby_value"] == me
        assert api.get("WhoAmI", headers=header).json()["UserId"] == user
    plain = api.get(f"leads({api.create('leads', {'lastname': 'Mine'})}){columns}").json()
    assert plain["_createdby_value"] == me and plain["_createdonbehalfby_value"] is None
    assert api.post("leads", {"lastname": "X"}, headers={"MSCRMCallerID": FIXED_ID}).status_code == 404
