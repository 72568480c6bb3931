"""Platform to Dynamics at the start of a run: pending enqueues (in arrival order) are linked to
the matching record or create one, and pending changes of linked contacts are written to the
kinds whose tags they carry, field by field, with conflicts settled by `conflictPolicy`.

Every write is followed by a read of the row's `versionnumber` and pulled columns into the
ledger, so the pull sees the sync's own write as an echo, never as news.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shared.config import SyncSettings
from shared.dynamics import (
    DataverseError,
    DataverseUnavailableError,
    Expand,
    bind,
)
from shared.resolution import criteria
from shared.steps.config import StepConfig
from shared.steps.create_update_lead import contact_account
from shared.steps.lookups import Lookups, person_lookup
from shared.store.idempotency import derived_id
from shared.store.sync_ledger import LedgerRecord, SyncLedger
from shared.store.sync_pending import PendingChange, PendingEnqueue, SyncPendingStore
from shared.sync.messages import message, platform_fields
from shared.sync.models import SyncPerson
from shared.sync.people import columns_for, eligible
from shared.sync.pull import MAX_CONFLICTS, Tally
from shared.sync.selection import KindReads

if TYPE_CHECKING:
    from shared.dynamics import DataverseClient

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5

_CONTACT_ACCOUNT = Expand("parentcustomerid_account", select=["accountid"])


def flat_value(values: Mapping[str, Any], name: str) -> Any:
    """A platform field's value in the ledger's nested form (`platformFields.score`)."""
    if name.startswith("platformFields."):
        nested = values.get("platformFields")
        return nested.get(name.removeprefix("platformFields.")) if isinstance(nested, Mapping) else None
    return values.get(name)


def with_value(values: Mapping[str, Any], name: str, value: Any) -> dict[str, Any]:
    updated = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in values.items()}
    if name.startswith("platformFields."):
        updated.setdefault("platformFields", {})[name.removeprefix("platformFields.")] = value
    else:
        updated[name] = value
    return updated


@dataclass
class PushContext:
    run_id: str
    client: DataverseClient
    ledger: SyncLedger
    pending: SyncPendingStore
    tally: Tally
    settings: SyncSettings
    config: StepConfig
    platform_name: str
    reads: Mapping[str, KindReads]
    send: Callable[[dict[str, Any]], bool]
    now_text: Callable[[], str]


class Push:
    def __init__(self, ctx: PushContext) -> None:
        self.ctx = ctx

    # -- enqueues -------------------------------------------------------------------------------
    def enqueues(self, kind: str, before: str) -> bool:
        """Carry out the kind's pending enqueues; True when one added a record to the ledger."""
        added = False
        for item in self.ctx.pending.pending_enqueues(kind, before):
            try:
                added = self._enqueue(item) or added
            except DataverseUnavailableError:
                raise  # the run fails; the enqueue waits for the next one
            except DataverseError as exc:
                if self._failed(kind, None, item.platform_contact_id, item.attempts, exc):
                    self.ctx.pending.retry_enqueue(item)
                    continue
            self.ctx.pending.finish_enqueue(item)
        return added

    def _failed(self, kind: str, dynamics_id: str | None, platform_contact_id: str | None, attempts: int,
                exc: DataverseError) -> bool:
        """Count the failure; True when the item is tried again at the next run, False when this
        was its last try (listed as `gaveUp`)."""
        if attempts + 1 >= MAX_ATTEMPTS:
            self.ctx.tally.error(kind, dynamics_id, platform_contact_id, "gaveUp",
                                 f"Given up after {MAX_ATTEMPTS} runs: {exc.code} {exc.message}")
            return False
        self.ctx.tally.error(kind, dynamics_id, platform_contact_id, exc.code or "dynamicsRefused", exc.message)
        return True

    def _enqueue(self, item: PendingEnqueue) -> bool:
        """Link or create the record; True when it was new to the ledger (False: treated as a change)."""
        ctx, kind = self.ctx, item.kind
        person = SyncPerson.model_validate(item.person)
        if ctx.ledger.get_link(kind, person.id) is not None:
            ctx.pending.add_change(person.id, person.platform_values(), None, ctx.now_text())
            return False
        values = columns_for(person.platform_values(), kind, ctx.config, ctx.settings)
        people = [person_lookup(kind, ctx.config, values)]  # type: ignore[arg-type]
        if kind == "lead":
            people.append(person_lookup("contact", ctx.config, values, expand=[_CONTACT_ACCOUNT]))
        lookups = Lookups(people=tuple(people), owner=ctx.config.owner_candidates(None))
        found = lookups.split(ctx.client.query_batch(lookups.requests()))
        match = lookups.match(kind, found)  # type: ignore[arg-type]
        reads = ctx.reads[kind]
        if match is not None:
            record_id = match.record_id
            ctx.ledger.remember(LedgerRecord(kind, record_id, origin="platform"))
            ctx.ledger.link(kind, person.id, record_id, ctx.now_text())
            ctx.tally.add("linked")
            return True
        data = self._create_body(kind, person, values)
        if kind == "lead":
            contact = lookups.match("contact", found)
            if contact is not None:  # as with alwaysCreateLead: the new Lead names the Contact and its Account
                data["parentcontactid@odata.bind"] = bind("contacts", contact.record_id)
                account = contact_account(contact.record)
                if account:
                    data["parentaccountid@odata.bind"] = bind("accounts", account)
        data.update(lookups.owner_decision(found).bind())
        record_id = derived_id("sync-enqueue", f"{kind}\n{person.id}\n{item.arrival}", kind)
        # The id derives from the enqueue: an earlier attempt's record comes back as done.
        ctx.client.create_record(reads.entity_set, data, record_id=record_id)
        row = ctx.client.get_record(reads.entity_set, record_id, select=list(reads.select))
        version = int(row["versionnumber"])
        ctx.ledger.remember(LedgerRecord(kind, record_id, version=version, values=platform_fields(row, reads.pulled),
                                         origin="platform", generation=f"run:{ctx.run_id}", written=version))
        ctx.ledger.link(kind, person.id, record_id, ctx.now_text())
        ctx.tally.add("created")
        return True

    def _create_body(self, kind: str, person: SyncPerson, values: Mapping[str, Any]) -> dict[str, Any]:
        """The identifier set's columns and every `both`/`toDynamics` mapping with a value."""
        ctx = self.ctx
        found = criteria(kind, ctx.config.identifiers(kind), values)  # type: ignore[arg-type]
        data: dict[str, Any] = dict(found[0].conditions) if found else {}
        platform = person.platform_values()
        for mapping in ctx.settings.mappings(kind):
            if mapping.direction != "toPlatform" and platform.get(mapping.platform) is not None:
                data[mapping.dynamics] = platform[mapping.platform]
        if kind == "lead":
            data["subject"] = f"{ctx.platform_name} sync"
        return data

    # -- changes --------------------------------------------------------------------------------
    def changes(self) -> None:
        for change in self.ctx.pending.pending_changes():
            pushed_any = retry = False
            for kind in ("lead", "contact"):
                record = self.ctx.ledger.get_link(kind, change.platform_contact_id)
                if record is None or (change.tags is not None and not eligible(kind, change.tags,
                                                                               self.ctx.platform_name)):
                    continue
                try:
                    pushed_any = self._change(kind, record, change) or pushed_any
                except DataverseUnavailableError:
                    raise
                except DataverseError as exc:
                    # Tried again as a whole: a kind already written then finds nothing new.
                    retry = self._failed(kind, record.dynamics_id, change.platform_contact_id, change.attempts, exc)
                    pushed_any = True
            if retry:
                self.ctx.pending.retry_change(change)
                continue
            if not pushed_any:
                self.ctx.tally.add("skipped")
            self.ctx.pending.finish_change(change)

    def _change(self, kind: str, record: LedgerRecord, change: PendingChange) -> bool:
        """Write what the platform changed; True when the change concerned this record."""
        ctx, reads = self.ctx, self.ctx.reads[kind]
        wanted = {m.platform: m for m in ctx.settings.mappings(kind)
                  if m.direction != "toPlatform" and m.platform in change.fields}
        news = {name: change.fields[name] for name in wanted
                if change.fields[name][0] != flat_value(record.values, name)}
        if not news:
            ctx.tally.add("echoes")
            return True
        current = ctx.client.get_record(reads.entity_set, record.dynamics_id, select=[*reads.select])
        dynamics_now = platform_fields(current, reads.pulled)
        modified = dt.datetime.fromisoformat(str(current.get("modifiedon")).replace("Z", "+00:00"))
        data: dict[str, Any] = {}
        lost_to_dynamics = False
        in_conflict = False
        for name, (value, at) in news.items():
            mapping = wanted[name]
            ledger_value, dynamics_value = flat_value(record.values, name), flat_value(dynamics_now, name)
            if mapping.direction == "both" and dynamics_value != ledger_value and dynamics_value != value:
                in_conflict = True
                winner = self._winner(at, modified)
                if len(ctx.tally.conflicts) < MAX_CONFLICTS:
                    ctx.tally.conflicts.append({"entity": kind, "dynamicsId": record.dynamics_id,
                                                "platformContactId": record.platform_contact_id,
                                                "field": name, "winner": winner})
                if winner == "dynamics":
                    lost_to_dynamics = True
                    continue
            data[mapping.dynamics] = value
        if in_conflict:
            ctx.tally.add("conflicts")
        values = dict(record.values)
        version = record.version
        if data:
            ctx.client.update_record(reads.entity_set, record.dynamics_id, data)
            ctx.tally.add("pushed")
            current = ctx.client.get_record(reads.entity_set, record.dynamics_id, select=[*reads.select])
        values = platform_fields(current, reads.pulled)
        for name in news:  # the platform's value is what the sync last synced, pulled or not
            if name not in reads.pulled:
                values = with_value(values, name, news[name][0])
        version = int(current["versionnumber"])
        if lost_to_dynamics:
            body = message(run_id=ctx.run_id, sent_at=ctx.now_text(), kind="upsert", reason="updated", entity=kind,
                           dynamics_id=record.dynamics_id, platform_contact_id=record.platform_contact_id,
                           version=version, fields=platform_fields(current, reads.pulled))
            if ctx.send(body):
                ctx.tally.add("pulled")
        ctx.ledger.remember(replace(record, version=version, values=values,
                                    written=version if data else record.written))
        return True

    def _winner(self, platform_at: str, modified: dt.datetime) -> str:
        policy = self.ctx.settings.conflict_policy
        if policy == "platformWins":
            return "platform"
        if policy == "dynamicsWins":
            return "dynamics"
        platform_time = dt.datetime.fromisoformat(platform_at.replace("Z", "+00:00"))
        return "platform" if platform_time > modified else "dynamics"
