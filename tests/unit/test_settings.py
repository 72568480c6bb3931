"""Settings validation: fail fast, name the setting, never show a secret."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError

STORAGE = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0LWtleQ==;EndpointSuffix=core.windows.net"
BASE = {"DYNAMICS_URL": "https://org.crm.dynamics.com", "AzureWebJobsStorage": STORAGE}


def settings(**overrides: str | None) -> Settings:
    env = {**BASE, **overrides}
    return Settings.from_env({k: v for k, v in env.items() if v is not None})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://org.crm.dynamics.com", "https://org.crm.dynamics.com"),
        ("https://org.crm.dynamics.com/", "https://org.crm.dynamics.com"),
        ("https://org.crm4.dynamics.com/api/data/v9.2", "https://org.crm4.dynamics.com"),
        ("https://org.crm4.dynamics.com/api/data/v9.2/", "https://org.crm4.dynamics.com"),
        ("http://127.0.0.1:7072", "http://127.0.0.1:7072"),
        ("http://localhost:7072/api/data/v9.2", "http://localhost:7072"),
        ("http://[::1]:7072", "http://[::1]:7072"),
    ],
)
def test_when_the_url_is_acceptable_it_is_normalised_to_the_organisation_root(url: str, expected: str) -> None:
    assert settings(DYNAMICS_URL=url).dynamics_url == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://org.crm.dynamics.com",
        "ftp://org.crm.dynamics.com",
        "org.crm.dynamics.com",
        "https://user:pass@org.crm.dynamics.com",
        "https://org.crm.dynamics.com/somewhere",
        "https://org.crm.dynamics.com?x=1",
        "http://10.0.0.5:7072",
    ],
)
def test_when_the_url_is_unsafe_or_malformed_settings_fail_naming_it(url: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings(DYNAMICS_URL=url)
    assert "DYNAMICS_URL" in str(raised.value)
    assert "pass" not in str(raised.value)


def test_when_required_settings_are_missing_every_one_is_named() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({})
    message = str(raised.value)
    assert "DYNAMICS_URL is required" in message
    assert "AzureWebJobsStorage is required" in message
    assert len(raised.value.problems) == 2


def test_when_a_setting_is_blank_it_counts_as_missing() -> None:
    with pytest.raises(SettingsError, match="DYNAMICS_URL is required"):
        settings(DYNAMICS_URL="  ")


def test_when_a_static_token_comes_with_a_remote_url_it_is_refused() -> None:
    with pytest.raises(SettingsError) as raised:
        settings(DYNAMICS_STATIC_TOKEN="super-secret-token")
    assert "DYNAMICS_STATIC_TOKEN" in str(raised.value)
    assert "loopback" in str(raised.value)
    assert "super-secret-token" not in str(raised.value)


def test_when_a_static_token_comes_with_a_loopback_url_it_is_kept() -> None:
    s = settings(DYNAMICS_URL="http://127.0.0.1:7072", DYNAMICS_STATIC_TOKEN="local-token")
    assert s.dynamics_static_token is not None
    assert s.dynamics_static_token.get_secret_value() == "local-token"
    assert s.dynamics_is_loopback


def test_no_secret_appears_in_repr_or_str() -> None:
    s = settings(DYNAMICS_URL="http://127.0.0.1:7072", DYNAMICS_STATIC_TOKEN="local-token",
                 AZURE_CLIENT_SECRET="client-secret-value", AZURE_TENANT_ID="t", AZURE_CLIENT_ID="c")
    for text in (repr(s), str(s)):
        assert "local-token" not in text
        assert "c2VjcmV0LWtleQ==" not in text
        assert "client-secret-value" not in text


@pytest.mark.parametrize("value", ["not a connection string", "Foo=bar", "AccountKey=abc"])
def test_when_the_storage_connection_string_is_unusable_it_is_named_not_shown(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings(AzureWebJobsStorage=value)
    assert "AzureWebJobsStorage" in str(raised.value)
    assert value not in str(raised.value)


def test_development_storage_is_accepted() -> None:
    assert settings(AzureWebJobsStorage="UseDevelopmentStorage=true").storage_connection_string


def test_optional_settings_have_safe_defaults_and_limits() -> None:
    s = settings()
    assert s.idempotency_retention_days == 7
    assert s.idempotency_lease_seconds > 600  # longer than host.json functionTimeout (10 min)
    with pytest.raises(SettingsError, match="IDEMPOTENCY_RETENTION_DAYS"):
        settings(IDEMPOTENCY_RETENTION_DAYS="3")
    assert settings(IDEMPOTENCY_LEASE_SECONDS="5").idempotency_lease_seconds == 5  # tests shorten it
    for out_of_range in ("4", "86401", "soon"):
        with pytest.raises(SettingsError, match="IDEMPOTENCY_LEASE_SECONDS"):
            settings(IDEMPOTENCY_LEASE_SECONDS=out_of_range)
    assert s.person_lock_lease_seconds == 60
    for out_of_range in ("4", "601"):
        with pytest.raises(SettingsError, match="PERSON_LOCK_LEASE_SECONDS"):
            settings(PERSON_LOCK_LEASE_SECONDS=out_of_range)
    with pytest.raises(SettingsError, match="IDEMPOTENCY_TABLE"):
        settings(IDEMPOTENCY_TABLE="bad-name!")
    with pytest.raises(SettingsError, match="CONFIG_CONTAINER"):
        settings(CONFIG_CONTAINER="Upper_Case")


def test_a_client_secret_without_tenant_and_client_id_is_refused() -> None:
    with pytest.raises(SettingsError) as raised:
        settings(AZURE_CLIENT_SECRET="shh-secret")
    assert "AZURE_CLIENT_SECRET needs AZURE_TENANT_ID and AZURE_CLIENT_ID" in str(raised.value)
    assert "shh-secret" not in str(raised.value)
    full = settings(AZURE_CLIENT_SECRET="shh", AZURE_TENANT_ID="contoso.onmicrosoft.com", AZURE_CLIENT_ID="app")
    assert full.azure_client_id == "app"
    assert settings(AZURE_CLIENT_ID="user-assigned-identity").azure_client_secret is None
