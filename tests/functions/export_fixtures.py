"""Fixtures of the CampaignExport tests: a function host of their own (so the worker's column
metadata cache always sees the seeded custom columns), the seeded emulator, the configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import stack
from tests.conftest import FUNCTION_KEY
from tests.functions.export_helpers import COLUMNS, CONFIG, Exports
from tests.functions.journey_helpers import ConfigDocument, Dynamics, config_document


@pytest.fixture(scope="module")
def export_host(stack_logs: Path, azurite: stack.Service, emulator: stack.Service) -> Iterator[stack.Service]:
    env = {**azurite.env, **emulator.env, "LOCAL_FUNCTION_KEY": FUNCTION_KEY}
    service = stack.start_function_host(stack_logs, env)
    yield service
    service.stop(timeout=60.0)


@pytest.fixture
def columns(dynamics: Dynamics) -> Dynamics:
    """The emulator with the export's custom columns and systemusers."""
    dynamics.seed(COLUMNS)
    return dynamics


@pytest.fixture
def export_config(storage_connection_string: str) -> Iterator[ConfigDocument]:
    for document in config_document(storage_connection_string):
        document.set(CONFIG)
        yield document


@pytest.fixture
def exports(export_host: stack.Service, function_key: str, storage_connection_string: str) -> Exports:
    return Exports(export_host.url, function_key, storage_connection_string)
