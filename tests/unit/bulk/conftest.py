"""The bulk layer against the reset emulator, through the real client (waits recorded, not slept)."""

from tests.unit.dynamics.conftest import Sleeps, client, make_client, sleeps

__all__ = ["Sleeps", "client", "make_client", "sleeps"]
