"""GET of collections: entity sets and collection-valued navigation properties, with paging."""

from __future__ import annotations

from typing import Any

from ..annotations import TOTAL_COUNT, TOTAL_EXCEEDED
from ..context import Context
from ..filter_eval import key_candidates
from ..protocol import Response, json_response
from ..query import QueryOptions, check_expand, check_orderby, check_select
from ..relations import sql_guid_key
from ..representation import context_fragment
from ..schema import Table
from ..sorting import sort_rows
from .paging import MAX_PAGE, link_with, make_skiptoken, page_size, read_cookie


def check_options(ctx: Context, table: Table, options: QueryOptions) -> None:
    check_select(table, options.select)
    check_orderby(table, options.orderby)
    check_expand(ctx.schema, table, options.expand)
    if options.filter is not None:
        ctx.evaluator().check(options.filter, table)
    for item in options.expand:
        if item.filter is not None:
            from ..query import expand_target

            ctx.evaluator().check(item.filter, expand_target(ctx.schema, table, item.nav))


def candidate_rows(ctx: Context, table: Table, options: QueryOptions) -> list[dict[str, Any]]:
    """The rows a query of the table reads: only those with the keys its filter names, when it
    names them plainly (as Dataverse's index on the key), else every row. The filter is still
    evaluated on each, so the answer is the same either way; a look-up by id just does not copy
    and test the whole table."""
    keys = key_candidates(options.filter, table) if options.filter is not None else None
    if keys is None:
        return ctx.store.scan(table.logical_name)
    return [row for key in keys if (row := ctx.store.get(table.logical_name, key)) is not None]


def read_collection(ctx: Context, table: Table, rows: list[dict[str, Any]], options: QueryOptions,
                    context_name: str | None = None) -> Response:
    check_options(ctx, table, options)
    evaluator = ctx.evaluator()
    if options.filter is not None:
        rows = [r for r in rows if evaluator.matches(options.filter, table, r)]
    rows = sort_rows(ctx.schema, ctx.store, table, rows, options.orderby)
    total = len(rows)
    size = page_size(ctx)
    next_link: str | None = None
    if options.top is not None:
        rows = rows[: min(options.top, MAX_PAGE)]
    else:
        cookie = read_cookie(options.skiptoken)
        if cookie.last is not None and not options.orderby:
            rows = [r for r in rows if sql_guid_key(r[table.primary_key]) > sql_guid_key(cookie.last)]
        elif cookie.page > 1:
            rows = rows[(cookie.page - 1) * size:]
        if len(rows) > size:
            rows = rows[:size]
            token = make_skiptoken(cookie.page + 1, table.primary_key, rows[0][table.primary_key],
                                   rows[-1][table.primary_key])
            next_link = link_with(ctx, {"$skiptoken": token})
    ctx.apply_annotations_preference()
    renderer = ctx.renderer()
    fragment = context_name or context_fragment(table, options.select, options.expand)
    body: dict[str, Any] = {"@odata.context": f"{ctx.root}$metadata#{fragment}"}
    annotations = ctx.annotations
    if annotations.wants(TOTAL_COUNT):
        body[f"@{TOTAL_COUNT}"] = min(total, MAX_PAGE) if options.count else -1
    if annotations.wants(TOTAL_EXCEEDED):
        body[f"@{TOTAL_EXCEEDED}"] = total > MAX_PAGE
    if options.count:
        body["@odata.count"] = min(total, MAX_PAGE)
    body["value"] = [renderer.row(table, r, options.select, options.expand) for r in rows]
    if next_link:
        body["@odata.nextLink"] = next_link
    return json_response(200, body, ctx.applied_header())


def count_text(total: int) -> Response:
    body = ("\ufeff" + str(min(total, MAX_PAGE))).encode("utf-8")
    return Response(200, [("Content-Type", "text/plain; charset=utf-8"), ("OData-Version", "4.0")], body)
