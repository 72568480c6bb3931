"""Fixtures of the journey-step function tests, loaded with `pytest_plugins` by those modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools import stack
from tests.functions.journey_helpers import ConfigDocument, Dynamics, Journey, config_document


@pytest.fixture
def journey(function_host: stack.Service, function_key: str) -> Journey:
    return Journey(function_host.url, function_key)


@pytest.fixture
def dynamics(dataverse: Any) -> Dynamics:
    dyn = Dynamics(dataverse.root, dataverse.api, dataverse.token)
    dyn.faults({})
    return dyn


@pytest.fixture
def config(storage_connection_string: str) -> Iterator[ConfigDocument]:
    yield from config_document(storage_connection_string)
