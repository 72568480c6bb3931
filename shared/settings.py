"""App settings, read from the environment once per worker and validated before anything runs.

`Settings.from_env()` raises `SettingsError` naming every bad setting; no message and no repr
holds a secret (the static token, the storage connection string and the client secret are
`SecretStr`, and values are never echoed back in messages).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

API_SUFFIX = "/api/data/v9.2"

# Environment variable -> field. Everything the function app reads from its app settings.
_ENV_NAMES: dict[str, str] = {
    "dynamics_url": "DYNAMICS_URL",
    "dynamics_static_token": "DYNAMICS_STATIC_TOKEN",
    "storage_connection_string": "AzureWebJobsStorage",
    "azure_tenant_id": "AZURE_TENANT_ID",
    "azure_client_id": "AZURE_CLIENT_ID",
    "azure_client_secret": "AZURE_CLIENT_SECRET",
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "idempotency_retention_days": "IDEMPOTENCY_RETENTION_DAYS",
    "idempotency_lease_seconds": "IDEMPOTENCY_LEASE_SECONDS",
    "person_lock_lease_seconds": "PERSON_LOCK_LEASE_SECONDS",
    "config_container": "CONFIG_CONTAINER",
    "journey_batch_table": "JOURNEY_BATCH_TABLE",
    "journey_batch_slice_seconds": "JOURNEY_BATCH_SLICE_SECONDS",
    "campaign_export_table": "CAMPAIGN_EXPORT_TABLE",
    "sync_table": "SYNC_TABLE",
    "sync_page_size": "SYNC_PAGE_SIZE",
    "sync_run_slice_seconds": "SYNC_RUN_SLICE_SECONDS",
    "sync_clock_offset_seconds": "SYNC_CLOCK_OFFSET_SECONDS",
    "platform_updates_connection": "PLATFORM_UPDATES_CONNECTION",
}

# Azure table names: alphanumeric, starting with a letter, 3-63 characters.
TableName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")]
# Blob container names: lowercase letters, digits and single hyphens, 3-63 characters.
ContainerName = Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class SettingsError(ValueError):
    """One or more app settings are missing or unsafe; the message names each of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid app settings: " + "; ".join(problems))
        self.problems = problems


def is_loopback_host(host: str | None) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    """The validated app settings. Build it with `Settings.from_env()`."""

    # Built when a worker first reads its settings, not when a function is imported.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True, defer_build=True)

    dynamics_url: str
    """Organisation root without the Web API suffix, e.g. `https://org.crm.dynamics.com`."""
    dynamics_static_token: SecretStr | None = None
    """A fixed bearer token: only for a local emulator on loopback."""
    storage_connection_string: SecretStr
    azure_tenant_id: str | None = None
    azure_client_id: str | None = None
    azure_client_secret: SecretStr | None = None
    idempotency_table: TableName = "idempotency"
    idempotency_retention_days: int = Field(default=7, ge=7, le=365)
    idempotency_lease_seconds: int = Field(default=900, ge=5, le=86_400)
    """How long a pending idempotency claim blocks retries; must exceed host.json functionTimeout
    (tests lower it to see a crashed attempt taken over quickly)."""
    person_lock_lease_seconds: int = Field(default=60, ge=5, le=600)
    """How long a person lock of a step that died blocks that person; longer than a step's
    slowest look-up and write (the Dataverse client's 60 s read timeout)."""
    config_container: ContainerName = "connector-config"
    journey_batch_table: TableName = "journeybatches"
    journey_batch_slice_seconds: int = Field(default=480, ge=10, le=540)
    """How long one JourneyBatch delivery works before it stores its progress and re-enqueues
    the message (the promised 8 minutes; below functionTimeout, 600 s). CampaignExport uses it too."""
    campaign_export_table: TableName = "campaignexports"
    sync_table: TableName = "sync"
    """The scheduled sync's table: where each kind stands, the ledger, pending work, runs."""
    sync_page_size: int = Field(default=5000, ge=1, le=5000)
    """Rows per page of an initial sync (one checkpoint per page)."""
    sync_run_slice_seconds: int = Field(default=480, ge=10, le=540)
    """How long one delivery of a run works before it checkpoints and hands the run on."""
    sync_clock_offset_seconds: int = 0
    """Shifts the sync's notion of now (schedule, recorded times); honoured only for a loopback Dynamics."""
    platform_updates_connection: SecretStr | None = None
    """The storage account of the `platform-updates` queue, when not `AzureWebJobsStorage`."""

    @field_validator("dynamics_url")
    @classmethod
    def _check_dynamics_url(cls, value: str) -> str:
        value = value.strip()
        try:
            parts = urlsplit(value)
            host = parts.hostname
            _ = parts.port  # raises on a malformed port
        except ValueError:
            raise ValueError("is not a valid URL") from None
        if parts.scheme not in ("https", "http") or not host:
            raise ValueError("must be an absolute https URL such as https://org.crm.dynamics.com")
        if parts.username or parts.password:
            raise ValueError("must not contain credentials")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        if parts.scheme == "http" and not is_loopback_host(host):
            raise ValueError("must use https (plain http is accepted only for a loopback address)")
        path = parts.path.rstrip("/")
        if path.lower().endswith(API_SUFFIX):
            path = path[: -len(API_SUFFIX)].rstrip("/")
        if path:
            raise ValueError(f"must be the organisation root (optionally ending in {API_SUFFIX})")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("storage_connection_string")
    @classmethod
    def _check_storage(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        pairs = _connection_string_pairs(text)
        if pairs.get("usedevelopmentstorage", "").lower() == "true":
            return SecretStr(text)
        if not pairs:
            raise ValueError("is not a storage connection string (Key=Value;... pairs)")
        has_account = "accountname" in pairs or any(
            name in pairs for name in ("blobendpoint", "queueendpoint", "tableendpoint")
        )
        if not has_account:
            raise ValueError("must name the account (AccountName=...) or its endpoints")
        return SecretStr(text)

    @model_validator(mode="after")
    def _static_token_only_on_loopback(self) -> Settings:
        if self.dynamics_static_token is not None and not is_loopback_host(urlsplit(self.dynamics_url).hostname):
            raise ValueError(
                "DYNAMICS_STATIC_TOKEN is only for a local emulator and is refused unless DYNAMICS_URL "
                "is a loopback address; remove it and use an Azure credential"
            )
        return self

    @model_validator(mode="after")
    def _service_principal_complete(self) -> Settings:
        # AZURE_CLIENT_ID alone is valid (a user-assigned managed identity); a secret is not.
        if self.azure_client_secret is not None and not (self.azure_tenant_id and self.azure_client_id):
            raise ValueError("AZURE_CLIENT_SECRET needs AZURE_TENANT_ID and AZURE_CLIENT_ID as well")
        return self

    @property
    def dynamics_is_loopback(self) -> bool:
        return is_loopback_host(urlsplit(self.dynamics_url).hostname)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; raise `SettingsError` naming every bad one."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        for field_name, env_name in _ENV_NAMES.items():
            raw = env.get(env_name)
            if raw is not None and raw.strip() != "":
                data[field_name] = raw.strip()
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None


def _connection_string_pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        if "=" in part:
            name, _, value = part.partition("=")
            pairs[name.strip().lower()] = value.strip()
    return pairs


def _describe(exc: ValidationError) -> list[str]:
    """One line per problem, naming the environment variable, never echoing a value."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = error["loc"]
        name = _ENV_NAMES.get(str(loc[0]), str(loc[0])) if loc else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            problems.append(f"{name} is required but not set")
        elif name:
            problems.append(f"{name}: {message}")
        else:
            problems.append(message)
    return problems
