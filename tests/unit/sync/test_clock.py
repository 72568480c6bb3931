"""SYNC_CLOCK_OFFSET_SECONDS shifts the sync's now only for a loopback Dynamics."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from shared.settings import Settings
from shared.sync.runs import now


def deps_for(url: str, offset: int) -> Any:
    settings = Settings.from_env({"DYNAMICS_URL": url, "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                  "SYNC_CLOCK_OFFSET_SECONDS": str(offset)})
    return SimpleNamespace(settings=settings)


def test_when_dynamics_is_loopback_the_offset_moves_now() -> None:
    shifted = now(deps_for("http://127.0.0.1:7072", 3600))
    assert shifted - dt.datetime.now(dt.UTC) > dt.timedelta(minutes=59)


def test_when_dynamics_is_real_the_offset_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        moment = now(deps_for("https://contoso.crm.dynamics.com", 3600))
    assert abs(moment - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert "SYNC_CLOCK_OFFSET_SECONDS is ignored" in caplog.text


def test_an_offset_that_is_not_an_integer_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="SYNC_CLOCK_OFFSET_SECONDS"):
        deps_for("http://127.0.0.1:7072", 0).settings.from_env(
            {"DYNAMICS_URL": "http://127.0.0.1:7072", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
             "SYNC_CLOCK_OFFSET_SECONDS": "soon"})


@pytest.mark.parametrize(("name", "value"), [("SYNC_PAGE_SIZE", "0"), ("SYNC_PAGE_SIZE", "5001"),
                                             ("SYNC_RUN_SLICE_SECONDS", "9"), ("SYNC_RUN_SLICE_SECONDS", "541"),
                                             ("SYNC_TABLE", "no-dashes")])
def test_sync_settings_out_of_range_are_settings_errors(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({"DYNAMICS_URL": "http://127.0.0.1:7072", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                           name: value})
