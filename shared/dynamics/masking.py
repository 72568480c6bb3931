"""Masking for log lines: no full e-mail address and no token ever reaches a log."""

from __future__ import annotations

import re

# An address written plainly or percent-encoded (as it appears inside a query string); a quote
# may sit inside the local part (o'brien) but not start it (it opens the OData literal).
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._+\-%])([A-Za-z0-9._+\-]|%2[Bb])([A-Za-z0-9._+\-']|%2[Bb7])*(@|%40)([A-Za-z0-9\-]+\.)+[A-Za-z]{2,}"
)
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def mask_email(address: str) -> str:
    """`jane@example.com` -> `j***@example.com`."""
    local, sep, domain = address.partition("@")
    if not sep:
        local, sep, domain = address.partition("%40")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask(text: str) -> str:
    """`text` with every e-mail address and bearer token masked."""
    text = _BEARER.sub(r"\1***", text)
    return _EMAIL.sub(lambda match: mask_email(match.group(0)), text)
