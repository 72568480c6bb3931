"""Server-driven paging: page size from `Prefer: odata.maxpagesize`, `$skiptoken` cookies, nextLinks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ..context import Context
from ..errors import bad_request

MAX_PAGE = 5000


def page_size(ctx: Context) -> int:
    raw = ctx.prefer.get("odata.maxpagesize")
    if raw is None:
        return MAX_PAGE
    try:
        size = int(str(raw).strip('"'))
    except ValueError:
        return MAX_PAGE
    size = max(1, min(size, MAX_PAGE))
    ctx.applied.append(f"odata.maxpagesize={size}")
    return size


@dataclass
class Cookie:
    page: int = 1  # the page this request returns
    last: str | None = None
    snapshot: int | None = None


def lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def read_cookie(token: str | None) -> Cookie:
    if not token:
        return Cookie()
    match = re.search(r'pagenumber="(\d+)"', token)
    if not match:
        raise bad_request("The $skiptoken value is not valid.", "0x80060888")
    cookie = Cookie(page=int(match.group(1)))
    inner_match = re.search(r'pagingcookie="([^"]*)"', token)
    inner = unquote(unquote(inner_match.group(1))) if inner_match else ""
    last = re.search(r'last="\{([0-9a-fA-F-]+)\}"', inner)
    cookie.last = last.group(1).lower() if last else None
    snapshot = re.search(r'snapshot="(\d+)"', inner)
    cookie.snapshot = int(snapshot.group(1)) if snapshot else None
    return cookie


def make_skiptoken(next_page: int, primary_key: str, first: str | None, last: str | None,
                   tracking: bool = False, snapshot: int | None = None) -> str:
    extra = f' snapshot="{snapshot}"' if snapshot is not None else ""
    keys = f'<{primary_key} last="{{{(last or "").upper()}}}" first="{{{(first or "").upper()}}}" />' if last else ""
    inner = f'<cookie page="{next_page - 1}"{extra}>{keys}</cookie>'
    return (f'<cookie pagenumber="{next_page}" pagingcookie="{quote(quote(inner, safe=""), safe="")}" '
            f'istracking="{"True" if tracking else "False"}" />')


def link_with(ctx: Context, replace: dict[str, str | None]) -> str:
    """The request URL (absolute), its query kept as sent, with some options replaced or removed."""
    raw_parts = [p for p in ctx.request.query_string.split("&") if p]
    kept = [p for p in raw_parts if unquote(p.split("=", 1)[0]) not in replace]
    for name, value in replace.items():
        if value is not None:
            kept.append(f"{name}={lower_escapes(quote(value, safe=''))}")
    path = ctx.request.path.lstrip("/")
    return f"{ctx.root}{path}" + (f"?{'&'.join(kept)}" if kept else "")
