"""Marketing lists: member types, AddMemberList, AddListMembersList, $ref, membercount (reference 6)."""

from __future__ import annotations

import pytest

from .conftest import Api, error_of

ACTION = "Microsoft.Dynamics.CRM.AddMemberList"


@pytest.fixture
def contact_list(api: Api) -> str:
    return api.create("lists", {"listname": "Newsletter", "createdfromcode": 2})


def test_when_a_list_is_created_it_has_the_server_defaults(api: Api, contact_list: str) -> None:
    body = api.get(f"lists({contact_list})").json()
    assert body["type"] is False and body["lockstatus"] is False
    assert body["membercount"] == 0 and body["statecode"] == 0 and body["statuscode"] == 0
    assert body["createdfromcode"] == 2


def test_when_a_list_lacks_its_member_type_create_is_refused(api: Api) -> None:
    assert api.post("lists", {"listname": "No type"}).status_code == 400


def test_when_add_member_list_is_called_it_answers_the_listmember_id(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    response = api.post(f"lists({contact_list})/{ACTION}", {"EntityId": contact})
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.AddMemberListResponse")
    members = api.get("listmembers?$select=_listid_value,_entityid_value,entitytype").json()["value"]
    assert [(m["listmemberid"], m["_listid_value"], m["_entityid_value"], m["entitytype"]) for m in members] == [
        (body["Id"], contact_list, contact, "contact")]
    assert api.get(f"lists({contact_list})?$select=membercount").json()["membercount"] == 1


def test_when_a_member_is_added_twice_the_same_listmember_is_returned(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    first = api.post(f"lists({contact_list})/{ACTION}", {"EntityId": contact}).json()["Id"]
    second = api.post(f"lists({contact_list})/{ACTION}", {"EntityId": contact}).json()["Id"]
    assert first == second
    assert len(api.get("listmembers").json()["value"]) == 1
    assert api.get(f"lists({contact_list})?$select=membercount").json()["membercount"] == 1


def test_when_the_action_name_lacks_its_namespace_the_answer_is_400(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    response = api.post(f"lists({contact_list})/AddMemberList", {"EntityId": contact})
    assert response.status_code == 400
    assert "unresolved parameters" in error_of(response)["message"]


@pytest.mark.parametrize(("change", "member_set"), [
    ({}, "leads"),
    ({"type": True}, "contacts"),
    ({"lockstatus": True}, "contacts"),
    ({"statecode": 1, "statuscode": 1}, "contacts"),
])
def test_when_the_list_cannot_take_the_member_the_add_is_refused(api: Api, change: dict, member_set: str) -> None:
    list_id = api.create("lists", {"listname": "L", "createdfromcode": 2, **change})
    member = api.create(member_set, {"lastname": "M"})
    response = api.post(f"lists({list_id})/{ACTION}", {"EntityId": member})
    assert response.status_code == 400
    assert error_of(response)["code"] == "0x80040203"
    assert api.get("listmembers").json()["value"] == []


def test_when_the_list_is_missing_the_answer_is_404(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    response = api.post(f"lists(00000000-0000-0000-0000-00000000abcd)/{ACTION}", {"EntityId": contact})
    assert response.status_code == 404


def test_when_members_are_added_in_bulk_all_land_or_none(api: Api) -> None:
    list_id = api.create("lists", {"listname": "Leads", "createdfromcode": 4})
    leads = [api.create("leads", {"lastname": f"L{i}"}) for i in range(3)]
    body = {"List": {"listid": list_id, "@odata.type": "Microsoft.Dynamics.CRM.list"},
            "Members": [{"leadid": lead, "@odata.type": "Microsoft.Dynamics.CRM.lead"} for lead in leads]}
    assert api.post("AddListMembersList", body).status_code == 204
    assert api.get(f"lists({list_id})?$select=membercount").json()["membercount"] == 3
    contact = api.create("contacts", {"lastname": "wrong type"})
    other = api.create("leads", {"lastname": "new"})
    body["Members"] = [{"leadid": other, "@odata.type": "Microsoft.Dynamics.CRM.lead"},
                       {"contactid": contact, "@odata.type": "Microsoft.Dynamics.CRM.contact"}]
    assert api.post("AddListMembersList", body).status_code == 400
    assert api.get(f"lists({list_id})?$select=membercount").json()["membercount"] == 3


def test_when_members_or_the_list_lack_odata_type_the_bulk_add_is_refused(api: Api) -> None:
    list_id = api.create("lists", {"listname": "Leads", "createdfromcode": 4})
    lead = api.create("leads", {"lastname": "L"})
    typed_list = {"listid": list_id, "@odata.type": "Microsoft.Dynamics.CRM.list"}
    typed_lead = {"leadid": lead, "@odata.type": "Microsoft.Dynamics.CRM.lead"}
    for body in ({"List": typed_list, "Members": [{"leadid": lead}]},
                 {"List": {"listid": list_id}, "Members": [typed_lead]}):
        response = api.post("AddListMembersList", body)
        assert response.status_code == 400
        assert "key property value set" in error_of(response)["message"]
    assert api.get("listmembers").json()["value"] == []
    assert api.post("AddListMembersList", {"List": typed_list, "Members": [typed_lead]}).status_code == 204


def test_when_a_member_is_removed_the_count_drops(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    api.post(f"lists({contact_list})/{ACTION}", {"EntityId": contact})
    response = api.post(f"lists({contact_list})/Microsoft.Dynamics.CRM.RemoveMemberList", {"EntityId": contact})
    assert response.status_code == 204
    assert api.get(f"lists({contact_list})?$select=membercount").json()["membercount"] == 0


def test_when_a_member_is_associated_with_ref_it_is_readable_both_ways(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    response = api.post(f"lists({contact_list})/listcontact_association/$ref",
                        {"@odata.id": f"{api.base}contacts({contact})"})
    assert response.status_code == 204
    members = api.get(f"lists({contact_list})/listcontact_association?$select=contactid").json()["value"]
    assert [m["contactid"] for m in members] == [contact]
    query = (f"contacts?$select=lastname&$filter=contactid eq {contact}"
             f"&$expand=listcontact_association($filter=listid eq {contact_list};$select=listid)")
    row = api.get(query).json()["value"][0]
    assert [lst["listid"] for lst in row["listcontact_association"]] == [contact_list]
    again = api.post(f"lists({contact_list})/listcontact_association/$ref", {"@odata.id": f"contacts({contact})"})
    assert again.status_code == 412


def test_when_a_member_is_disassociated_with_ref_it_leaves(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    api.post(f"lists({contact_list})/{ACTION}", {"EntityId": contact})
    response = api.delete(f"lists({contact_list})/listcontact_association({contact})/$ref")
    assert response.status_code == 204
    assert api.get("listmembers").json()["value"] == []
    api.post(f"lists({contact_list})/{ACTION}", {"EntityId": contact})
    response = api.delete(f"lists({contact_list})/listcontact_association/$ref?$id={api.base}contacts({contact})")
    assert response.status_code == 204
    assert api.get(f"lists({contact_list})?$select=membercount").json()["membercount"] == 0


def test_when_a_listmember_is_posted_directly_the_list_rules_apply(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    lead = api.create("leads", {"lastname": "L"})
    ok = api.post("listmembers", {"listid@odata.bind": f"/lists({contact_list})",
                                  "entityid_contact@odata.bind": f"/contacts({contact})"})
    assert ok.status_code == 204
    refused = api.post("listmembers", {"listid@odata.bind": f"/lists({contact_list})",
                                       "entityid_lead@odata.bind": f"/leads({lead})"})
    assert refused.status_code == 400
    member_id = ok.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert api.delete(f"listmembers({member_id})").status_code == 204
    assert api.get(f"lists({contact_list})?$select=membercount").json()["membercount"] == 0


def test_when_membership_is_filtered_through_listmembers_it_finds_the_row(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    api.post(f"lists({contact_list})/{ACTION}", {"EntityId": contact})
    query = f"listmembers?$filter=_listid_value eq {contact_list} and _entityid_value eq {contact}"
    assert len(api.get(query).json()["value"]) == 1


def test_when_a_list_is_deleted_its_memberships_go(api: Api, contact_list: str) -> None:
    contact = api.create("contacts", {"lastname": "C"})
    api.post(f"lists({contact_list})/{ACTION}", {"EntityId": contact})
    api.delete(f"lists({contact_list})")
    assert api.get("listmembers").json()["value"] == []
    assert api.get(f"contacts({contact})/listcontact_association").json()["value"] == []
