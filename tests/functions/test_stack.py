"""devtools.stack: how the local stack's parts are started (used by make, the demo and the tests)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import requests

from devtools import stack


@pytest.mark.slow
def test_when_the_emulator_serves_tls_it_is_polled_and_called_with_its_own_certificate(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unverified poll would warn (InsecureRequestWarning)
        service = stack.start_emulator(tmp_path, tls=True)
    try:
        bundle = service.env["REQUESTS_CA_BUNDLE"]
        assert service.url.startswith("https://127.0.0.1:")
        assert Path(bundle).read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert requests.get(f"{service.url}/_emulator/stats", verify=bundle, timeout=10).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{service.url}/_emulator/stats", timeout=10)  # not trusted without the bundle
    finally:
        service.stop()


def test_when_the_emulator_serves_plain_http_no_certificate_is_named(tmp_path: Path) -> None:
    service = stack.start_emulator(tmp_path)
    try:
        assert service.url.startswith("http://127.0.0.1:")
        assert "REQUESTS_CA_BUNDLE" not in service.env
        assert set(service.env) == {"DYNAMICS_URL", "DYNAMICS_STATIC_TOKEN"}
    finally:
        service.stop()
