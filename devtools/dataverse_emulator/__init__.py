"""A local emulator of the Dataverse Web API v9.2 (see docs/EMULATOR.md).

It shares no code with the project's Dataverse client on purpose: each checks the other.
"""

from .app import Emulator
from .server import EmulatorServer

__all__ = ["Emulator", "EmulatorServer"]
