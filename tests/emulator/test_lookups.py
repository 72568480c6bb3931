"""Lookups: @odata.bind forms, polymorphic targets, annotations, $ref, $expand (reference 5)."""

from __future__ import annotations

from .conftest import Api, error_of

ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}


def test_when_a_lookup_is_bound_it_reads_back_as_underscore_value(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Parent"})
    lead = api.create("leads", {"lastname": "L", "parentcontactid@odata.bind": f"/contacts({contact})"})
    body = api.get(f"leads({lead})?$select=_parentcontactid_value").json()
    assert body["_parentcontactid_value"] == contact
    assert "parentcontactid" not in body
    assert not any("@" in key and key != "@odata.etag" and key != "@odata.context" for key in body)


def test_when_bind_uses_any_url_form_it_resolves(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Parent"})
    for form in (f"/contacts({contact})", f"contacts({contact})", f"{api.base}contacts({contact})",
                 f"/api/data/v9.2/contacts({contact})"):
        lead = api.create("leads", {"lastname": "L", "parentcontactid@odata.bind": form})
        assert api.get(f"leads({lead})?$select=_parentcontactid_value").json()["_parentcontactid_value"] == contact


def test_when_bind_uses_an_alternate_key_it_resolves(api: Api) -> None:
    api.seed({"$keys": {"contact": [["emailaddress1"]]}})
    contact = api.create("contacts", {"lastname": "Keyed", "emailaddress1": "k@x.com"})
    lead = api.create("leads", {"lastname": "L", "parentcontactid@odata.bind": "/contacts(emailaddress1='k@x.com')"})
    assert api.get(f"leads({lead})?$select=_parentcontactid_value").json()["_parentcontactid_value"] == contact


def test_when_bind_points_at_a_missing_row_the_answer_is_404(api: Api) -> None:
    response = api.post("leads", {"lastname": "L",
                                  "parentcontactid@odata.bind": "/contacts(00000000-0000-0000-0000-000000000001)"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "0x80040217"


def test_when_the_logical_name_of_a_polymorphic_lookup_is_bound_the_answer_is_400(api: Api) -> None:
    account = api.create("accounts", {"name": "A"})
    response = api.post("contacts", {"lastname": "C", "parentcustomerid@odata.bind": f"/accounts({account})"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "0x80048d19"
    assert "An undeclared property 'parentcustomerid' which only has property annotations" in error["message"]


def test_when_nav_property_case_is_wrong_the_answer_is_400(api: Api) -> None:
    account = api.create("accounts", {"name": "A"})
    response = api.post("contacts", {"lastname": "C", "ParentCustomerId_account@odata.bind": f"/accounts({account})"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "0x80048d19"
    lead = api.create("leads", {"lastname": "L"})
    regarding = {"subject": "S", "regardingobjectid_Lead_task@odata.bind": f"/leads({lead})"}
    assert api.post("tasks", regarding).status_code == 400
    regarding = {"subject": "S", "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"}
    assert api.post("tasks", regarding).status_code == 204


def test_when_a_lookup_is_read_or_written_by_another_name_the_answer_is_400(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Parent"})
    lead = api.create("leads", {"lastname": "L", "parentcontactid@odata.bind": f"/contacts({contact})"})
    # Read only as `_x_value`: the column's logical name is not a property.
    response = api.get(f"leads({lead})?$select=parentcontactid")
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("Could not find a property named 'parentcontactid'")
    # Written only through the navigation property: `_x_value` in a body is refused.
    written = api.patch(f"leads({lead})", {"_parentcontactid_value": contact})
    assert written.status_code == 400 and error_of(written)["code"] == "0x80048d19"


def test_when_bind_targets_the_wrong_table_the_answer_is_400(api: Api) -> None:
    account = api.create("accounts", {"name": "A"})
    response = api.post("leads", {"lastname": "L", "parentcontactid@odata.bind": f"/accounts({account})"})
    assert response.status_code == 400


def test_when_one_polymorphic_target_is_set_the_other_is_cleared(api: Api) -> None:
    account = api.create("accounts", {"name": "A"})
    other = api.create("contacts", {"lastname": "Other"})
    contact = api.create("contacts", {"lastname": "C", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    api.patch(f"contacts({contact})", {"parentcustomerid_contact@odata.bind": f"/contacts({other})"})
    body = api.get(f"contacts({contact})?$select=_parentcustomerid_value", headers=ANNOTATIONS).json()
    assert body["_parentcustomerid_value"] == other
    assert body["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    assert body["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == "parentcustomerid_contact"
    expanded = api.get(f"contacts({contact})?$expand=parentcustomerid_account($select=name)").json()
    assert expanded["parentcustomerid_account"] is None


def test_when_annotations_are_requested_lookups_and_choices_get_them(api: Api) -> None:
    account = api.create("accounts", {"name": "Contoso"})
    contact = api.create("contacts", {"lastname": "C", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    response = api.get(f"contacts({contact})?$select=_parentcustomerid_value,statecode", headers=ANNOTATIONS)
    body = response.json()
    assert response.headers["Preference-Applied"] == 'odata.include-annotations="*"'
    assert body["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"] == "Contoso"
    assert body["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert body["statecode@OData.Community.Display.V1.FormattedValue"] == "Active"
    keys = list(body)
    assert keys.index("_parentcustomerid_value@OData.Community.Display.V1.FormattedValue") < keys.index(
        "_parentcustomerid_value")


def test_when_only_some_annotations_are_requested_only_those_appear(api: Api) -> None:
    account = api.create("accounts", {"name": "Contoso"})
    contact = api.create("contacts", {"lastname": "C", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    prefer = {"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'}
    body = api.get(f"contacts({contact})?$select=_parentcustomerid_value", headers=prefer).json()
    assert "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname" in body
    assert "_parentcustomerid_value@OData.Community.Display.V1.FormattedValue" not in body


def test_when_a_lookup_is_cleared_with_null_it_reads_back_null(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Parent"})
    lead = api.create("leads", {"lastname": "L", "parentcontactid@odata.bind": f"/contacts({contact})"})
    assert api.patch(f"leads({lead})", {"parentcontactid@odata.bind": None}).status_code == 204
    assert api.get(f"leads({lead})?$select=_parentcontactid_value").json()["_parentcontactid_value"] is None
    api.patch(f"leads({lead})", {"parentcontactid@odata.bind": f"/contacts({contact})"})
    assert api.patch(f"leads({lead})", {"parentcontactid": None}).status_code == 204
    assert api.get(f"leads({lead})?$select=_parentcontactid_value").json()["_parentcontactid_value"] is None


def test_when_ref_is_put_and_deleted_the_lookup_follows(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Parent"})
    lead = api.create("leads", {"lastname": "L"})
    response = api.put(f"leads({lead})/parentcontactid/$ref", {"@odata.id": f"{api.base}contacts({contact})"})
    assert response.status_code == 204
    assert api.get(f"leads({lead})?$select=_parentcontactid_value").json()["_parentcontactid_value"] == contact
    assert api.delete(f"leads({lead})/parentcontactid/$ref").status_code == 204
    assert api.get(f"leads({lead})?$select=_parentcontactid_value").json()["_parentcontactid_value"] is None


def test_when_owner_is_assigned_to_a_team_owning_team_is_set(api: Api) -> None:
    team = api.create("teams", {"name": "Sales"})
    lead = api.create("leads", {"lastname": "L", "ownerid@odata.bind": f"/teams({team})"})
    body = api.get(f"leads({lead})?$select=_ownerid_value,_owningteam_value,_owninguser_value",
                   headers=ANNOTATIONS).json()
    assert body["_ownerid_value"] == team and body["_owningteam_value"] == team
    assert body["_owninguser_value"] is None
    assert body["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"


def test_when_a_single_valued_nav_is_expanded_it_holds_the_related_row(api: Api) -> None:
    account = api.create("accounts", {"name": "Contoso", "telephone1": "555"})
    contact = api.create("contacts", {"lastname": "C", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    body = api.get(f"contacts({contact})?$select=lastname&$expand=parentcustomerid_account($select=name)").json()
    assert body["parentcustomerid_account"]["name"] == "Contoso"
    assert set(body["parentcustomerid_account"]) == {"@odata.etag", "name", "accountid"}
    listing = api.get("contacts?$select=lastname&$expand=parentcustomerid_account($select=name)").json()
    assert listing["value"][0]["parentcustomerid_account"]["accountid"] == account


def test_when_a_collection_nav_is_expanded_it_applies_nested_options(api: Api) -> None:
    account = api.create("accounts", {"name": "Contoso"})
    for name in ("B", "A", "C"):
        api.create("contacts", {"lastname": name, "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    query = (f"accounts({account})?$select=name&$expand=contact_customer_accounts($select=lastname;"
             "$filter=lastname ne 'C';$orderby=lastname desc;$top=5)")
    related = api.get(query).json()["contact_customer_accounts"]
    assert [r["lastname"] for r in related] == ["B", "A"]


def test_when_a_collection_nav_path_is_read_it_is_a_collection(api: Api) -> None:
    lead = api.create("leads", {"lastname": "L"})
    for subject in ("one", "two"):
        api.create("tasks", {"subject": subject, "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"})
    body = api.get(f"leads({lead})/Lead_Tasks?$select=subject&$filter=subject eq 'two'").json()
    assert [r["subject"] for r in body["value"]] == ["two"]
    assert api.get(f"leads({lead})/Lead_Tasks/$count").content.decode("utf-8-sig") == "2"
    refs = api.get(f"leads({lead})/Lead_Tasks/$ref").json()["value"]
    assert all(r["@odata.id"].startswith(api.base + "tasks(") for r in refs)


def test_when_a_one_to_many_ref_is_posted_the_child_lookup_is_set(api: Api) -> None:
    account = api.create("accounts", {"name": "A"})
    contact = api.create("contacts", {"lastname": "C"})
    response = api.post(f"accounts({account})/contact_customer_accounts/$ref", {"@odata.id": f"contacts({contact})"})
    assert response.status_code == 204
    body = api.get(f"contacts({contact})?$select=_parentcustomerid_value").json()
    assert body["_parentcustomerid_value"] == account
    assert api.delete(f"accounts({account})/contact_customer_accounts({contact})/$ref").status_code == 204
    assert api.get(f"contacts({contact})?$select=_parentcustomerid_value").json()["_parentcustomerid_value"] is None


def test_when_the_related_row_is_deleted_the_lookup_is_cleared(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Parent"})
    lead = api.create("leads", {"lastname": "L", "parentcontactid@odata.bind": f"/contacts({contact})"})
    api.delete(f"contacts({contact})")
    assert api.get(f"leads({lead})?$select=_parentcontactid_value").json()["_parentcontactid_value"] is None


def test_when_a_body_nests_a_related_row_it_is_created_deeply(api: Api) -> None:
    response = api.post("accounts", {"name": "Deep", "primarycontactid": {"lastname": "Nested"},
                                     "Account_Tasks": [{"subject": "t1"}, {"subject": "t2"}]})
    assert response.status_code == 204
    account = response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    body = api.get(f"accounts({account})?$expand=primarycontactid($select=lastname),Account_Tasks($select=subject)").json()
    assert body["primarycontactid"]["lastname"] == "Nested"
    assert sorted(t["subject"] for t in body["Account_Tasks"]) == ["t1", "t2"]


def test_when_a_deep_insert_fails_half_way_nothing_is_written(api: Api) -> None:
    response = api.post("accounts", {"name": "Deep", "Account_Tasks": [{"subject": "ok"}, {"subject": "x" * 201}]})
    assert response.status_code == 400
    assert api.get("accounts").json()["value"] == []
    assert api.get("tasks").json()["value"] == []


def test_when_an_expand_filter_has_a_double_quoted_in_value_with_a_quote_it_applies(api: Api) -> None:
    account = api.create("accounts", {"name": "Contoso"})
    for name in ("O'Brien", "Other"):
        api.create("contacts", {"lastname": name, "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    in_filter = "Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues=[\"O'Brien\"])"
    body = api.get(f"accounts({account})?$expand=contact_customer_accounts($filter={in_filter};$select=lastname)")
    assert [r["lastname"] for r in body.json()["contact_customer_accounts"]] == ["O'Brien"]
