"""`$batch`: multipart/mixed requests with change sets, Content-ID references and atomic rollback."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus

from ..context import Context
from ..errors import ODataError, bad_request, payload_error
from ..protocol import Headers, Request, Response, error_response
from ..references import strip_service_root

MAX_PARTS = 1000
# Headers of the $batch request that also apply to every part not setting its own.
_INHERITED = ("CallerObjectId", "MSCRMCallerID", "MSCRM.SuppressDuplicateDetection")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


@dataclass
class Part:
    method: str
    target: str
    headers: Headers
    body: bytes
    content_id: str | None


@dataclass
class ChangeSet:
    parts: list[Part] = field(default_factory=list)


class _ChangeSetFailed(Exception):
    def __init__(self, response: Response, content_id: str | None) -> None:
        super().__init__("change set failed")
        self.response = response
        self.content_id = content_id


def _boundary(content_type: str | None) -> str:
    match = _BOUNDARY.search(content_type or "")
    if not content_type or not content_type.lower().startswith("multipart/mixed") or not match:
        raise bad_request("The content type of a $batch request must be multipart/mixed with a boundary.",
                          "0x80048d19")
    return match.group(1)


def _split(text: str, boundary: str) -> list[str]:
    delimiter = f"--{boundary}"
    if f"{delimiter}\r\n" not in text:
        raise payload_error("Stream was not readable.")
    chunks = text.split(delimiter)
    parts: list[str] = []
    for chunk in chunks[1:]:
        if chunk.startswith("--"):
            break
        if chunk.startswith("\r\n"):
            chunk = chunk[2:]
        if chunk.endswith("\r\n"):
            chunk = chunk[:-2]
        parts.append(chunk)
    return parts


def _headers_and_body(text: str) -> tuple[Headers, str]:
    head, sep, body = text.partition("\r\n\r\n")
    if not sep:
        head, body = text, ""
    headers: list[tuple[str, str]] = []
    for line in head.split("\r\n"):
        if ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return Headers(headers), body


def _parse_http(text: str, content_id: str | None) -> Part:
    head, _sep, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    request_line = lines[0].split(" ")
    if len(request_line) < 2:
        raise payload_error("Stream was not readable.")
    if len(request_line) > 2 and request_line[-1].upper().startswith("HTTP/"):
        request_line = [request_line[0], "%20".join(request_line[1:-1])]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    if body.endswith("\r\n"):
        body = body[:-2]
    return Part(request_line[0].upper(), request_line[1], Headers(headers), body.encode("utf-8"), content_id)


def parse_batch(text: str, boundary: str) -> list[Part | ChangeSet]:
    items: list[Part | ChangeSet] = []
    count = 0
    for chunk in _split(text, boundary):
        headers, body = _headers_and_body(chunk)
        content_type = headers.get("Content-Type") or ""
        if content_type.lower().startswith("multipart/mixed"):
            change_set = ChangeSet()
            for inner in _split(body, _boundary(content_type)):
                inner_headers, inner_body = _headers_and_body(inner)
                part = _parse_http(inner_body, inner_headers.get("Content-ID"))
                if part.method == "GET":
                    raise bad_request("GET requests are not allowed inside a change set.", "0x80060888")
                change_set.parts.append(part)
            count += len(change_set.parts)
            items.append(change_set)
        else:
            items.append(_parse_http(body, headers.get("Content-ID")))
            count += 1
    if count > MAX_PARTS:
        raise bad_request(f"The number of requests in a batch exceeded the limit of {MAX_PARTS}.", "0x80060888")
    return items


def handle_batch(ctx: Context) -> Response:
    text = ctx.request.body.decode("utf-8")
    boundary = _boundary(ctx.request.headers.get("Content-Type"))
    items = parse_batch(text, boundary)
    continue_on_error = "odata.continue-on-error" in ctx.prefer
    if continue_on_error:
        ctx.applied.append("odata.continue-on-error")
    out_boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[str] = []
    outer_status = 200
    operations = 0
    for item in items:
        if isinstance(item, ChangeSet):
            operations += len(item.parts)
            try:
                responses = _run_change_set(ctx, item)
            except _ChangeSetFailed as failed:
                chunks.append(_render_part(failed.response, failed.content_id))
                if not continue_on_error:
                    outer_status = failed.response.status
                    break
                continue
            cs_boundary = f"changesetresponse_{uuid.uuid4()}"
            inner = "".join(f"--{cs_boundary}\r\n{_render_part(r, cid)}" for r, cid in responses)
            chunks.append(f"Content-Type: multipart/mixed; boundary={cs_boundary}\r\n\r\n{inner}--{cs_boundary}--\r\n")
        else:
            operations += 1
            response = _execute(ctx, item, {}, in_change_set=False)
            chunks.append(_render_part(response, item.content_id))
            if response.status >= 400 and not continue_on_error:
                outer_status = response.status
                break
    ctx.operations = max(1, operations)
    body = "".join(f"--{out_boundary}\r\n{chunk}" for chunk in chunks) + f"--{out_boundary}--\r\n"
    headers = [("Content-Type", f"multipart/mixed; boundary={out_boundary}"), ("OData-Version", "4.0"),
               *ctx.applied_header()]
    return Response(outer_status, headers, body.encode("utf-8"))


def _run_change_set(ctx: Context, change_set: ChangeSet) -> list[tuple[Response, str | None]]:
    content_ids: dict[str, str] = {}
    responses: list[tuple[Response, str | None]] = []
    with ctx.store.transaction():  # a failed part rolls the whole change set back
        for part in change_set.parts:
            response = _execute(ctx, part, content_ids, in_change_set=True)
            if response.status >= 400:
                raise _ChangeSetFailed(response, part.content_id)
            url = response.entity_url or response.header("OData-EntityId")
            if part.content_id and url:
                content_ids[part.content_id] = url
            responses.append((response, part.content_id))
    return responses


def _execute(ctx: Context, part: Part, content_ids: dict[str, str], *, in_change_set: bool) -> Response:
    try:
        target = strip_service_root(part.target, content_ids)
    except ODataError as error:
        return error_response(error)
    inherited = [(name, value) for name in _INHERITED
                 if part.headers.get(name) is None and (value := ctx.request.headers.get(name)) is not None]
    headers = Headers([*part.headers.items(), *inherited])
    request = Request(part.method, target, headers, part.body, ctx.root, ctx.request.user, content_ids,
                      in_change_set)
    return ctx.app.execute(request)


def _render_part(response: Response, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else ""
    lines += ["", f"HTTP/1.1 {response.status} {reason}"]
    headers = list(response.headers)
    entity_id = response.header("OData-EntityId")
    if entity_id and response.header("Location") is None and response.status in (201, 204):
        headers.append(("Location", entity_id))
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append("")
    return "\r\n".join(lines) + "\r\n" + response.body.decode("utf-8") + "\r\n"
