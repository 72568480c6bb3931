"""`$batch`: building the multipart/mixed request body and parsing the multipart response.

Pure functions, no I/O. A batch holds `BatchRequest`s and `ChangeSet`s (atomic groups of writes
whose parts may refer to each other's created rows as `$<content id>`). Lines end in CRLF, as
Dataverse requires. The response comes back as one `BatchResponse` per operation, in order;
a failed part turns into its typed error on demand (`error()` / `raise_for_error()`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DataverseError, error_from_parts
from .query import Literal, Query, entity_path, guid, id_from_entity_url, qualified_name
from .retry import parse_retry_after
from .tables import primary_key
from .transport import json_body

CRLF = "\r\n"
MAX_BATCH_OPERATIONS = 1000
CRM_NAMESPACE = "Microsoft.Dynamics.CRM."

_CONTENT_REF = re.compile(r"^\$[0-9]+(/|$)")
_STATUS_LINE = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s+(.*))?$")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)

Key = str | uuid.UUID | Mapping[str, Literal]


@dataclass(frozen=True)
class BatchRequest:
    """One operation inside a `$batch`.

    `path` is relative to the API root (`leads`, `leads(<id>)`, `lists(<id>)/Microsoft.Dynamics.CRM.AddMemberList`)
    with any query string already encoded, or a `$n` reference to a row created earlier in the
    same change set (`$1`, `$1/lastname`).
    """

    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_id: str | None = None
    # Resending after an unclear failure cannot apply it twice (see `retry`); GETs always are.
    safe_to_resend: bool = False

    def __post_init__(self) -> None:
        method = self.method.upper()
        if method not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            raise ValueError(f"unsupported batch method {self.method!r}")
        object.__setattr__(self, "method", method)
        if any(c in self.path for c in " \r\n") or self.path.startswith("/"):
            raise ValueError("a batch path is relative to the API root and has no spaces or line breaks")
        for name, value in self.headers.items():
            if any(c in f"{name}{value}" for c in "\r\n"):
                raise ValueError("batch headers must not contain line breaks")
        if self.content_id is not None and not re.fullmatch(r"[0-9]+", self.content_id):
            raise ValueError("a Content-ID is a number (it is referenced as $n)")

    @property
    def idempotent(self) -> bool:
        return self.method == "GET" or self.safe_to_resend

    @classmethod
    def get(cls, entity_set: str, query: Query | None = None, **kwargs: Any) -> BatchRequest:
        qs = query.to_query_string() if query is not None else ""
        return cls("GET", entity_path(entity_set) + (f"?{qs}" if qs else ""), **kwargs)

    @classmethod
    def create(
        cls, entity_set: str, data: Mapping[str, Any], *, record_id: str | uuid.UUID | None = None, **kwargs: Any
    ) -> BatchRequest:
        """A create; with `record_id` the row gets that primary key, and resending is safe
        (a resend meeting "exists" means the first one landed)."""
        body = dict(data)
        if record_id is not None:
            body[primary_key(entity_set)] = guid(record_id)
            kwargs.setdefault("safe_to_resend", True)
        return cls("POST", entity_path(entity_set), body, **kwargs)

    @classmethod
    def update(
        cls, entity_set: str, key: Key, data: Mapping[str, Any], *, etag: str | None = None, **kwargs: Any
    ) -> BatchRequest:
        headers = {"If-Match": etag or "*", **kwargs.pop("headers", {})}
        kwargs.setdefault("safe_to_resend", True)  # a PATCH with If-Match converges on the same row
        return cls("PATCH", entity_path(entity_set, key), dict(data), headers=headers, **kwargs)

    @classmethod
    def action(
        cls, name: str, body: Mapping[str, Any] | None = None, *, entity_set: str, record_id: Key,
        idempotent: bool = False, **kwargs: Any,
    ) -> BatchRequest:
        """A bound action (`lists(<id>)/Microsoft.Dynamics.CRM.AddMemberList`); `idempotent` when
        Dataverse applies it once however often it is sent."""
        qualified_name(name)
        bound = name if "." in name else CRM_NAMESPACE + name
        return cls("POST", f"{entity_path(entity_set, record_id)}/{bound}", dict(body or {}),
                   safe_to_resend=idempotent, **kwargs)

    @classmethod
    def delete(cls, entity_set: str, key: Key, *, etag: str | None = None, **kwargs: Any) -> BatchRequest:
        headers = {"If-Match": etag} if etag else {}
        return cls("DELETE", entity_path(entity_set, key), headers=headers, **kwargs)


@dataclass(frozen=True)
class ChangeSet:
    """Writes applied as one transaction: any failure rolls back all of them."""

    requests: Sequence[BatchRequest]

    def __post_init__(self) -> None:
        object.__setattr__(self, "requests", tuple(self.requests))
        if not self.requests:
            raise ValueError("a change set needs at least one request")
        for request in self.requests:
            if request.method == "GET":
                raise ValueError("GET is not allowed inside a change set")

    def __len__(self) -> int:
        return len(self.requests)


BatchItem = BatchRequest | ChangeSet


@dataclass(frozen=True)
class BatchResponse:
    """The response to one batch operation."""

    status: int
    headers: Mapping[str, str]
    body: Any
    content_id: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 or self.status == 304

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def entity_id(self) -> str | None:
        """The GUID of the row a create/upsert part addressed (from `OData-EntityId`/`Location`)."""
        return id_from_entity_url(self.headers.get("odata-entityid")) or id_from_entity_url(
            self.headers.get("location"))

    def error(self) -> DataverseError | None:
        """The typed error for a failed part, None for a successful one."""
        if self.ok:
            return None
        return error_from_parts(
            self.status,
            self.body,
            retry_after=parse_retry_after(self.header("Retry-After")),
            response=self,
        )

    def raise_for_error(self) -> None:
        error = self.error()
        if error is not None:
            raise error


@dataclass(frozen=True)
class ChangeSetOutcome:
    """What became of one change set sent with `odata.continue-on-error`: every part's response
    (`ok`), or the one failed part's response (the whole change set was rolled back)."""

    responses: Sequence[BatchResponse]
    failure: BatchResponse | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def outcomes_of(change_sets: Sequence[ChangeSet], responses: Sequence[BatchResponse]) -> list[ChangeSetOutcome]:
    """Match a continue-on-error batch response to its change sets, in order: a change set that
    succeeded answers one response per part, a failed one a single error response."""
    outcomes: list[ChangeSetOutcome] = []
    position = 0
    for change_set in change_sets:
        if position >= len(responses):
            missing = BatchResponse(0, {}, None, reason="Dataverse gave no answer for this change set")
            outcomes.append(ChangeSetOutcome((), missing))
            continue
        first = responses[position]
        if not first.ok:
            outcomes.append(ChangeSetOutcome((), first))
            position += 1
            continue
        answered = list(responses[position : position + len(change_set)])
        position += len(answered)
        failed = next((r for r in answered if not r.ok), None)
        if failed is None and len(answered) < len(change_set):
            failed = BatchResponse(0, {}, None, reason="Dataverse answered only part of this change set")
        outcomes.append(ChangeSetOutcome(answered if failed is None else (), failed))
    return outcomes


def count_operations(items: Iterable[BatchItem]) -> int:
    return sum(len(item) if isinstance(item, ChangeSet) else 1 for item in items)


def split_batches(items: Sequence[BatchItem], limit: int = MAX_BATCH_OPERATIONS) -> list[list[BatchItem]]:
    """Cut `items` into batches of at most `limit` operations; a change set is never split."""
    chunks: list[list[BatchItem]] = []
    current: list[BatchItem] = []
    size = 0
    for item in items:
        n = len(item) if isinstance(item, ChangeSet) else 1
        if n > limit:
            raise ValueError(f"a change set of {n} operations exceeds the {limit}-operation batch limit")
        if current and size + n > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += n
    if current:
        chunks.append(current)
    return chunks


def _request_part(request: BatchRequest, api_root: str, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    target = request.path if _CONTENT_REF.match(request.path) else api_root + request.path
    lines += ["", f"{request.method} {target} HTTP/1.1"]
    headers = dict(request.headers)
    payload = ""
    if request.body is not None:
        headers.setdefault("Content-Type", "application/json; type=entry")
        payload = json_body(request.body).decode("utf-8")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["", payload]
    return CRLF.join(lines)


def build_batch(items: Sequence[BatchItem], api_root: str, *, boundary: str | None = None) -> tuple[str, bytes]:
    """(Content-Type header, body) of a `$batch` request; `api_root` ends with `/api/data/v9.2/`.

    Parts of a change set get a Content-ID (given, or the next free number).
    """
    if not items:
        raise ValueError("a batch needs at least one operation")
    if count_operations(items) > MAX_BATCH_OPERATIONS:
        raise ValueError(f"a batch holds at most {MAX_BATCH_OPERATIONS} operations; use split_batches")
    boundary = boundary or f"batch_{uuid.uuid4()}"
    used = {r.content_id for item in items for r in _requests_of(item) if r.content_id is not None}
    next_id = 1

    def fresh_id() -> str:
        nonlocal next_id
        while str(next_id) in used:
            next_id += 1
        used.add(str(next_id))
        return str(next_id)

    out: list[str] = []
    for item in items:
        if isinstance(item, ChangeSet):
            inner = f"changeset_{uuid.uuid4()}"
            out.append(f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary={inner}{CRLF}{CRLF}")
            for request in item.requests:
                cid = request.content_id or fresh_id()
                out.append(f"--{inner}{CRLF}{_request_part(request, api_root, cid)}{CRLF}")
            out.append(f"--{inner}--{CRLF}{CRLF}")
        else:
            out.append(f"--{boundary}{CRLF}{_request_part(item, api_root, item.content_id)}{CRLF}")
    out.append(f"--{boundary}--{CRLF}")
    return f"multipart/mixed; boundary={boundary}", "".join(out).encode("utf-8")


def _requests_of(item: BatchItem) -> Sequence[BatchRequest]:
    return item.requests if isinstance(item, ChangeSet) else (item,)


def boundary_of(content_type: str) -> str:
    match = _BOUNDARY.search(content_type or "")
    if not match:
        raise ValueError("multipart response without a boundary")
    return match.group(1).strip()


def _split_multipart(text: str, boundary: str) -> list[str]:
    delimiter = "--" + boundary
    parts: list[str] = []
    segments = text.split(delimiter)
    for segment in segments[1:]:
        if segment.startswith("--"):
            break
        # The rest of the delimiter line (transport padding) and its line break.
        _, _, content = segment.partition("\n")
        # The line break before the next delimiter belongs to that delimiter.
        if content.endswith("\r\n"):
            content = content[:-2]
        elif content.endswith("\n"):
            content = content[:-1]
        parts.append(content)
    return parts


def _split_head(text: str) -> tuple[dict[str, str], str]:
    """Headers (lowercase names) and the rest, split at the first blank line."""
    match = re.search(r"\r?\n\r?\n", text)
    if match is None:
        head, rest = text, ""
    else:
        head, rest = text[: match.start()], text[match.end() :]
    headers: dict[str, str] = {}
    for line in re.split(r"\r?\n", head):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _parse_http_response(text: str, content_id: str | None) -> BatchResponse:
    text = text.lstrip("\r\n")
    first, _, rest = text.partition("\n")
    match = _STATUS_LINE.match(first.strip())
    if match is None:
        raise ValueError(f"batch part without an HTTP status line: {first.strip()[:80]!r}")
    headers, payload = _split_head(rest)
    payload = payload.strip()
    body: Any = None
    if payload:
        try:
            body = json.loads(payload)
        except ValueError:
            body = payload
    return BatchResponse(
        status=int(match.group(1)),
        headers=headers,
        body=body,
        content_id=content_id or headers.get("content-id"),
        reason=(match.group(2) or "").strip(),
    )


def parse_batch_response(content_type: str, body: bytes | str) -> list[BatchResponse]:
    """One `BatchResponse` per operation present in a multipart `$batch` response, in order."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    responses: list[BatchResponse] = []
    for part in _split_multipart(text, boundary_of(content_type)):
        headers, rest = _split_head(part)
        part_type = headers.get("content-type", "")
        if part_type.lower().startswith("multipart/"):
            responses.extend(parse_batch_response(part_type, rest))
        else:
            responses.append(_parse_http_response(rest, headers.get("content-id")))
    return responses

