"""A local host for the function folders. A development tool, never deployed.

Azure Functions Core Tools cannot be installed everywhere (its npm package downloads a binary
at install time), so this package runs the folders of a v1-model Python function app itself,
as their ``function.json`` and the app's ``host.json`` say::

    python -m devtools.localhost --host 127.0.0.1 --port 7071 [--root DIR]

- ``httpTrigger``: ``/<routePrefix>/<route>``, methods, function keys (``LOCAL_FUNCTION_KEY``
  in ``x-functions-key`` or ``?code=``); host-made errors are problem+json with x-request-id.
- ``queueTrigger``: polls Azure Storage (Azurite) with ``extensions.queues`` from host.json,
  retries after ``visibilityTimeout`` and moves a message to ``<queue>-poison`` after
  ``maxDequeueCount`` failed deliveries.
- ``timerTrigger``: six-field NCRONTAB schedules in UTC, ``%Setting%``, ``runOnStartup``.
- ``POST /admin/functions/<Name>`` runs a queue or timer function now (master key =
  ``LOCAL_FUNCTION_KEY``), as Core Tools does; ``GET /admin/host/ping`` answers when ready.

Modules: ``config`` (settings, host.json), ``functions`` (folders, invocation), ``web`` (HTTP),
``queues``, ``timers``, ``host`` (lifecycle, ``main``).

Settings come from the environment, then from the ``Values`` of ``local.settings.json`` (or
``local.settings.example.json`` when there is none) under the app root; the environment wins.
SIGINT/SIGTERM stop the listeners, let running invocations finish, then exit.
"""

from devtools.localhost.config import HostOptions, QueueOptions, parse_timespan
from devtools.localhost.functions import Function, discover, invoke
from devtools.localhost.host import LocalHost, main

__all__ = ["Function", "HostOptions", "LocalHost", "QueueOptions", "discover", "invoke", "main", "parse_timespan"]
