"""The HTTP layer without I/O: parsing, problem mapping, the endpoint decorator."""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any, Literal

import azure.functions as func
import pytest
from pydantic import BaseModel, ConfigDict, Field

from shared.dynamics.errors import (
    DataverseAuthError,
    DataverseRequestError,
    DataverseThrottledError,
    DataverseUnavailableError,
    RecordNotFoundError,
)
from shared.http import (
    MAX_BODY_BYTES,
    ProblemError,
    endpoint,
    json_response,
    parse_body,
    parse_query,
    parse_request,
)
from shared.settings import SettingsError
from shared.store import (
    DocumentModified,
    IdempotencyConflict,
    IdempotencyInProgress,
    PersonBusy,
    StorageError,
    StorageUnavailableError,
)


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3)
    age: int | None = None


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person: Person
    subject: str = Field(min_length=1, max_length=10)
    mode: Literal["smart", "lead"] = "smart"
    tags: list[str] = []


def req(body: bytes | str | Any = b"", *, method: str = "POST", headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None) -> func.HttpRequest:
    raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return func.HttpRequest(method, "http://localhost/api/journey/x?code=secret-key", body=raw,
                            headers={"content-type": "application/json", **(headers or {})}, params=params or {})


def problem_of(call: Any) -> tuple[func.HttpResponse, dict[str, Any]]:
    @endpoint
    def main(req: func.HttpRequest) -> func.HttpResponse:
        return call(req)

    response = main(req({"person": {"email": "ada@example.com"}, "subject": "s"}))
    return response, json.loads(response.get_body())


# -- parsing ---------------------------------------------------------------------------------


def test_parse_body_returns_the_model() -> None:
    step = parse_body(req({"person": {"email": "ada@example.com"}, "subject": "Hi"}), Step)
    assert step.person.email == "ada@example.com"


def test_parse_request_also_returns_the_json_as_sent() -> None:
    _, data = parse_request(req({"subject": "Hi", "person": {"email": "ada@example.com"}}), Step)
    assert data == {"subject": "Hi", "person": {"email": "ada@example.com"}}


def test_every_bad_field_is_listed_with_its_location() -> None:
    body = {"person": {"email": 5, "age": "old", "extra": 1}, "subject": "", "mode": "other", "tags": ["a", 3]}
    with pytest.raises(ProblemError) as raised:
        parse_body(req(body), Step)
    problem = raised.value
    assert problem.status == 400
    locs = [tuple(error["loc"]) for error in problem.errors or []]
    assert sorted(locs, key=str) == sorted(
        [("person", "email"), ("person", "age"), ("person", "extra"), ("subject",), ("mode",), ("tags", 1)], key=str
    )
    assert all(isinstance(error["msg"], str) and error["msg"] for error in problem.errors or [])


def test_missing_fields_are_listed() -> None:
    with pytest.raises(ProblemError) as raised:
        parse_body(req({}), Step)
    assert {tuple(e["loc"]) for e in raised.value.errors or []} == {("person",), ("subject",)}
    assert all(e["msg"] == "Field required" for e in raised.value.errors or [])


def test_a_body_that_is_not_an_object_is_a_400_at_the_root() -> None:
    with pytest.raises(ProblemError) as raised:
        parse_body(req([1, 2]), Step)
    assert raised.value.status == 400
    assert raised.value.errors and raised.value.errors[0]["loc"] == []


def test_huge_input_values_are_never_echoed() -> None:
    huge = "z" * 50_000
    with pytest.raises(ProblemError) as raised:
        parse_body(req({"person": {"email": "ada@example.com"}, "subject": huge, huge: 1}), Step)
    text = json.dumps(raised.value.errors)
    assert huge not in text
    assert len(text) < 1_000


@pytest.mark.parametrize("body", [b'{"subject": ', b"{'a': 1}", b"NaN", b'{"a": NaN}', b"\xff\xfe", b"", b"   ",
                                  b"[" * 100_000])
def test_malformed_json_is_400_with_empty_errors(body: bytes) -> None:
    with pytest.raises(ProblemError) as raised:
        parse_body(req(body), Step)
    assert raised.value.status == 400
    assert raised.value.errors == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # Python's json module reads these; pydantic's parser refuses them: still unreadable JSON.
        (b'{"person": {"email": "a@example.com"}, "tags": [' + b"[" * 300 + b"]" * 300 + b"]}", "recursion"),
        (b'{"person": {"email": "a@example.com"}, "subject": "\\ud800"}', "escape"),
    ],
)
def test_json_only_python_can_read_is_400_malformed_with_empty_errors(body: bytes, reason: str) -> None:
    with pytest.raises(ProblemError) as raised:
        parse_body(req(body), Step)
    assert (raised.value.status, raised.value.title, raised.value.errors) == (400, "Malformed JSON", [])
    assert reason in raised.value.detail


def test_a_body_of_exactly_one_mib_is_read_and_one_more_byte_is_413() -> None:
    prefix, suffix = b'{"person": {"email": "ada@example.com"}, "subject": "s", "tags": ["', b'"]}'
    exact = prefix + b"x" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(exact) == MAX_BODY_BYTES
    assert parse_body(req(exact), Step).subject == "s"
    with pytest.raises(ProblemError) as raised:
        parse_body(req(exact + b" "), Step)
    assert raised.value.status == 413


def test_a_declared_length_over_the_limit_is_413() -> None:
    with pytest.raises(ProblemError) as raised:
        parse_body(req(b"{}", headers={"content-length": str(MAX_BODY_BYTES + 1)}), Step)
    assert raised.value.status == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/json; charset=latin-1"])
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(ProblemError) as raised:
        parse_body(req(b"{}", headers={"content-type": content_type}), Step)
    assert raised.value.status == 415


@pytest.mark.parametrize("content_type", ["", "application/json; charset=utf-8", "application/merge-patch+json",
                                          "Application/JSON"])
def test_json_content_types_and_none_are_accepted(content_type: str) -> None:
    body = {"person": {"email": "ada@example.com"}, "subject": "s"}
    assert parse_body(req(body, headers={"content-type": content_type}), Step).subject == "s"


def test_parse_query_prefixes_locations_with_query() -> None:
    class Page(BaseModel):
        top: int = Field(default=10, le=100)

    assert parse_query(req(params={"top": "5"}, method="GET"), Page).top == 5
    with pytest.raises(ProblemError) as raised:
        parse_query(req(params={"top": "500"}, method="GET"), Page)
    assert raised.value.errors and raised.value.errors[0]["loc"] == ["query", "top"]


# -- the endpoint decorator and the error mapping ---------------------------------------------


def test_endpoint_keeps_the_signature_the_worker_binds_by_name() -> None:
    @endpoint
    def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return json_response({})

    assert list(inspect.signature(main).parameters) == ["req", "context"]


def test_endpoint_finds_the_request_passed_by_keyword() -> None:
    @endpoint
    def main(req: func.HttpRequest) -> func.HttpResponse:
        return json_response({"ok": True}, status=201, headers={"ETag": '"1"'})

    response = main(req=req(b"{}", headers={"x-request-id": "from-caller"}))
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "from-caller"
    assert response.headers["ETag"] == '"1"'
    assert response.mimetype == "application/json"


def test_a_validation_problem_from_the_handler_is_400_problem_json() -> None:
    @endpoint
    def main(req: func.HttpRequest) -> func.HttpResponse:
        return json_response(parse_body(req, Step))

    response = main(req({"person": {}}))
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    problem = json.loads(response.get_body())
    assert set(problem) == {"type", "title", "status", "detail", "errors"}
    assert problem["status"] == 400
    assert {tuple(e["loc"]) for e in problem["errors"]} == {("person", "email"), ("subject",)}


def test_a_problem_error_with_a_code_carries_it() -> None:
    def handler(_: func.HttpRequest) -> func.HttpResponse:
        raise ProblemError(422, "Marketing list not found", "No list named 'Spring'.", code="listNotFound")

    response, problem = problem_of(handler)
    assert response.status_code == 422
    assert problem == {"type": "/problems/listNotFound", "title": "Marketing list not found", "status": 422,
                       "detail": "No list named 'Spring'.", "code": "listNotFound"}


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (DataverseThrottledError(429, "0x80072322", "Too many", retry_after=12.2), 503, "dynamicsThrottled", "13"),
        (DataverseUnavailableError(503, "", "down"), 503, "dynamicsUnavailable", "30"),
        (DataverseUnavailableError(0, "", "connection refused"), 503, "dynamicsUnavailable", "30"),
        (DataverseRequestError(400, "0x80048d19", "bad property"), 502, "dynamicsError", None),
        (DataverseAuthError(403, "0x80040220", "no privilege"), 502, "dynamicsError", None),
        (RecordNotFoundError(404, "0x80040217", "gone"), 502, "dynamicsError", None),
        (IdempotencyConflict("CreateUpdateLead"), 409, "idempotencyKeyReused", None),
        (IdempotencyInProgress("CreateUpdateLead", retry_after=4), 409, "idempotencyKeyInProgress", "4"),
        (PersonBusy(3), 409, "personBusy", "3"),
        (DocumentModified("changed"), 412, "documentModified", None),
        (StorageUnavailableError("down"), 503, "storageUnavailable", "5"),
    ],
)
def test_known_errors_map_to_their_status(error: Exception, status: int, code: str, retry_after: str | None) -> None:
    def handler(_: func.HttpRequest) -> func.HttpResponse:
        raise error

    response, problem = problem_of(handler)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert problem["status"] == status
    assert problem["code"] == code
    assert response.headers.get("Retry-After") == retry_after
    assert response.headers["x-request-id"]


def test_a_dataverse_refusal_names_its_code_but_not_its_message() -> None:
    def handler(_: func.HttpRequest) -> func.HttpResponse:
        raise DataverseRequestError(400, "0x80048d19", "Invalid property 'x' for ada@example.com")

    _, problem = problem_of(handler)
    assert "0x80048d19" in problem["detail"]
    assert "ada@example.com" not in json.dumps(problem)


def test_a_bug_is_500_logged_with_traceback_and_answered_without_it(caplog: pytest.LogCaptureFixture) -> None:
    def handler(_: func.HttpRequest) -> func.HttpResponse:
        raise KeyError("secret-internal-detail")

    with caplog.at_level(logging.ERROR):
        response, problem = problem_of(handler)
    assert response.status_code == 500
    assert "secret-internal-detail" not in response.get_body().decode()
    assert "Traceback" not in response.get_body().decode()
    assert set(problem) == {"type", "title", "status", "detail"}
    assert any(record.exc_text and "secret-internal-detail" in record.exc_text for record in caplog.records)
    assert any(response.headers["x-request-id"] in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("error", [SettingsError(["DYNAMICS_URL is required but not set"]), StorageError("refused")])
def test_configuration_and_storage_refusals_are_500_without_details(error: Exception) -> None:
    def handler(_: func.HttpRequest) -> func.HttpResponse:
        raise error

    response, problem = problem_of(handler)
    assert response.status_code == 500
    assert "DYNAMICS_URL" not in problem["detail"]


def test_a_handler_that_returns_no_response_is_a_500_problem_not_a_crash() -> None:
    @endpoint
    def main(req: func.HttpRequest) -> func.HttpResponse:
        return None  # type: ignore[return-value]

    response = main(req(b"{}"))
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert response.headers["x-request-id"]


def test_the_access_log_line_never_holds_the_function_key(caplog: pytest.LogCaptureFixture) -> None:
    @endpoint
    def main(req: func.HttpRequest) -> func.HttpResponse:
        return json_response({})

    with caplog.at_level(logging.INFO, logger="shared.http"):
        main(req(b"{}"))
    assert caplog.records
    assert "secret-key" not in caplog.text
    assert "/api/journey/x" in caplog.text


def test_json_response_writes_models_with_aliases() -> None:
    class Out(BaseModel):
        model_config = ConfigDict(populate_by_name=True)
        record_id: str = Field(alias="recordId")

    response = json_response(Out(recordId="x"))
    assert json.loads(response.get_body()) == {"recordId": "x"}
