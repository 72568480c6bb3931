"""`DataverseClient`: the Dataverse Web API v9.2 operations the product uses.

One client per worker, shared by concurrent invocations: it is immutable apart from its
thread-safe request counter. `counted()` gives a view sharing session, token cache and retry
policy with its own `request_count` (every HTTP exchange, retries included), which a use-case
reports as `dynamicsRequests`. Retry rules live in `retry`; this module only says, per request,
whether resending it is safe.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from shared.masking import mask_text

from . import errors
from .auth import (
    StaticTokenCredential,
    TokenCache,
    TokenCredential,
    check_dynamics_url,
    is_loopback_url,
    scope_for,
)
from .batch import (
    CRM_NAMESPACE,
    BatchItem,
    BatchRequest,
    BatchResponse,
    ChangeSet,
    ChangeSetOutcome,
    build_batch,
    count_operations,
    outcomes_of,
    parse_batch_response,
    split_batches,
)
from .changes import Change, ChangeFeed, deleted_record
from .metadata import TableColumns, table_columns_from
from .query import (
    Filter,
    Literal,
    Query,
    entity_path,
    field_name,
    guid,
    id_from_entity_url,
    identifier,
    key_segment,
    literal,
    qualified_name,
)
from .retry import RetryPolicy
from .tables import primary_key as _primary_key  # methods have a `primary_key` argument
from .transport import DEFAULT_TIMEOUT, Request, RequestCounter, Transport, json_body, response_body

logger = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2/"
MAX_PAGE_SIZE = 5000

# Actions Dataverse applies idempotently, so resending one after an unclear failure is safe.
IDEMPOTENT_ACTIONS = frozenset({"AddMemberList"})

Key = str | uuid.UUID | Mapping[str, Literal]


@dataclass(frozen=True)
class UpsertResult:
    record_id: str | None
    created: bool


def _api_root(base_url: str) -> tuple[str, str]:
    check_dynamics_url(base_url)
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path not in ("", API_PATH.rstrip("/")):
        raise ValueError("the Dataverse URL is the organisation root (optionally with /api/data/v9.2)")
    if parts.query or parts.fragment:
        raise ValueError("the Dataverse URL must not have a query or fragment")
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin, origin + API_PATH


class DataverseClient:
    """Dataverse Web API client. See docs/DYNAMICS_CLIENT.md for the retry policy and errors."""

    def __init__(
        self,
        base_url: str,
        credential: TokenCredential,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        origin, api_root = _api_root(base_url)
        if isinstance(credential, StaticTokenCredential) and not is_loopback_url(origin):
            raise ValueError("a static token is only for a Dataverse emulator on loopback")
        if len(timeout) != 2 or min(timeout) <= 0:
            raise ValueError("timeout is (connect seconds, read seconds), both positive")
        self._origin = origin
        self._api_root = api_root
        self._transport = Transport(
            TokenCache(credential, scope_for(origin)), session=session, timeout=timeout, retry=retry
        )
        self._counter = RequestCounter()

    # Views and counting.

    def counted(self) -> DataverseClient:
        """A client sharing session, auth and retries, with its own `request_count` from zero."""
        view = object.__new__(DataverseClient)
        view._origin = self._origin
        view._api_root = self._api_root
        view._transport = self._transport
        view._counter = RequestCounter(parent=self._counter)
        return view

    @property
    def request_count(self) -> int:
        """HTTP exchanges with Dataverse made through this client (retries included)."""
        return self._counter.value

    @property
    def api_url(self) -> str:
        """The OData root, ending with `/api/data/v9.2/`."""
        return self._api_root

    # Reads.

    def list_records(
        self, entity_set: str, query: Query | None = None, *, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every row the query matches, following `@odata.nextLink` pages lazily.

        `page_size` asks for `Prefer: odata.maxpagesize` (at most 5,000). Dataverse ignores
        `$top` together with a page size, so with `top` set the page size is not sent.
        """
        url = self._url(entity_path(entity_set), query)
        headers = {"If-None-Match": "null"}
        if page_size is not None:
            _check_page_size(page_size)
            if query is None or query.top is None:
                headers["Prefer"] = f"odata.maxpagesize={page_size}"
        return self._rows(url, headers, f"list {entity_set}")

    def _rows(
        self, url: str, headers: dict[str, str], operation: str, *, verbatim: bool = False
    ) -> Iterator[dict[str, Any]]:
        rows = pages = 0
        next_url: str | None = url
        while next_url is not None:
            request = Request(
                "GET", next_url, operation, dict(headers), retry_safe=True, verbatim=verbatim or pages > 0
            )
            body = self._json(self._send(request))
            pages += 1
            for row in body.get("value", []):
                rows += 1
                yield row
            next_url = self._follow(body.get("@odata.nextLink"))
        logger.info("%s: %d row(s) in %d page(s)", operation, rows, pages)

    def list_pages_by_key(
        self,
        entity_set: str,
        *,
        select: Sequence[str],
        filter: Filter | None = None,
        after: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[list[dict[str, Any]]]:
        """The rows `filter` selects in primary-key order, one list per page, from after the key `after`.

        Each page is its own query (`<key> gt <last>`, `$orderby=<key>`, `$top`), so a caller that
        keeps the last key of each page can resume a cut-off read there, without skipping or
        repeating a row; the primary key is always selected. A page shorter than `page_size`
        is the last one.
        """
        _check_page_size(page_size)
        key = _primary_key(entity_set)
        columns = list(dict.fromkeys([key, *select]))
        while True:
            conditions = [c for c in (filter, Filter.gt(key, after) if after is not None else None) if c is not None]
            query = Query(select=columns, filter=Filter.and_(*conditions) if conditions else None,
                          orderby=[(key, "asc")], top=page_size)
            url = self._url(entity_path(entity_set), query)
            body = self._json(self._send(
                Request("GET", url, f"page of {entity_set}", {"If-None-Match": "null"}, retry_safe=True)))
            page = list(body.get("value", []))
            logger.info("page of %s: %d row(s)", entity_set, len(page))
            if page:
                yield page
            if len(page) < page_size:
                return
            after = str(page[-1][key])

    def list_records_by_id(
        self,
        entity_set: str,
        ids: Iterable[str],
        *,
        select: Sequence[str],
        filter: Filter | None = None,
        chunk_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """The rows with the given ids that `filter` also selects, `chunk_size` ids a request
        (`Microsoft.Dynamics.CRM.In` on the primary key). Ids that are gone or filtered out are
        simply absent. 100 GUIDs keep the URL near 5 KB, far below Dataverse's 32 KB."""
        if not 1 <= chunk_size <= MAX_PAGE_SIZE:
            raise ValueError(f"chunk_size must be 1-{MAX_PAGE_SIZE}")
        key = _primary_key(entity_set)
        columns = list(dict.fromkeys([key, *select]))
        wanted = list(dict.fromkeys(guid(i) for i in ids))
        for start in range(0, len(wanted), chunk_size):
            chunk = Filter.in_(key, wanted[start:start + chunk_size])
            query = Query(select=columns, filter=chunk & filter if filter is not None else chunk)
            yield from self.list_records(entity_set, query, page_size=MAX_PAGE_SIZE)
    def get_record(
        self,
        entity_set: str,
        id: Key,
        *,
        select: Sequence[str] | None = None,
        expand: Sequence[Any] | None = None,
    ) -> dict[str, Any]:
        """One row by primary key (or alternate key mapping); raises `RecordNotFoundError`."""
        query = Query(select=select, expand=expand) if (select or expand) else None
        url = self._url(entity_path(entity_set, id), query)
        response = self._send(
            Request("GET", url, f"get {entity_set}", {"If-None-Match": "null"}, retry_safe=True)
        )
        logger.info("get %s: found", entity_set)
        return self._json(response)

    def get_table_columns(self, table: str) -> TableColumns:
        """The columns of a table (by logical name, `contact`), in one request.

        Raises `RecordNotFoundError` when Dataverse has no such table. Cache the answer
        (`MetadataCache`): it is large and changes rarely.
        """
        url = self._url(f"EntityDefinitions(LogicalName='{identifier(table)}')/Attributes")
        body = self._json(self._send(Request("GET", url, f"columns of {table}", retry_safe=True)))
        columns = table_columns_from(table, body.get("value", []))
        logger.info("columns of %s: %d", table, len(columns.columns))
        return columns

    # Writes.

    def create_record(
        self,
        entity_set: str,
        data: Mapping[str, Any],
        *,
        record_id: str | uuid.UUID | None = None,
        primary_key: str | None = None,
    ) -> str:
        """Create a row and return its id.

        With `record_id` the row gets that primary key, and the create becomes safe to repeat:
        when Dataverse answers "already exists" and the row with that id is there, an earlier
        attempt (a retry's first try, or an earlier call) landed, and the id is returned.
        Dataverse gives the same answer when an alternate key matches another row; the id is
        then not there, and `RecordExistsError` is raised. Without `record_id` the create is
        resent only when Dataverse certainly did not execute it (429, no connection).
        """
        body = dict(data)
        chosen: str | None = None
        if record_id is not None:
            chosen = guid(record_id)
            body[field_name(primary_key or _primary_key(entity_set))] = chosen
        request = Request(
            "POST",
            self._url(entity_path(entity_set)),
            f"create {entity_set}",
            {"Content-Type": "application/json; charset=utf-8"},
            json_body(body),
            retry_safe=chosen is not None,
            landed_if=412 if chosen is not None else None,
        )
        key = field_name(primary_key or _primary_key(entity_set))
        try:
            response = self._send(request)
        except errors.RecordExistsError:
            if chosen is None or not self._has_row(entity_set, chosen, key):
                raise
            logger.info("create %s: %s was created by an earlier call", entity_set, chosen)
            return chosen
        if response.status_code == 412 and chosen is not None:
            if not self._has_row(entity_set, chosen, key):
                raise errors.error_from_parts(412, response_body(response), response=response)
            logger.info("create %s: %s already landed on an earlier attempt", entity_set, chosen)
            return chosen
        new_id = id_from_entity_url(response.headers.get("OData-EntityId")) or chosen
        if new_id is None:
            parsed = response_body(response)
            if isinstance(parsed, dict):
                value = parsed.get(primary_key or _primary_key(entity_set))
                new_id = str(value).lower() if value else None
        if new_id is None:
            raise errors.DataverseError(response.status_code, "", "create returned no record id")
        logger.info("create %s: %s", entity_set, new_id)
        return new_id

    def _has_row(self, entity_set: str, record_id: str, key: str) -> bool:
        """Whether the row with this primary key exists (a create's "already exists" is ours)."""
        try:
            self.get_record(entity_set, record_id, select=[key])
        except errors.RecordNotFoundError:
            return False
        return True

    def update_record(
        self, entity_set: str, id: Key, data: Mapping[str, Any], *, etag: str | None = None
    ) -> None:
        """Update an existing row (`If-Match: etag or *`): never creates.

        Raises `RecordNotFoundError` when the row is missing, `ConcurrencyError` on a stale ETag.
        """
        request = Request(
            "PATCH",
            self._url(entity_path(entity_set, id)),
            f"update {entity_set}",
            {"Content-Type": "application/json; charset=utf-8", "If-Match": etag or "*"},
            json_body(dict(data)),
            retry_safe=True,
        )
        self._send(request)
        logger.info("update %s: done", entity_set)

    def upsert_record(
        self,
        entity_set: str,
        key: Key,
        data: Mapping[str, Any],
        *,
        create_only: bool = False,
        update_only: bool = False,
        primary_key: str | None = None,
    ) -> UpsertResult:
        """Create or update the row addressed by `key` (GUID or alternate key columns).

        `create_only` sends `If-None-Match: *` (an existing row raises `RecordExistsError`);
        `update_only` sends `If-Match: *` (a missing row raises `RecordNotFoundError`).
        `created` comes from `return=representation` (201 created, 200 updated). When an attempt's
        answer is lost (reset, 5xx, timeout) the upsert is resent and reports what the resend
        saw: a row that the lost attempt created is then reported as updated. Only
        `create_only=True` tells that case apart (a resend meeting 412 means the lost attempt
        created the row).
        """
        if create_only and update_only:
            raise ValueError("create_only and update_only exclude each other")
        pk = field_name(primary_key or _primary_key(entity_set))
        headers = {"Content-Type": "application/json; charset=utf-8", "Prefer": "return=representation"}
        if create_only:
            headers["If-None-Match"] = "*"
        if update_only:
            headers["If-Match"] = "*"
        request = Request(
            "PATCH",
            self._url(entity_path(entity_set, key), Query(select=[pk])),
            f"upsert {entity_set}",
            headers,
            json_body(dict(data)),
            retry_safe=True,
            landed_if=412 if create_only else None,
        )
        response = self._send(request)
        if response.status_code == 412:
            record = self.get_record(entity_set, key, select=[pk])
            result = UpsertResult(str(record.get(pk, "")).lower() or None, True)
        else:
            parsed = response_body(response)
            record_id = None
            if isinstance(parsed, dict) and parsed.get(pk):
                record_id = str(parsed[pk]).lower()
            record_id = record_id or id_from_entity_url(response.headers.get("OData-EntityId"))
            if record_id is None and not isinstance(key, Mapping):
                record_id = guid(key)
            result = UpsertResult(record_id, response.status_code == 201)
        logger.info("upsert %s: %s %s", entity_set, result.record_id, "created" if result.created else "updated")
        return result

    def delete_record(self, entity_set: str, id: Key, *, etag: str | None = None) -> None:
        """Delete a row; succeeds when it is already gone. A stale `etag` raises `ConcurrencyError`."""
        headers = {"If-Match": etag} if etag else {}
        request = Request(
            "DELETE",
            self._url(entity_path(entity_set, id)),
            f"delete {entity_set}",
            headers,
            retry_safe=True,
            absent_ok=True,
        )
        response = self._send(request)
        logger.info("delete %s: %s", entity_set, "already gone" if response.status_code == 404 else "done")

    def associate(
        self, entity_set: str, id: Key, navigation: str, target_set: str, target_id: Key
    ) -> None:
        """Link two rows through a collection-valued navigation property (`POST .../$ref`)."""
        target = self._api_root + entity_path(target_set, target_id)
        request = Request(
            "POST",
            self._url(f"{entity_path(entity_set, id)}/{identifier(navigation)}/$ref"),
            f"associate {entity_set}.{navigation}",
            {"Content-Type": "application/json; charset=utf-8"},
            json_body({"@odata.id": target}),
        )
        self._send(request)
        logger.info("associate %s.%s: done", entity_set, navigation)

    def disassociate(
        self, entity_set: str, id: Key, navigation: str, target_id: Key | None = None
    ) -> None:
        """Remove a link (`DELETE .../$ref`); `target_id` for collection-valued navigation properties."""
        path = f"{entity_path(entity_set, id)}/{identifier(navigation)}"
        if target_id is not None:
            path += quote(key_segment(target_id), safe="(),'=:@")
        request = Request(
            "DELETE",
            self._url(f"{path}/$ref"),
            f"disassociate {entity_set}.{navigation}",
            retry_safe=True,
            landed_if=404,
        )
        self._send(request)
        logger.info("disassociate %s.%s: done", entity_set, navigation)

    # Operations.

    def call_action(
        self,
        name: str,
        body: Mapping[str, Any] | None = None,
        *,
        entity_set: str | None = None,
        record_id: Key | None = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Invoke an action; bound when `entity_set` (and `record_id`) are given. Returns its JSON ({} on 204).

        Bound actions get the `Microsoft.Dynamics.CRM.` prefix when `name` has no namespace.
        `idempotent` overrides whether resending after an unclear failure is safe (default: only
        for actions known to be idempotent, such as `AddMemberList`).
        """
        qualified_name(name)
        short = name.rsplit(".", 1)[-1]
        path = self._operation_path(name, entity_set, record_id)
        safe = idempotent if idempotent is not None else short in IDEMPOTENT_ACTIONS
        request = Request(
            "POST",
            self._url(path),
            f"action {short}",
            {"Content-Type": "application/json; charset=utf-8"},
            json_body(dict(body or {})),
            retry_safe=safe,
        )
        result = response_body(self._send(request))
        logger.info("action %s: done", short)
        return result if isinstance(result, dict) else {}

    def call_function(
        self,
        name: str,
        *,
        entity_set: str | None = None,
        record_id: Key | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Invoke a function (GET); parameters are passed as aliases (`F(P=@p1)?@p1=<literal>`)."""
        qualified_name(name)
        short = name.rsplit(".", 1)[-1]
        aliases = []
        values = []
        for index, (param, value) in enumerate(params.items(), start=1):
            aliases.append(f"{identifier(param)}=@p{index}")
            values.append(f"@p{index}={quote(_function_literal(value), safe=chr(39) + '()')}")
        path = self._operation_path(name, entity_set, record_id) + "(" + ",".join(aliases) + ")"
        url = self._url(path) + ("?" + "&".join(values) if values else "")
        response = self._send(Request("GET", url, f"function {short}", retry_safe=True))
        logger.info("function %s: done", short)
        result = response_body(response)
        return result if isinstance(result, dict) else {"value": result}

    def _operation_path(self, name: str, entity_set: str | None, record_id: Key | None) -> str:
        if entity_set is None:
            if record_id is not None:
                raise ValueError("record_id needs entity_set")
            return name
        bound = name if "." in name else CRM_NAMESPACE + name
        return f"{entity_path(entity_set, record_id)}/{bound}"

    # Batches.

    def execute_batch(
        self, items: Sequence[BatchItem], *, continue_on_error: bool = False
    ) -> list[BatchResponse]:
        """Run requests and change sets in `$batch` round trips of at most 1,000 operations.

        Returns one `BatchResponse` per operation that Dataverse answered, in order. Without
        `continue_on_error` Dataverse stops at the first failure, and so does this method: the
        list then ends with the failed part (`error()` gives its typed error). A failed change
        set is rolled back as a whole.
        """
        results: list[BatchResponse] = []
        for chunk in split_batches(list(items)):
            responses = self._batch_round_trip(chunk, continue_on_error=continue_on_error)
            results.extend(responses)
            if not continue_on_error and (
                any(not r.ok for r in responses) or len(responses) < count_operations(chunk)
            ):
                break
        return results

    def query_batch(
        self, queries: Sequence[tuple[str, Query | None]], *, all_pages: bool = False
    ) -> list[list[dict[str, Any]]]:
        """The first page of several independent queries, in one `$batch` round trip
        (several when there are more than 1,000 queries).

        Returns the rows of each query, in order. A failed query raises its typed error. With
        `all_pages`, a query whose answer has an `@odata.nextLink` has its further pages read
        with ordinary GETs (a bulk look-up of many people may match more than one page).
        """
        requests_ = [BatchRequest.get(entity_set, query) for entity_set, query in queries]
        results: list[list[dict[str, Any]]] = []
        for chunk in split_batches(requests_):
            responses = self._batch_round_trip(chunk, continue_on_error=False)
            for response in responses:
                response.raise_for_error()
            if len(responses) != len(chunk):
                raise errors.DataverseError(200, "", f"$batch answered {len(responses)} of {len(chunk)} queries")
            for response in responses:
                body = response.body if isinstance(response.body, dict) else {}
                rows = list(body.get("value", []))
                next_url = self._follow(body.get("@odata.nextLink")) if all_pages else None
                if next_url is not None:
                    rows.extend(self._rows(next_url, {}, "further pages of a batched query", verbatim=True))
                results.append(rows)
        return results

    def execute_change_sets(self, change_sets: Sequence[ChangeSet]) -> list[ChangeSetOutcome]:
        """Apply change sets with `odata.continue-on-error`: one failed change set (rolled back as
        a whole) does not stop the others. Sent in `$batch` round trips of at most 1,000
        operations; one `ChangeSetOutcome` per change set, in order.

        A round trip that fails as a whole (throttled past the retry budget, unavailable) raises
        its typed error; it is resent only when every part is safe to resend.
        """
        outcomes: list[ChangeSetOutcome] = []
        for chunk in split_batches(list(change_sets)):
            sets = [item for item in chunk if isinstance(item, ChangeSet)]
            responses = self._batch_round_trip(chunk, continue_on_error=True)
            outcomes.extend(outcomes_of(sets, responses))
        return outcomes

    def _batch_round_trip(self, chunk: Sequence[BatchItem], *, continue_on_error: bool) -> list[BatchResponse]:
        content_type, body = build_batch(chunk, self._api_root)
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        only_safe = all(
            request.idempotent for item in chunk for request in (item.requests if isinstance(item, ChangeSet) else (item,))
        )
        request = Request(
            "POST",
            self._url("$batch"),
            f"batch of {count_operations(chunk)}",
            headers,
            body,
            retry_safe=only_safe,
            multipart_ok=True,
        )
        response = self._send(request)
        try:
            parsed = parse_batch_response(response.headers.get("Content-Type", ""), response.content)
        except ValueError as exc:
            raise errors.DataverseError(response.status_code, "", f"unreadable $batch response: {exc}") from exc
        failed = sum(1 for r in parsed if not r.ok)
        logger.info("batch of %d: %d answered, %d failed", count_operations(chunk), len(parsed), failed)
        return parsed

    # Change tracking.

    def track_changes(
        self,
        entity_set: str,
        *,
        select: Sequence[str],
        delta_link: str | None = None,
        page_size: int | None = None,
    ) -> ChangeFeed:
        """Rows changed since `delta_link` (every row when None), then the new delta link.

        Iterate the returned feed for changed rows (dicts) and `DeletedRecord`s, then read
        `feed.delta_link`. A delta link Dataverse no longer accepts raises `DeltaTokenExpiredError`:
        start again without one (a full resync).
        """
        headers = {"Prefer": "odata.track-changes", "If-None-Match": "null"}
        if page_size is not None:
            _check_page_size(page_size)
            headers["Prefer"] += f",odata.maxpagesize={page_size}"
        if delta_link is None:
            first = self._url(entity_path(entity_set), Query(select=select))
        else:
            first = self._follow(delta_link) or ""

        def pages(feed: ChangeFeed) -> Iterator[Change]:
            changed = deleted = 0
            url: str | None = first
            is_delta = delta_link is not None
            from_dataverse = is_delta
            while url is not None:
                request = Request(
                    "GET", url, f"changes {entity_set}", dict(headers),
                    retry_safe=True, delta=is_delta, verbatim=from_dataverse,
                )
                from_dataverse = True
                body = self._json(self._send(request))
                for item in body.get("value", []):
                    gone = deleted_record(item)
                    if gone is not None:
                        deleted += 1
                        yield gone
                    else:
                        changed += 1
                        yield item
                next_link = body.get("@odata.nextLink")
                if next_link:
                    url = self._follow(next_link)
                    continue
                new_link = body.get("@odata.deltaLink")
                if not new_link:
                    raise errors.DataverseError(200, "", "change tracking response without @odata.deltaLink")
                feed._finish(new_link)
                url = None
            logger.info("changes %s: %d changed, %d deleted", entity_set, changed, deleted)

        return ChangeFeed(pages)

    def get_delta_link(self, entity_set: str) -> str:
        """A delta link for changes from now on, without keeping any row.

        Dataverse gives a delta link only after every current row, so this reads them with the
        primary key alone, `MAX_PAGE_SIZE` a page (100,000 rows: 20 requests). Its delta feed
        then carries ids only: re-read the changed rows with `list_records_by_id`.
        """
        feed = self.track_changes(entity_set, select=[_primary_key(entity_set)], page_size=MAX_PAGE_SIZE)
        for _ in feed:
            pass
        return feed.delta_link

    def get_change_tracking_enabled(self, table: str) -> bool:
        """Whether a table (logical name, `lead`) has change tracking turned on (`ChangeTrackingEnabled`)."""
        url = self._url(f"EntityDefinitions(LogicalName='{identifier(table)}')",
                        Query(select=["ChangeTrackingEnabled"]))
        body = self._json(self._send(Request("GET", url, f"change tracking of {table}", retry_safe=True)))
        return body.get("ChangeTrackingEnabled") is True

    # Plumbing.

    def _url(self, path: str, query: Query | None = None) -> str:
        qs = query.to_query_string() if query is not None else ""
        return self._api_root + path + (f"?{qs}" if qs else "")

    def _follow(self, link: Any) -> str | None:
        """A next/delta link as an absolute URL, used verbatim; only on this organisation's host."""
        if not link:
            return None
        url = urljoin(self._api_root, str(link))
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}".lower() != self._origin.lower():
            raise errors.DataverseError(0, "", "Dataverse returned a link to another host; not following it")
        return url

    def _send(self, request: Request) -> requests.Response:
        return self._transport.send(request, self._counter)

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        body = response_body(response)
        if not isinstance(body, dict):
            raise errors.DataverseError(response.status_code, "", "expected a JSON object from Dataverse")
        return body

    def __repr__(self) -> str:
        return f"DataverseClient({mask_text(self._origin)!r})"


def _check_page_size(page_size: int) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")


def _function_literal(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(json.dumps(str(v), ensure_ascii=False) for v in value) + "]"
    return literal(value)
