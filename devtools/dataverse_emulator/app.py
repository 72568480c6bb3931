"""The emulator: schema, store, configuration and the entry point that turns a request into a response."""

from __future__ import annotations

import copy
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from .context import Context
from .errors import ODataError
from .identity import Identity
from .protocol import Request, Response, error_response
from .router import handle
from .schema import Schema
from .seed import SeedError, apply_records, apply_schema
from .store import Store
from .writes import Writer

DEFAULT_CONFIG: dict[str, Any] = {
    "changeTrackingRetentionDays": 7,
    "expiredDeltaTokenStatus": 400,
    "expiredDeltaTokenCode": "0x80040203",
    "invalidDeltaTokenCode": "0x80040203",
    # Further bearer tokens accepted besides --token; each counts as its own user for the limits.
    "additionalTokens": [],
    # Tables (logical names) offering CreateMultiple/UpdateMultiple/UpsertMultiple; None: every
    # table. Which tables offer them in a real org is unconfirmed (reference 8.3), so a client
    # must work either way.
    "bulkActionTables": None,
}


class Emulator:
    def __init__(self, startup_seed: dict[str, Any] | None = None, data_file: Path | None = None) -> None:
        self.identity = Identity()
        self.store = Store()
        self.lock = self.store.lock
        self.startup_seed = startup_seed
        self.data_file = data_file
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.schema = Schema.default()
        self._schema_specs: list[dict[str, Any]] = []
        if data_file is not None and data_file.exists():
            self._load(data_file)
        else:
            self.reset()

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.schema = Schema.default()
            self._schema_specs = []
            self.config = dict(DEFAULT_CONFIG)
            self.store.clear()
            self._builtin_rows()
            if self.startup_seed:
                self.seed(self.startup_seed)
            self.persist()

    def _builtin_rows(self) -> None:
        writer = self._writer()
        identity = self.identity
        writer.create(self.schema.table("businessunit"), {"name": "Emulated Organization"},
                      record_id=identity.business_unit_id)
        writer.create(self.schema.table("transactioncurrency"), {
            "currencyname": "US Dollar", "isocurrencycode": "USD", "currencysymbol": "$", "exchangerate": 1.0,
        }, record_id=identity.currency_id)
        writer.create(self.schema.table("systemuser"), {
            "firstname": "Dataverse", "lastname": "Emulator", "domainname": "emulator@localhost",
            "internalemailaddress": "emulator@localhost", "accessmode": 4,
            "applicationid": "00000000-0000-0000-0000-0000000000e1",
        }, record_id=identity.user_id)

    def seed(self, data: dict[str, Any]) -> dict[str, list[str]]:
        if not isinstance(data, dict):
            raise SeedError("a seed is a JSON object mapping entity sets to lists of records")
        with self.lock:
            schema_part = {k: v for k, v in data.items() if k.startswith("$")}
            candidate = self.schema.copy()
            apply_schema(candidate, schema_part)
            previous = self.schema
            self.schema = candidate
            try:
                created = apply_records(self.schema, self.store, self._writer(), data)
            except SeedError:
                self.schema = previous
                raise
            if schema_part:
                self._schema_specs.append(schema_part)
            return created

    def _writer(self) -> Writer:
        return Writer(self.schema, self.store, self.identity.caller(), seeding=True)

    def configure(self, values: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            for key, value in values.items():
                if key not in DEFAULT_CONFIG:
                    raise SeedError(f"unknown setting {key!r}")
                self.config[key] = value
            return dict(self.config)

    def expire_delta_tokens(self) -> None:
        with self.lock:
            self.store.floor_version = self.store.next_version()

    # -- requests ---------------------------------------------------------------------------
    def execute(self, request: Request) -> Response:
        return self.execute_counted(request)[0]

    def execute_counted(self, request: Request) -> tuple[Response, int]:
        """The response and the number of Dataverse operations it took."""
        ctx = Context(self, request)
        with self.lock:
            try:
                with self.store.transaction():  # a refused request leaves no partial writes behind
                    response = handle(ctx)
            except ODataError as error:
                response = error_response(error)
            except RecursionError:
                response = error_response(ODataError(400, "0x80060888", "The request is nested too deeply."))
            except Exception as exc:  # a bug in the emulator: say so loudly, keep serving
                traceback.print_exc(file=sys.stderr)
                response = error_response(ODataError(
                    500, "0x80040216", f"Unexpected error in the Dataverse emulator: {type(exc).__name__}: {exc}"))
        return response, ctx.operations

    # -- persistence ------------------------------------------------------------------------
    def persist(self) -> None:
        if self.data_file is None:
            return
        with self.lock:
            self.store.save_to(self.data_file, {"schema": self._schema_specs, "config": self.config})

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.schema = Schema.default()
        for spec in data.get("schema", []):
            apply_schema(self.schema, spec)
        self._schema_specs = copy.deepcopy(data.get("schema", []))
        self.config = {**DEFAULT_CONFIG, **data.get("config", {})}
        self.store.load(data["store"])


