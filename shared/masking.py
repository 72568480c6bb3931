"""Masking of personal data and secrets: no full e-mail address, token or key reaches a log.

One module for every boundary (the HTTP layer's log records, the Dataverse client's URLs and
errors, the demo's table), so what counts as a secret is decided once.
"""

from __future__ import annotations

import re

# Characters of an address's local part as they occur in practice; `%2B`/`%27` are `+`/`'` inside
# an encoded query string (other escapes, such as `%20`, end the address).
_LOCAL = r"(?:[\w.+'-]|%2[Bb7])"
# A match starts only where a run of address characters starts (linear time on long runs), but
# may start right after a quote: in OData `'o''brien@x.com'` the quote opens the literal.
_EMAIL = re.compile(r"(?<![\w.+%-])((?:[\w.+-]|%2[Bb]))" + _LOCAL + r"*(?:@|%40)((?:[\w-]+\.)+[\w-]{2,})")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SECRET_PAIR = re.compile(
    r"(?i)\b(accountkey|sharedaccesssignature|client_secret|password|access_token|refresh_token"
    r"|x-functions-key|api[-_]?key|static_token)([\"']?\s*[=:]\s*[\"']?)[^\s;&\"',}]+"
)
# Query-string secrets (`?code=` is the function key, `sig=` a SAS signature).
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:code|sig)=)[^\s&;\"']+")


def mask_address(address: str) -> str:
    """One e-mail address: `jane@example.com` -> `j***@example.com`; anything else -> `***`."""
    local, sep, domain = address.strip().partition("@")
    if not sep or not local or not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_text(text: str) -> str:
    """Free text (a log line, a URL): every address, bearer token, JWT and key=value secret masked."""
    text = _BEARER.sub(r"\1***", text)
    text = _JWT.sub("***", text)
    text = _SECRET_PAIR.sub(r"\1\2***", text)
    text = _SECRET_PARAM.sub(r"\1***", text)
    return _EMAIL.sub(r"\1***@\2", text)
