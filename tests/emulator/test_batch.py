"""$batch: multipart parsing, change sets, Content-ID references, errors (reference 8.1, 8.2)."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from .conftest import Api


def part(method: str, url: str, body: Any = None, content_id: str | None = None,
         headers: dict[str, str] | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines.append("Content-Type: application/json; type=entry")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append("")
    lines.append(json.dumps(body) if body is not None else "")
    return "\r\n".join(lines)


def change_set(boundary: str, parts: list[str]) -> str:
    inner = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}"


def batch(api: Api, items: list[str], prefer: str | None = None) -> requests.Response:
    body = "".join(f"--batch_A1\r\n{item}\r\n" for item in items) + "--batch_A1--\r\n"
    headers = {"Content-Type": 'multipart/mixed; boundary="batch_A1"'}
    if prefer:
        headers["Prefer"] = prefer
    return api.post("$batch", data=body.encode("utf-8"), headers=headers)


def responses(response: requests.Response) -> list[tuple[int, dict[str, str], str]]:
    """Every inner HTTP response in order, change sets flattened."""
    found = []
    for match in re.finditer(r"HTTP/1\.1 (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*?)\r\n--", response.text, re.S):
        headers = dict(line.split(": ", 1) for line in match.group(2).split("\r\n") if ": " in line)
        found.append((int(match.group(1)), headers, match.group(3)))
    return found


def test_when_a_change_set_creates_rows_each_part_has_location_and_entity_id(api: Api) -> None:
    response = batch(api, [change_set("changeset_C1", [
        part("POST", "/api/data/v9.2/contacts", {"lastname": "Lovelace"}, "1"),
        part("POST", f"{api.base}tasks", {"subject": "Call", "regardingobjectid_contact_task@odata.bind": "$1"}, "2"),
    ])])
    assert response.status_code == 200
    assert re.match(r"multipart/mixed; boundary=batchresponse_[0-9a-f-]{36}$", response.headers["Content-Type"])
    assert "boundary=changesetresponse_" in response.text
    parts = responses(response)
    assert [p[0] for p in parts] == [204, 204]
    for _, headers, _ in parts:
        assert headers["Location"] == headers["OData-EntityId"]
    assert "Content-ID: 1" in response.text and "Content-ID: 2" in response.text
    contact = parts[0][1]["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    task = api.get("tasks?$select=_regardingobjectid_value").json()["value"][0]
    assert task["_regardingobjectid_value"] == contact


def test_when_a_content_id_is_used_in_the_request_line_it_resolves(api: Api) -> None:
    response = batch(api, [change_set("cs", [
        part("POST", "contacts", {"lastname": "First"}, "1"),
        part("PATCH", "$1", {"jobtitle": "CTO"}, "2"),
        part("PUT", "$1/firstname", {"value": "Ada"}, "3"),
    ])])
    assert [p[0] for p in responses(response)] == [204, 204, 204]
    row = api.get("contacts?$select=jobtitle,firstname").json()["value"][0]
    assert (row["jobtitle"], row["firstname"]) == ("CTO", "Ada")


def test_when_a_change_set_part_fails_the_whole_change_set_rolls_back(api: Api) -> None:
    contact_list = api.create("lists", {"listname": "L", "createdfromcode": 2})
    existing = api.create("contacts", {"lastname": "Existing"})
    response = batch(api, [change_set("cs", [
        part("POST", "contacts", {"lastname": "Kept?"}, "1"),
        part("POST", f"lists({contact_list})/Microsoft.Dynamics.CRM.AddMemberList", {"EntityId": existing}, "2"),
        part("PATCH", f"contacts({existing})", {"lastname": "Renamed"}, "3"),
        part("POST", "contacts", {"lastname": "Bad", "nosuchcolumn": 1}, "4"),
    ])])
    assert response.status_code == 400
    assert [p[0] for p in responses(response)] == [400]
    assert [c["lastname"] for c in api.get("contacts").json()["value"]] == ["Existing"]
    assert api.get(f"lists({contact_list})?$select=membercount").json()["membercount"] == 0


def test_when_a_change_set_adds_members_the_effects_roll_back_too(api: Api) -> None:
    contact_list = api.create("lists", {"listname": "L", "createdfromcode": 2})
    contact = api.create("contacts", {"lastname": "C"})
    response = batch(api, [change_set("cs", [
        part("POST", f"lists({contact_list})/Microsoft.Dynamics.CRM.AddMemberList", {"EntityId": contact}, "1"),
        part("DELETE", "contacts(00000000-0000-0000-0000-000000000009)", None, "2"),
    ])])
    assert response.status_code == 404
    assert api.get("listmembers").json()["value"] == []
    assert api.get(f"lists({contact_list})?$select=membercount").json()["membercount"] == 0


def test_when_an_error_occurs_processing_stops_unless_continue_on_error(api: Api) -> None:
    items = [part("GET", "contacts?$select=lastname"), part("GET", "nosuchset"), part("POST", "contacts", {"lastname": "after"})]
    stopped = batch(api, items)
    assert stopped.status_code == 404
    assert [p[0] for p in responses(stopped)] == [200, 404]
    assert api.get("contacts").json()["value"] == []
    going = batch(api, items, prefer="odata.continue-on-error")
    assert going.status_code == 200
    assert going.headers["Preference-Applied"] == "odata.continue-on-error"
    assert [p[0] for p in responses(going)] == [200, 404, 204]


def test_when_get_parts_run_they_return_json_bodies(api: Api) -> None:
    api.create("contacts", {"lastname": "Lovelace"})
    parsed = responses(batch(api, [part("GET", f"{api.base}contacts?$select=lastname&$top=1")]))
    status, headers, body = parsed[0]
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["value"][0]["lastname"] == "Lovelace"


def test_when_a_get_is_inside_a_change_set_the_batch_is_refused(api: Api) -> None:
    response = batch(api, [change_set("cs", [part("GET", "contacts")])])
    assert response.status_code == 400


def test_when_the_body_uses_lf_only_the_answer_is_400_stream_not_readable(api: Api) -> None:
    body = "--b\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\nGET contacts HTTP/1.1\n\n\n--b--\n"
    response = api.post("$batch", data=body, headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "0x80048d19", "message": "Stream was not readable."}


def test_when_a_batch_holds_more_than_1000_requests_it_is_refused(api: Api) -> None:
    assert batch(api, [part("GET", "WhoAmI")] * 1001).status_code == 400
    assert batch(api, [part("GET", "WhoAmI")] * 1000).status_code == 200


def test_when_a_content_id_is_unknown_the_part_fails(api: Api) -> None:
    response = batch(api, [change_set("cs", [part("PATCH", "$7", {"lastname": "x"}, "1")])])
    assert response.status_code == 400
    assert "Content-ID Reference: '$7' does not exist in the batch context." in response.text


def test_when_content_ids_cross_change_sets_they_do_not_resolve(api: Api) -> None:
    response = batch(api, [
        change_set("cs1", [part("POST", "contacts", {"lastname": "A"}, "1")]),
        change_set("cs2", [part("PATCH", "$1", {"jobtitle": "x"}, "2")]),
    ])
    assert response.status_code == 400
    assert len(api.get("contacts").json()["value"]) == 1


def test_when_a_batch_runs_it_counts_as_one_request_with_many_operations(api: Api) -> None:
    batch(api, [change_set("cs", [part("POST", "contacts", {"lastname": str(i)}, str(i)) for i in range(3)]),
                part("GET", "contacts")])
    stats = api.dv.stats()
    assert stats["byPath"]["$batch"] == 1
    assert stats["batchOperations"] == 4


def test_when_a_part_prefers_representation_it_gets_201_with_a_body(api: Api) -> None:
    response = batch(api, [change_set("cs", [part("POST", "contacts?$select=lastname", {"lastname": "R"}, "1",
                                                  headers={"Prefer": "return=representation"})])])
    status, _, body = responses(response)[0]
    assert status == 201 and json.loads(body)["lastname"] == "R"
