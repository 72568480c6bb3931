"""Microsoft's own Python SDK for Dataverse, unmodified, against the emulator served over TLS.

The SDK is a dev dependency: when it is missing these tests fail (they are never skipped).
Slow (the SDK imports pandas), so it runs its own emulator instance on https.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken

from devtools import stack

TOKEN = "sdk-test-token"
SEED = {"$keys": {"contact": [["emailaddress1"]]}}


class _StaticCredential:
    """Any object with get_token(scope) will do for the SDK."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def tls_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.Service]:
    logs = tmp_path_factory.mktemp("sdk-emulator")
    seed = logs / "seed.json"
    seed.write_text(json.dumps(SEED))
    service = stack.start_emulator(logs, token=TOKEN, tls=True, seed=seed)
    yield service
    service.stop()


@pytest.fixture
def sdk(tls_emulator: stack.Service, monkeypatch: pytest.MonkeyPatch) -> object:
    from PowerPlatform.Dataverse.client import DataverseClient

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_emulator.env["REQUESTS_CA_BUNDLE"])
    requests.post(f"{tls_emulator.url}/_emulator/reset", timeout=10, verify=tls_emulator.env["REQUESTS_CA_BUNDLE"])
    return DataverseClient(tls_emulator.url, _StaticCredential())


@pytest.mark.slow
def test_when_the_emulator_serves_tls_its_certificate_is_trusted_by_the_ca_bundle(
        tls_emulator: stack.Service) -> None:
    bundle = tls_emulator.env["REQUESTS_CA_BUNDLE"]
    assert Path(bundle).exists()
    response = requests.get(f"{tls_emulator.url}/api/data/v9.2/WhoAmI", verify=bundle, timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.slow
def test_when_microsofts_sdk_drives_the_emulator_every_journey_works(sdk: object,
                                                                     tls_emulator: stack.Service) -> None:
    client = sdk
    records = client.records  # type: ignore[attr-defined]

    contact_id = records.create("contact", {"firstname": "Ada", "lastname": "Lovelace",
                                            "emailaddress1": "ada@example.com"})
    got = records.retrieve("contact", contact_id, select=["fullname", "emailaddress1"])
    assert got["fullname"] == "Ada Lovelace"

    records.update("contact", contact_id, {"jobtitle": "Analyst"})
    assert records.retrieve("contact", contact_id, select=["jobtitle"])["jobtitle"] == "Analyst"

    many = records.create("contact", [{"lastname": f"Bulk{i:02d}"} for i in range(12)])
    assert len(many) == 12

    pages = list(records.list_pages("contact", select=["lastname"], filter="startswith(lastname,'Bulk')",
                                    orderby=["lastname asc"], page_size=5))
    assert [len(page) for page in pages] == [5, 5, 2]

    from PowerPlatform.Dataverse.models.upsert import UpsertItem

    records.upsert("contact", [UpsertItem(alternate_key={"emailaddress1": "o'brien@x.com"},
                                          record={"lastname": "O'Brien"})])
    records.upsert("contact", [UpsertItem(alternate_key={"emailaddress1": "o'brien@x.com"},
                                          record={"jobtitle": "Writer"})])
    found = list(records.list("contact", select=["lastname", "jobtitle"],
                              filter="emailaddress1 eq 'o''brien@x.com'"))
    assert [(r["lastname"], r["jobtitle"]) for r in found] == [("O'Brien", "Writer")]

    batch = client.batch.new()  # type: ignore[attr-defined]
    with batch.changeset() as change_set:
        change_set.records.create("contact", {"lastname": "InBatch"})
    batch.records.retrieve("contact", contact_id, select=["lastname"])
    result = batch.execute()
    assert [r.status_code for r in result.responses] == [204, 200]

    records.delete("contact", contact_id)
    assert records.retrieve("contact", contact_id) is None

    stats = requests.get(f"{tls_emulator.url}/_emulator/stats", timeout=10, verify=tls_emulator.env["REQUESTS_CA_BUNDLE"]).json()
    assert {"EntityDefinitions", "contacts", "$batch"} <= set(stats["byPath"])
    assert stats["byStatus"].get("500", 0) == 0 and stats["byStatus"].get("501", 0) == 0
