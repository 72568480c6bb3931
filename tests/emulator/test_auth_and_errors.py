"""Authentication, error shape and the headers every response carries (reference sections 1 and 10)."""

from __future__ import annotations

import requests

from .conftest import Api, error_of


def test_when_no_token_is_sent_the_answer_is_401_with_a_bearer_challenge(api: Api) -> None:
    response = api.get("leads", auth=False)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    assert "resource_id=" in response.headers["WWW-Authenticate"]
    assert error_of(response)["message"]
    assert response.headers["OData-Version"] == "4.0"


def test_when_the_token_is_wrong_the_answer_is_401(api: Api) -> None:
    response = api.get("leads", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json; odata.metadata=minimal"


def test_when_the_entity_set_is_misspelled_the_answer_is_404_resource_not_found(api: Api) -> None:
    response = api.get("Leads")
    assert response.status_code == 404
    assert error_of(response) == {"code": "0x8006088a", "message": "Resource not found for the segment 'Leads'."}


def test_when_a_record_is_missing_the_answer_is_404_object_does_not_exist(api: Api) -> None:
    missing = "3b9e0000-0000-0000-0000-0000000000a1"
    response = api.get(f"leads({missing})")
    assert response.status_code == 404
    assert error_of(response) == {"code": "0x80040217", "message": f"Entity 'lead' With Id = {missing} Does Not Exist"}


def test_when_any_response_is_sent_it_carries_odata_version(api: Api) -> None:
    for response in (api.get(""), api.get("leads"), api.get("nothing"), api.get("WhoAmI")):
        assert response.headers["OData-Version"] == "4.0"


def test_when_json_is_returned_the_content_type_is_odata_minimal(api: Api) -> None:
    assert api.get("leads").headers["Content-Type"] == "application/json; odata.metadata=minimal"
    assert api.get("nothing").headers["Content-Type"] == "application/json; odata.metadata=minimal"


def test_when_the_service_root_is_read_it_lists_the_entity_sets(api: Api) -> None:
    body = api.get("").json()
    names = {item["name"] for item in body["value"]}
    assert {"leads", "contacts", "accounts", "tasks", "phonecalls", "lists", "listmembers", "systemusers",
            "teams"} <= names


def test_when_whoami_is_called_with_get_it_returns_the_caller(api: Api) -> None:
    body = api.get("WhoAmI").json()
    assert set(body) >= {"UserId", "BusinessUnitId", "OrganizationId"}
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
    user = api.get(f"systemusers({body['UserId']})?$select=fullname")
    assert user.status_code == 200


def test_when_whoami_is_called_with_post_the_answer_is_404_no_http_resource(api: Api) -> None:
    response = api.post("WhoAmI", {})
    assert response.status_code == 404
    assert "No HTTP resource was found that matches the request URI" in error_of(response)["message"]


def test_when_a_message_is_not_emulated_the_answer_is_501_not_a_quiet_200(api: Api) -> None:
    response = api.post("BulkDelete", {})
    assert response.status_code == 501
    assert "not implemented" in error_of(response)["message"]
    lead = api.create("leads", {"lastname": "L"})
    response = api.post(f"leads({lead})/Microsoft.Dynamics.CRM.QualifyLead", {})
    assert response.status_code == 501
    assert set(error_of(response)) == {"code", "message"}
    assert api.get(f"leads({lead})?$select=statecode").json()["statecode"] == 0


def test_when_the_path_is_outside_the_odata_root_the_answer_is_404(api: Api) -> None:
    response = requests.get(f"{api.dv.root}/api/data/v9.1/leads", headers=api.dv.auth_headers, timeout=5)
    assert response.status_code == 404


def test_when_skip_is_used_the_answer_is_400_not_supported(api: Api) -> None:
    response = api.get("leads?$skip=10")
    assert response.status_code == 400
    assert "$skip" in error_of(response)["message"]


def test_when_fetchxml_is_sent_the_answer_is_501_not_all_rows(api: Api) -> None:
    assert api.get("leads?fetchXml=%3Cfetch%3E%3C/fetch%3E").status_code == 501
