"""Test hooks outside the OData root (`/_emulator/...`), without authentication."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .protocol import Response
from .seed import SeedError
from .values import LookupRef

if TYPE_CHECKING:
    from .server import EmulatorServer


def _json(status: int, payload: Any) -> Response:
    return Response(status, [("Content-Type", "application/json")], json.dumps(payload).encode("utf-8"))


def _raw(value: Any) -> Any:
    if isinstance(value, LookupRef):
        return {"table": value.table, "id": value.id}
    return value


def handle_hook(server: EmulatorServer, method: str, path: str, body: bytes) -> Response:
    app = server.app
    name = path[len("/_emulator/"):].split("?", 1)[0].strip("/")
    try:
        payload = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _json(400, {"error": f"body is not JSON: {exc}"})
    try:
        if name == "reset" and method == "POST":
            app.reset()
            server.faults.clear()
            server.stats.clear()
            return _json(200, {"status": "reset"})
        if name == "seed" and method == "POST":
            created = app.seed(payload)
            app.persist()
            return _json(200, created)
        if name == "faults":
            if method == "POST":
                return _json(200, server.faults.configure(payload))
            if method == "DELETE":
                server.faults.clear()
                return _json(200, {})
            return _json(200, server.faults.config)
        if name == "stats" and method == "GET":
            return _json(200, server.stats.snapshot())
        if name == "config":
            return _json(200, app.configure(payload) if method == "POST" else dict(app.config))
        if name == "expire-delta-tokens" and method == "POST":
            app.expire_delta_tokens()
            return _json(200, {"floorVersion": app.store.floor_version})
        if name.startswith("records/") and method == "GET":
            table = app.schema.by_set(name[len("records/"):])
            if table is None:
                return _json(404, {"error": f"unknown entity set {name[len('records/'):]!r}"})
            with app.lock:
                rows = app.store.scan(table.logical_name)
            return _json(200, {"value": [{k: _raw(v) for k, v in r.items()} for r in rows]})
        if name == "identity" and method == "GET":
            identity = app.identity
            return _json(200, {"UserId": identity.user_id, "BusinessUnitId": identity.business_unit_id,
                               "OrganizationId": identity.organization_id, "token": server.token})
    except (SeedError, ValueError, TypeError, KeyError) as exc:
        return _json(400, {"error": str(exc)})
    return _json(404, {"error": f"no test hook {method} /_emulator/{name}"})
