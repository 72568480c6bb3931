"""`$batch` bodies and responses, built and parsed without I/O."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from shared.dynamics import (
    BatchRequest,
    ChangeSet,
    Query,
    RecordExistsError,
    build_batch,
    parse_batch_response,
)
from shared.dynamics import Filter as F
from shared.dynamics.batch import BatchItem, count_operations, split_batches
from shared.dynamics.errors import DataverseRequestError

API = "https://contoso.crm.dynamics.com/api/data/v9.2/"
CONTACT = "8f1b6f2e-4c1a-4c8e-9d3a-2b7c5e6f7a81"
TASK = "4d2a7c1b-9e3f-4a6b-8c5d-1e2f3a4b5c6d"


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def test_when_a_batch_is_built_lines_end_in_crlf_and_parts_are_well_formed() -> None:
    items: list[BatchItem] = [
        ChangeSet(
            [
                BatchRequest.create("contacts", {"lastname": "Lovelace"}),
                BatchRequest.create("tasks", {"subject": "Call", "regardingobjectid_contact_task@odata.bind": "$1"}),
            ]
        ),
        BatchRequest.get("contacts", Query(select=["fullname"], filter=F.eq("lastname", "O'Brien+1"), top=1)),
    ]
    content_type, body = build_batch(items, API, boundary="batch_A1")
    assert content_type == "multipart/mixed; boundary=batch_A1"
    text = body.decode("utf-8")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert text.endswith("--batch_A1--\r\n")
    changeset = re.search(r"boundary=(changeset_[0-9a-f-]+)", text)
    assert changeset is not None
    inner = changeset.group(1)
    expected_start = (
        "--batch_A1\r\n"
        f"Content-Type: multipart/mixed; boundary={inner}\r\n"
        "\r\n"
        f"--{inner}\r\n"
        "Content-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "Content-ID: 1\r\n"
        "\r\n"
        f"POST {API}contacts HTTP/1.1\r\n"
        "Content-Type: application/json; type=entry\r\n"
        "\r\n"
        '{"lastname":"Lovelace"}\r\n'
        f"--{inner}\r\n"
    )
    assert text.startswith(expected_start)
    assert "Content-ID: 2\r\n" in text
    assert '"regardingobjectid_contact_task@odata.bind":"$1"' in text
    assert f"--{inner}--\r\n" in text
    get_part = text.split("--batch_A1")[2]
    assert get_part == (
        "\r\n"
        "Content-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "\r\n"
        f"GET {API}contacts?$select=fullname&$filter=lastname%20eq%20'O''Brien%2B1'&$top=1 HTTP/1.1\r\n"
        "\r\n"
        "\r\n"
    )


def test_when_a_change_set_part_refers_to_an_earlier_one_the_request_line_keeps_the_reference() -> None:
    items = [ChangeSet([BatchRequest.create("contacts", {"lastname": "A"}, content_id="5"),
                        BatchRequest("PATCH", "$5", {"firstname": "B"})])]
    text = build_batch(items, API, boundary="b")[1].decode()
    assert "Content-ID: 5\r\n" in text and "Content-ID: 1\r\n" in text
    assert "PATCH $5 HTTP/1.1\r\n" in text


def test_when_headers_are_given_they_go_inside_the_part() -> None:
    request = BatchRequest.update("leads", CONTACT, {"jobtitle": "CTO"}, etag='W/"7"')
    text = build_batch([ChangeSet([request])], API, boundary="b")[1].decode()
    assert f"PATCH {API}leads({CONTACT}) HTTP/1.1\r\nIf-Match: W/\"7\"\r\n" in text


@pytest.mark.parametrize(
    "make",
    [
        lambda: ChangeSet([BatchRequest.get("leads")]),
        lambda: ChangeSet([]),
        lambda: BatchRequest("GET", "leads HTTP/1.1\r\nX: y"),
        lambda: BatchRequest("GET", "/leads"),
        lambda: BatchRequest("TRACE", "leads"),
        lambda: BatchRequest("GET", "leads", headers={"X": "a\r\nEvil: 1"}),
        lambda: BatchRequest("POST", "leads", {}, content_id="a"),
    ],
)
def test_when_a_batch_item_is_malformed_it_is_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


def test_when_there_are_more_than_1000_operations_batches_are_split_without_cutting_change_sets() -> None:
    gets = [BatchRequest.get("leads") for _ in range(995)]
    changeset = ChangeSet([BatchRequest.create("leads", {"subject": str(i)}) for i in range(10)])
    more = [BatchRequest.get("contacts") for _ in range(1000)]
    chunks = split_batches([*gets, changeset, *more])
    assert [count_operations(c) for c in chunks] == [995, 1000, 10]
    assert chunks[1][0] is changeset
    with pytest.raises(ValueError):
        split_batches([ChangeSet([BatchRequest.create("leads", {}) for _ in range(1001)])])
    with pytest.raises(ValueError):
        build_batch([BatchRequest.get("leads") for _ in range(1001)], API)


RESPONSE = crlf(f"""--batchresponse_c1a2
Content-Type: multipart/mixed; boundary=changesetresponse_d3e4

--changesetresponse_d3e4
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: {API}contacts({CONTACT})
OData-EntityId: {API}contacts({CONTACT})


--changesetresponse_d3e4
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: {API}tasks({TASK})
OData-EntityId: {API}tasks({TASK})


--changesetresponse_d3e4--
--batchresponse_c1a2
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 200 OK
Content-Type: application/json; odata.metadata=minimal; odata.streaming=true
OData-Version: 4.0

{{"@odata.context":"{API}$metadata#contacts(fullname)","value":[{{"@odata.etag":"W/\\"101\\"","fullname":"Ada Lovelace","contactid":"{CONTACT}"}}]}}
--batchresponse_c1a2--
""")


def test_when_a_response_is_parsed_each_operation_gets_status_headers_body_and_content_id() -> None:
    responses = parse_batch_response("multipart/mixed; boundary=batchresponse_c1a2", RESPONSE.encode())
    assert [r.status for r in responses] == [204, 204, 200]
    assert [r.content_id for r in responses] == ["1", "2", None]
    assert responses[0].entity_id == CONTACT
    assert responses[1].entity_id == TASK
    assert responses[1].header("OData-EntityId") == f"{API}tasks({TASK})"
    assert responses[0].body is None
    assert responses[2].body["value"][0]["fullname"] == "Ada Lovelace"
    assert all(r.ok and r.error() is None for r in responses)


ERROR_RESPONSE = crlf("""--batchresponse_9f
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 200 OK
Content-Type: application/json; odata.metadata=minimal
OData-Version: 4.0

{"value":[]}
--batchresponse_9f
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 400 Bad Request
REQ_ID: 5ed8bd4c-0000-0000-0000-000000000000
Content-Type: application/json; odata.metadata=minimal
OData-Version: 4.0

{"error":{"code":"0x80044331","message":"A validation error occurred. The length of the 'subject' attribute of the 'task' entity exceeded the maximum allowed length of '200'."}}
--batchresponse_9f--
""")


def test_when_a_part_failed_its_typed_error_is_available_on_demand() -> None:
    responses = parse_batch_response('multipart/mixed; boundary="batchresponse_9f"', ERROR_RESPONSE)
    assert [r.status for r in responses] == [200, 400]
    error = responses[1].error()
    assert isinstance(error, DataverseRequestError)
    assert error.code == "0x80044331" and error.status == 400
    with pytest.raises(DataverseRequestError):
        responses[1].raise_for_error()
    responses[0].raise_for_error()


def test_when_a_duplicate_part_fails_it_is_a_record_exists_error() -> None:
    text = crlf("""--b
Content-Type: application/http

HTTP/1.1 412 Precondition Failed
Content-Type: application/json

{"error":{"code":"0x80040237","message":"A record with matching key values already exists."}}
--b--
""")
    (response,) = parse_batch_response("multipart/mixed; boundary=b", text)
    assert isinstance(response.error(), RecordExistsError)


def test_when_a_response_uses_bare_lf_it_is_still_read() -> None:
    responses = parse_batch_response("multipart/mixed; boundary=batchresponse_c1a2", RESPONSE.replace("\r\n", "\n"))
    assert [r.status for r in responses] == [204, 204, 200]
    assert responses[2].body["value"][0]["contactid"] == CONTACT


def test_when_the_content_type_has_no_boundary_the_response_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_batch_response("multipart/mixed", RESPONSE)
