"""Credentials and bearer tokens for Dataverse.

`credential_for(url, static_token=None)` picks the credential: `DefaultAzureCredential` for a
real organisation, `StaticTokenCredential` for the local emulator (loopback URLs only). Any object
with `get_token(*scopes)` returning something with `.token` and `.expires_on` will do.
`TokenCache` asks the credential for `<url>/.default`, keeps the token until shortly before it
expires, and drops it when Dataverse answers 401 so the next request fetches a fresh one.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import DataverseAuthError

# Refresh this long before the credential says the token expires.
REFRESH_MARGIN_SECONDS = 300.0


class TokenCredential(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class StaticToken:
    token: str
    expires_on: int


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_dynamics_url(url: str) -> str:
    """`url` if it is an absolute https URL (http is allowed on loopback only), else ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("DYNAMICS_URL must be an absolute https URL")
    if parts.scheme == "http" and not is_loopback_url(url):
        raise ValueError("DYNAMICS_URL must use https unless it points at this machine (loopback)")
    if parts.username or parts.password:
        raise ValueError("DYNAMICS_URL must not carry credentials")
    return url


class StaticTokenCredential:
    """A fixed bearer token for the local emulator; refuses to serve any non-loopback URL."""

    def __init__(self, token: str, url: str) -> None:
        if not token:
            raise ValueError("a static token must not be empty")
        if not is_loopback_url(url):
            raise ValueError("a static token is only for a Dataverse emulator on loopback")
        self._token = token
        self._host = urlsplit(url).hostname

    def get_token(self, *scopes: str, **kwargs: Any) -> StaticToken:
        for scope in scopes:
            if not is_loopback_url(scope):
                raise ValueError("a static token is only for a Dataverse emulator on loopback")
        return StaticToken(self._token, int(time.time()) + 24 * 3600)

    def __repr__(self) -> str:
        return f"StaticTokenCredential(host={self._host!r})"


def credential_for(url: str, static_token: str | None = None) -> TokenCredential:
    """The credential for `url`: the static token when given (loopback only), else `DefaultAzureCredential`."""
    check_dynamics_url(url)
    if static_token:
        return StaticTokenCredential(static_token, url)
    from azure.identity import DefaultAzureCredential  # imported late: costly, and unused locally

    return DefaultAzureCredential()


def scope_for(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/.default"


class TokenCache:
    """One token per client, shared by every thread using it."""

    def __init__(
        self, credential: TokenCredential, scope: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        if not callable(getattr(credential, "get_token", None)):
            raise TypeError("credential must have a get_token(*scopes) method")
        self._credential = credential
        self._scope = scope
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_on - REFRESH_MARGIN_SECONDS:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (Dataverse refused it), unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> None:
        try:
            access = self._credential.get_token(self._scope)
        except Exception as exc:  # any credential's failure is an authentication failure to us
            raise DataverseAuthError(0, "", f"could not get a token: {type(exc).__name__}") from exc
        token = getattr(access, "token", None)
        if not isinstance(token, str) or not token:
            raise DataverseAuthError(0, "", "the credential returned no token")
        self._token = token
        self._expires_on = float(getattr(access, "expires_on", 0) or 0)
