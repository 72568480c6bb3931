"""Change tracking: `Prefer: odata.track-changes`, delta links, `$deletedEntity` entries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from ..context import Context
from ..errors import ODataError
from ..protocol import Response, json_response
from ..query import QueryOptions, check_select, unsupported_with_tracking
from ..relations import sql_guid_key
from ..representation import context_fragment
from ..schema import Table
from .paging import link_with, lower_escapes, make_skiptoken, page_size, read_cookie
from .reading import count_text

_TOKEN = re.compile(r"^(\d+)!(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2})$")


def is_tracking_request(ctx: Context, options: QueryOptions) -> bool:
    if "odata.track-changes" in ctx.prefer or options.deltatoken is not None:
        return True
    return bool(options.skiptoken and 'istracking="True"' in options.skiptoken)


def _not_enabled(table: Table) -> ODataError:
    return ODataError(400, "0x80040203",
                      f"Change tracking is not enabled for the entity '{table.logical_name}'. "
                      "Enable change tracking on the table to use odata.track-changes.")


def make_token(version: int, moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return f"{version}!{moment.strftime('%m/%d/%Y %H:%M:%S')}"


def parse_token(ctx: Context, token: str) -> int:
    config = ctx.app.config
    match = _TOKEN.match(token.strip())
    if not match or int(match.group(1)) > ctx.store.version:
        raise ODataError(400, str(config["invalidDeltaTokenCode"]), f"The delta token '{token}' is not valid.")
    version = int(match.group(1))
    issued = datetime.strptime(match.group(2), "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
    retention = timedelta(days=float(config["changeTrackingRetentionDays"]))
    if version < ctx.store.floor_version or datetime.now(UTC) - issued > retention:
        raise ODataError(int(config["expiredDeltaTokenStatus"]), str(config["expiredDeltaTokenCode"]),
                         "The change tracking token has expired or its changes are no longer available. "
                         "Perform a full synchronization to get a new token.")
    return version


def _changes(ctx: Context, table: Table, since: int, snapshot: int) -> list[tuple[str, Any]]:
    """Changed rows (by version) then deleted ids, both in (since, snapshot]."""
    rows = [r for r in ctx.store.scan(table.logical_name) if since < int(r.get("versionnumber") or 0) <= snapshot]
    rows.sort(key=lambda r: int(r.get("versionnumber") or 0))
    deleted: list[str] = []
    for change in ctx.store.changes_since(table.logical_name, since):
        gone = change.deleted and not ctx.store.exists(table.logical_name, change.id)
        if gone and change.version <= snapshot and change.id not in deleted:
            deleted.append(change.id)
    return [("row", r) for r in rows] + [("deleted", d) for d in deleted]


def track(ctx: Context, table: Table, options: QueryOptions) -> Response:
    if not table.change_tracking:
        raise _not_enabled(table)
    unsupported_with_tracking(options)
    check_select(table, options.select)
    cookie = read_cookie(options.skiptoken)
    snapshot = cookie.snapshot if cookie.snapshot is not None else ctx.store.version
    since = parse_token(ctx, options.deltatoken) if options.deltatoken is not None else None
    if since is None:
        rows = ctx.store.scan(table.logical_name)
        rows.sort(key=lambda r: sql_guid_key(r[table.primary_key]))
        entries: list[tuple[str, Any]] = [("row", r) for r in rows]
    else:
        entries = _changes(ctx, table, since, snapshot)
    if "odata.track-changes" in ctx.prefer:
        ctx.applied.append("odata.track-changes")
    size = page_size(ctx)
    start = (cookie.page - 1) * size
    page = entries[start:start + size]
    more = len(entries) > start + size
    renderer = ctx.renderer()
    fragment = context_fragment(table, options.select, [])
    context = f"{ctx.root}$metadata#{fragment}" + ("/$delta" if since is not None else "")
    body: dict[str, Any] = {"@odata.context": context, "value": []}
    for kind, item in page:
        if kind == "row":
            body["value"].append(renderer.row(table, item, options.select))
        else:
            body["value"].append({"@odata.context": f"{ctx.root}$metadata#{table.entity_set}/$deletedEntity",
                                  "id": item, "reason": "deleted"})
    if more:
        token = make_skiptoken(cookie.page + 1, table.primary_key, None, None, tracking=True, snapshot=snapshot)
        body["@odata.nextLink"] = link_with(ctx, {"$skiptoken": token})
    else:
        delta = lower_escapes(quote(make_token(snapshot), safe=""))
        link = link_with(ctx, {"$skiptoken": None, "$deltatoken": None})
        body["@odata.deltaLink"] = f"{link}{'&' if '?' in link else '?'}$deltatoken={delta}"
    return json_response(200, body, ctx.applied_header())


def count_changes(ctx: Context, table: Table, options: QueryOptions) -> Response:
    if not table.change_tracking:
        raise _not_enabled(table)
    since = parse_token(ctx, options.deltatoken or "")
    return count_text(len(_changes(ctx, table, since, ctx.store.version)))
