"""Error mapping, the retry policy's arithmetic and credentials (no I/O); masking is tests/unit/test_masking.py."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from shared.dynamics import (
    ConcurrencyError,
    DataverseAuthError,
    DataverseClient,
    DataverseError,
    DataverseRequestError,
    DataverseThrottledError,
    DataverseUnavailableError,
    RecordExistsError,
    RecordNotFoundError,
    RetryPolicy,
    StaticTokenCredential,
    credential_for,
    primary_key,
)
from shared.dynamics.auth import TokenCache, check_dynamics_url, scope_for
from shared.dynamics.errors import error_from_parts
from shared.dynamics.retry import parse_retry_after


def body(code: str, message: str = "m") -> dict:
    return {"error": {"code": code, "message": message}}


@pytest.mark.parametrize(
    ("status", "payload", "sent_etag", "expected"),
    [
        (401, body("0x80044306"), False, DataverseAuthError),
        (403, body("0x80040220"), False, DataverseAuthError),
        (404, body("0x80040217"), False, RecordNotFoundError),
        (404, body("0x8006088a"), False, RecordNotFoundError),
        (412, body("0x80040237", "Cannot insert duplicate key."), False, RecordExistsError),
        (412, body("0x80060892"), False, RecordExistsError),
        (412, body("", "A record with matching key values already exists."), True, RecordExistsError),
        (412, body("0x80060882"), False, ConcurrencyError),
        (412, body("0x0", "precondition"), True, ConcurrencyError),
        (412, body("0x0", "precondition"), False, RecordExistsError),
        (500, body("0x80040333"), False, RecordExistsError),
        (400, body("0x0", "Could not find a property named 'Name'"), False, DataverseRequestError),
        (405, body("0x80040227"), False, DataverseRequestError),
        (429, body("0x80072322"), False, DataverseThrottledError),
        (500, body("0x80040216"), False, DataverseUnavailableError),
        (503, "Service Unavailable", False, DataverseUnavailableError),
        (502, None, False, DataverseUnavailableError),
    ],
)
def test_when_dataverse_refuses_the_error_class_follows_status_and_code(
    status: int, payload: object, sent_etag: bool, expected: type
) -> None:
    error = error_from_parts(status, payload, sent_etag=sent_etag, retry_after=7)
    assert type(error) is expected
    assert isinstance(error, DataverseError)
    assert error.status == status
    if isinstance(payload, dict):
        assert error.code == payload["error"]["code"]
        assert error.message == payload["error"]["message"]
    if isinstance(error, DataverseThrottledError):
        assert error.retry_after == 7


def test_when_a_throttle_is_a_kind_of_unavailability_callers_can_catch_either() -> None:
    assert issubclass(DataverseThrottledError, DataverseUnavailableError)


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("5", 5.0), (" 2 ", 2.0), ("0", 0.0), ("-3", 0.0), ("soon", None), ("nan", None)],
)
def test_when_retry_after_is_read_seconds_come_back(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_when_retry_after_is_an_http_date_it_becomes_seconds_from_now() -> None:
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)


def test_when_backing_off_waits_grow_exponentially_up_to_the_cap_with_jitter() -> None:
    low = RetryPolicy(backoff_base=0.5, backoff_max=4.0, random=lambda: 0.0)
    high = RetryPolicy(backoff_base=0.5, backoff_max=4.0, random=lambda: 1.0)
    assert [low.backoff(n) for n in range(1, 6)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [high.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_when_the_budget_runs_out_no_further_wait_is_allowed() -> None:
    now = [100.0]
    policy = RetryPolicy(max_attempts=3, max_elapsed=10.0, clock=lambda: now[0], sleep=lambda s: None)
    budget = policy.start()
    budget.attempt()
    assert budget.can_wait(9.0)
    assert not budget.can_wait(10.5)
    now[0] += 5
    assert not budget.can_wait(6.0)
    budget.attempt()
    budget.attempt()
    assert not budget.can_wait(0.0)  # attempts exhausted


def test_when_a_policy_is_nonsensical_it_is_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(max_elapsed=-1)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:7071/", "http://[::1]:9000", "https://contoso.crm.dynamics.com"],
)
def test_when_the_url_is_https_or_loopback_it_is_accepted(url: str) -> None:
    assert check_dynamics_url(url) == url
    client = DataverseClient(url, CountingCredential(lifetime=3600))
    assert client.api_url == url.rstrip("/") + "/api/data/v9.2/"


@pytest.mark.parametrize(
    "url", ["http://contoso.crm.dynamics.com", "ftp://127.0.0.1", "contoso.crm.dynamics.com", "https://u:p@x.com"]
)
def test_when_the_url_is_plain_http_off_loopback_or_odd_it_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        credential_for(url)
    with pytest.raises(ValueError):
        DataverseClient(url, CountingCredential(lifetime=3600))


@pytest.mark.parametrize("url", ["https://contoso.crm.dynamics.com", "https://127.0.0.1.nip.io", "https://localhost.evil.com"])
def test_when_a_static_token_is_asked_for_a_remote_url_it_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        credential_for(url, static_token="secret")
    with pytest.raises(ValueError):
        StaticTokenCredential("secret", url)


def test_when_a_static_token_credential_is_used_against_a_remote_client_it_is_refused() -> None:
    credential = StaticTokenCredential("secret", "http://127.0.0.1:1")
    with pytest.raises(ValueError):
        DataverseClient("https://contoso.crm.dynamics.com", credential)
    with pytest.raises(ValueError):
        credential.get_token("https://contoso.crm.dynamics.com/.default")
    assert "secret" not in repr(credential)


def test_when_no_static_token_is_given_the_default_azure_credential_is_used() -> None:
    from azure.identity import DefaultAzureCredential

    assert isinstance(credential_for("https://contoso.crm.dynamics.com"), DefaultAzureCredential)


def test_when_the_scope_is_derived_it_is_the_org_root_default() -> None:
    assert scope_for("https://contoso.crm4.dynamics.com/api/data/v9.2/") == "https://contoso.crm4.dynamics.com/.default"


@pytest.mark.parametrize(
    "url", ["https://contoso.crm.dynamics.com/api/data/v9.1", "https://contoso.crm.dynamics.com/x", "https://c.com/?a=1"]
)
def test_when_the_base_url_is_not_the_org_root_it_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        DataverseClient(url, StaticTokenCredential("t", "http://127.0.0.1"))


def test_when_the_base_url_carries_the_api_path_it_is_accepted() -> None:
    client = DataverseClient("http://127.0.0.1:5/api/data/v9.2/", StaticTokenCredential("t", "http://127.0.0.1"))
    assert client.api_url == "http://127.0.0.1:5/api/data/v9.2/"


class CountingCredential:
    def __init__(self, lifetime: float) -> None:
        self.calls = 0
        self.lifetime = lifetime

    def get_token(self, *scopes: str, **kwargs: object) -> object:
        self.calls += 1
        return type("Tok", (), {"token": f"t{self.calls}", "expires_on": time.time() + self.lifetime})()


def test_when_the_token_is_fresh_it_is_reused_and_refreshed_shortly_before_expiry() -> None:
    credential = CountingCredential(lifetime=3600)
    cache = TokenCache(credential, "https://x/.default")
    assert cache.token() == cache.token() == "t1"
    short = CountingCredential(lifetime=60)  # inside the refresh margin: fetched every time
    cache = TokenCache(short, "https://x/.default")
    cache.token()
    cache.token()
    assert short.calls == 2


def test_when_a_token_is_invalidated_the_next_call_fetches_another() -> None:
    credential = CountingCredential(lifetime=3600)
    cache = TokenCache(credential, "https://x/.default")
    cache.invalidate(cache.token())
    assert cache.token() == "t2"
    cache.invalidate("t1")  # stale news: keeps t2
    assert cache.token() == "t2"


def test_when_the_credential_fails_it_is_an_auth_error_from_the_cause() -> None:
    class Broken:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            raise RuntimeError("no managed identity here")

    with pytest.raises(DataverseAuthError) as info:
        TokenCache(Broken(), "https://x/.default").token()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_when_something_without_get_token_is_passed_it_is_refused() -> None:
    with pytest.raises(TypeError):
        DataverseClient("https://contoso.crm.dynamics.com", object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entity_set", "key"),
    [("leads", "leadid"), ("tasks", "activityid"), ("lists", "listid"), ("opportunities", "opportunityid"),
     ("new_widgets", "new_widgetid")],
)
def test_when_a_primary_key_is_derived_known_tables_win(entity_set: str, key: str) -> None:
    assert primary_key(entity_set) == key
