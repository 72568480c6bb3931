"""A client wired to the reset emulator, with a sleep that records what it was asked to wait."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from shared.dynamics import DataverseClient, RetryPolicy, StaticTokenCredential
from tests.conftest import Dataverse


class Sleeps(list[float]):
    """Records every wait; `real` makes the waits happen (for time-window limits)."""

    def __init__(self) -> None:
        super().__init__()
        self.real = False

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.real:
            time.sleep(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(dataverse: Dataverse, sleeps: Sleeps) -> Callable[..., DataverseClient]:
    def make(credential: object | None = None, **policy: object) -> DataverseClient:
        retry = RetryPolicy(sleep=sleeps, **policy)  # type: ignore[arg-type]
        cred = credential or StaticTokenCredential(dataverse.token, dataverse.root)
        return DataverseClient(dataverse.root, cred, timeout=(2.0, 10.0), retry=retry)  # type: ignore[arg-type]

    return make


@pytest.fixture
def client(make_client: Callable[..., DataverseClient]) -> DataverseClient:
    return make_client()
