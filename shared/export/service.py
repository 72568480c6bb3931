"""CampaignExport: write a `campaign-export` message's companies and contacts to Dynamics, exactly once.

One delivery (docs/EXPORT.md):

1. Read the message (`shared.export.message`): unreadable -> `UnreadableMessage` (the delivery
   fails, and after five the message is poison); a bad envelope -> `rejected`, summary sent.
2. Merge the records into the stored export (`shared.store.batches`, rows `a` companies and `c`
   contacts, by index): a known index with other content is a conflict and is not run; final
   entries are never run again.
3. Read the configuration once and the Contact and Account column metadata (cached per worker);
   a record the metadata refuses gets its 400.
4. One bulk look-up for every pending company and contact and every candidate owner.
5. Companies first, in `$batch` change sets (`shared.bulk.write_all`), then the contacts, linked
   to the Account of their company. A found record gets only the columns whose value differs, so
   a rerun changes nothing; a created record gets an id derived from
   `(exportId, "company" | "contact", index)`, so a rerun after a crash finds it and reports it
   `created`.
6. When every entry is final: `completed` and the summary on `campaign-export-results`.

Throttling and outages are waited out by the bulk layer's `Pacer`; past the delivery's time
slice the message is re-enqueued (a hand-over) and the finished entries are kept.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.bulk import BulkLookup, DeadlineReached, LookupHandle, Pacer, write_all
from shared.bulk.jobs import JobMeta
from shared.dynamics.batch import BatchRequest
from shared.dynamics.metadata import MetadataCache, TableColumns
from shared.dynamics.query import Filter, Query, bind
from shared.export.mapping import (
    ExportConfig,
    Written,
    account_fields,
    company_of,
    company_values,
    contact_fields,
    contact_values,
    normalise_domain,
    record_problems,
)
from shared.export.matching import RecordLookup, register
from shared.export.message import (
    Campaign,
    CompanyRecord,
    ContactRecord,
    RecordSlot,
    bad_records,
    envelope_problems,
    read_export_blob,
    read_records,
    rejection,
)
from shared.export.names import COMPANIES, CONTACTS, OUTCOMES
from shared.http import problem_document
from shared.journey_batch.message import read_envelope
from shared.owner import OwnerDecision, decide_owner
from shared.person_keys import PersonKey, person_keys
from shared.resolution import Match
from shared.store.batches import BatchQueues, BatchRecord, BatchResultsStore, StepRow
from shared.store.errors import IdempotencyConflict, PersonBusy
from shared.store.idempotency import derived_id
from shared.store.person_locks import HeldLocks, PersonLocks

if TYPE_CHECKING:
    from shared.dynamics import DataverseClient

__all__ = ["COMPANIES", "CONTACTS", "OUTCOMES", "ExportDelivery", "run_export"]

log = logging.getLogger(__name__)

ID_SCOPE = "CampaignExport"
MIN_HAND_OVER_SECONDS = 30
_USERS_PER_QUERY = 50
WRITE_LEASE = timedelta(seconds=30)  # lock lease left before the writes start
LINK = "parentcustomerid_account@odata.bind"
LINK_VALUE = "_parentcustomerid_value"


@dataclass
class ExportDelivery:
    """What one delivery needs, passed in by the entry point (one per invocation)."""

    client: DataverseClient  # a counted view: its request count is the delivery's round trips
    results: BatchResultsStore
    queues: BatchQueues
    metadata: MetadataCache
    config: Callable[[], ExportConfig]
    locks: PersonLocks | None = None  # per-record locks: two exports in flight never create one record twice
    slice_seconds: float = 480.0
    change_set_size: int = 100
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def run_export(delivery: ExportDelivery, body: bytes) -> str:
    """Process one message body; returns the export's status after this delivery.

    Raises `UnreadableMessage` for a message to fail (and, after five deliveries, poison), and
    store errors when Azure Storage fails (the host redelivers).
    """
    started = delivery.clock()
    envelope = read_envelope(body, "exportId")
    record = delivery.results.load(envelope.batch_id)
    members: dict[str, Any] = dict(envelope.members)
    problems = envelope_problems(members)
    if not problems and "exportBlob" in members:
        members = read_export_blob(envelope, delivery.queues.read_steps_blob)
        problems = envelope_problems(members, claim_check=True)
    if problems:
        return _reject(delivery, envelope.batch_id, record, members, problems)
    campaign, companies, contacts = read_records(members)
    return _Export(delivery, envelope.batch_id, body.decode("utf-8"), record, campaign, companies, contacts,
                   started).go()


def _list_length(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def _reject(
    delivery: ExportDelivery, export_id: str, record: BatchRecord | None, members: Mapping[str, Any],
    problems: list[dict[str, Any]],
) -> str:
    if record is not None and record.status != "rejected":
        log.warning("export %s: a message with a bad envelope for a known export was dropped (%d problem(s))",
                    export_id, len(problems))
        return record.status
    failed = _list_length(members.get("companies")) + _list_length(members.get("contacts"))
    totals = {"companies": _list_length(members.get("companies")), "contacts": _list_length(members.get("contacts"))}
    record = BatchRecord(export_id, status="rejected", total=failed, failed=failed,
                         counts=dict.fromkeys(OUTCOMES, 0), error=rejection(problems), totals=totals)
    delivery.results.save_meta(record)
    log.warning("export %s rejected: %d envelope problem(s)", export_id, len(problems))
    delivery.queues.send_summary(summary(record, totals["companies"], totals["contacts"]))
    return "rejected"


def summary(record: BatchRecord, companies: int, contacts: int) -> dict[str, Any]:
    return {"exportId": record.batch_id, "status": record.status,
            "total": {"companies": companies, "contacts": contacts},
            "counts": {name: record.counts.get(name, 0) for name in OUTCOMES}, "failed": record.failed}


# -- entries --------------------------------------------------------------------------------


def blank_entry(slot: RecordSlot) -> dict[str, Any]:
    """The entry of a record before it ran: every member present, `outcome` pending."""
    raw = slot.raw if isinstance(slot.raw, dict) else {}
    entry: dict[str, Any] = {"index": slot.index, "entity": "contact" if slot.entity == "contact" else "account"}
    if slot.entity == "contact":
        person = raw.get("person") if isinstance(raw.get("person"), dict) else {}
        assert isinstance(person, dict)
        entry["personId"] = person.get("id") if isinstance(person.get("id"), str) else None
        entry["email"] = person.get("email") if isinstance(person.get("email"), str) else None
    else:
        entry["name"] = raw.get("name") if isinstance(raw.get("name"), str) else None
    entry.update({"outcome": "pending", "recordId": None, "duplicates": 0, "linkedAccountId": None,
                  "ownerRule": None, "ownerReason": None, "truncated": [], "detail": None, "error": None})
    return entry


def _failed(entry: Mapping[str, Any], error: dict[str, Any], detail: str) -> dict[str, Any]:
    return {**entry, "outcome": "failed", "recordId": None, "duplicates": 0, "linkedAccountId": None,
            "ownerRule": None, "ownerReason": None, "truncated": [], "detail": detail, "error": error}


def _same(stored: Any, value: Any) -> bool:
    if isinstance(value, bool) or isinstance(stored, bool):
        return stored is value
    if isinstance(value, int | float) and isinstance(stored, int | float):
        return float(stored) == float(value)
    return bool(stored == value)


def changed(data: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of `data` whose value differs from the found row's: an update writes only those."""
    return {name: value for name, value in data.items() if not _same(row.get(name), value)}


# -- one delivery ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Item:
    """A pending record of this message on its way through the delivery."""

    slot: RecordSlot
    row: StepRow
    lookup: RecordLookup | None = None
    owner: OwnerDecision | None = None
    write: BatchRequest | None = None
    entry: dict[str, Any] = field(default_factory=dict)  # the entry once the write succeeds
    new_id: str = ""

    @property
    def key(self) -> str:
        return f"{self.slot.entity}\n{self.slot.index}"


class _Export:
    def __init__(
        self, delivery: ExportDelivery, export_id: str, text: str, record: BatchRecord | None, campaign: Campaign,
        companies: list[RecordSlot], contacts: list[RecordSlot], started: float,
    ) -> None:
        self.d = delivery
        self.export_id = export_id
        self.text = text
        self.campaign = campaign
        self.companies = companies
        self.contacts = contacts
        if record is None or record.status == "rejected":
            record = BatchRecord(export_id, counts=dict.fromkeys(OUTCOMES, 0))
        self.record: BatchRecord = record
        self.pacer = Pacer(deadline=started + delivery.slice_seconds, clock=delivery.clock, sleep=delivery.sleep)
        self.meta = JobMeta(delivery.results, self.record, OUTCOMES)
        self.deferred = False  # a record is locked by another export in flight: run it later
        self.held: _Held | None = None  # the locks of the records this delivery writes
        self._membership()

    def go(self) -> str:
        pending = self._merge()
        if pending:
            try:
                self._run(pending)
            except DeadlineReached as reached:
                return self._hand_over(reached.retry_after)
            except PersonBusy as busy:
                return self._hand_over(busy.retry_after)
        if self.deferred:
            return self._hand_over(MIN_HAND_OVER_SECONDS)
        return self._finish()

    # Merging this message into the stored export.

    def _merge(self) -> list[_Item]:
        rows = {(row.prefix, row.position): row for row in self.record.steps}
        new_rows: list[StepRow] = []
        pending: list[_Item] = []
        for prefix, slots in ((COMPANIES, self.companies), (CONTACTS, self.contacts)):
            for slot in slots:
                existing = rows.get((prefix, slot.index))
                if existing is not None:
                    if existing.body_hash != slot.body_hash:
                        self._conflict(slot)
                    elif not existing.final and slot.record is not None:
                        pending.append(_Item(slot, existing))
                    continue
                entry = blank_entry(slot)
                if slot.error is not None:
                    entry = _failed(entry, slot.error, "The record is not valid; nothing of it was written.")
                row = StepRow(slot.index, f"{slot.entity}:{slot.index}", slot.entity, slot.body_hash, entry,
                              prefix=prefix)
                rows[(prefix, slot.index)] = row
                new_rows.append(row)
                if slot.record is not None:
                    pending.append(_Item(slot, row))
        if new_rows:
            self.d.results.add_steps(self.export_id, new_rows)
            self.record.steps.extend(new_rows)
        self.record.status = "running"
        self.record.error = None
        self._save()
        return pending

    def _conflict(self, slot: RecordSlot) -> None:
        entity = "contact" if slot.entity == "contact" else "account"
        if any(c.get("entity") == entity and c.get("index") == slot.index for c in self.record.conflicts):
            return
        error = problem_document(IdempotencyConflict(ID_SCOPE))
        error["detail"] = "This index is already in the export with other content; the record was not written."
        self.record.conflicts.append({"entity": entity, "index": slot.index, "error": error})

    # Running the pending records.

    def _run(self, pending: list[_Item]) -> None:
        config = self.d.config()
        columns = self.pacer.call(lambda: self.d.metadata.tables(self.d.client, ["account", "contact"]))
        finished: list[tuple[_Item, dict[str, Any]]] = []
        live: list[_Item] = []
        for item in pending:
            record = item.slot.record
            assert record is not None
            table = "contact" if item.slot.entity == "contact" else "account"
            loc: list[str | int] = [item.slot.list_name, item.slot.index]
            problems = record_problems(record, loc, config, columns[table])
            if problems:
                finished.append((item, _failed(item.row.entry, bad_records(problems),
                                               "The record is not valid; nothing of it was written.")))
            else:
                live.append(item)
        self._store(finished)
        held = self._lock(live, config)
        try:
            self._look_up_and_write([item for item in live if held is None or item.key in held.groups], config,
                                    columns, held)
        finally:
            if held is not None and held.locks is not None:
                assert self.d.locks is not None
                self.d.locks.release(held.locks)

    def _lock(self, items: list[_Item], config: ExportConfig) -> _Held | None:
        """Lock every record's identities (one try); a record another export holds waits for a
        later delivery of this message (a hand-over), so no two exports create the same record."""
        locks = self.d.locks
        if locks is None or not items:
            return None
        groups = {item.key: _lock_keys(item, config) for item in items}
        many = locks.acquire_many({key: keys for key, keys in groups.items() if keys})
        if many.busy:
            self.deferred = True
            log.info("export %s: %d record(s) locked by another export; they run in a later delivery",
                     self.export_id, len(many.busy))
        parts = list(many.held.values())
        # acquire_many takes every group under one owner at one moment: their rows share one lease.
        combined = HeldLocks(parts[0].owner, tuple(row for held in parts for row in held.rows),
                             parts[0].acquired_at, min(held.expires_at for held in parts)) if parts else None
        free = {key for key, keys in groups.items() if not keys}
        return _Held(combined, set(many.held) | free)

    def _look_up_and_write(self, live: list[_Item], config: ExportConfig, columns: Mapping[str, TableColumns],
                           held: _Held | None) -> None:
        companies = [item for item in live if item.slot.entity == "company"]
        contacts = [item for item in live if item.slot.entity == "contact"]
        lookup = BulkLookup()
        owners = self._register(lookup, config, companies, contacts)
        if companies or contacts:
            self.pacer.call(lambda: lookup.run(self.d.client))
        users = [row for handle in owners for row in lookup.rows(handle)]
        self.held = held
        self._keep()
        self._companies(companies, config, lookup, users)
        self._contacts(contacts, config, columns["contact"], lookup, users)

    def _keep(self) -> None:
        """Before each write round trip: a slow look-up or write may have used up the locks' lease,
        so renew it, or hand over (`PersonBusy`) if another export took a lock over meanwhile."""
        held = self.held
        if held is not None and held.locks is not None:
            assert self.d.locks is not None
            held.locks = self.d.locks.keep(held.locks, at_least=WRITE_LEASE)

    def _register(
        self, lookup: BulkLookup, config: ExportConfig, companies: list[_Item], contacts: list[_Item],
    ) -> list[LookupHandle]:
        account_select = ["name", "websiteurl", *self._account_columns(config)]
        for item in companies:
            assert isinstance(item.slot.record, CompanyRecord)
            item.lookup = register(lookup, "account", config.company_identifiers, company_values(item.slot.record),
                                   account_select)
        contact_select = [LINK_VALUE, *config.contact_person_fields.values(), *self._contact_columns(config)]
        for item in contacts:
            assert isinstance(item.slot.record, ContactRecord)
            item.lookup = register(lookup, "contact", config.contact_identifiers,
                                   contact_values(item.slot.record, config), contact_select)
        ids = sorted({i for user in self._owner_users(config, companies, contacts) for i in config.owner(user).ids})
        handles = []
        for start in range(0, len(ids), _USERS_PER_QUERY):
            chunk = ids[start : start + _USERS_PER_QUERY]
            query = Query(select=["systemuserid", "isdisabled"],
                          filter=Filter.or_(*(Filter.eq("systemuserid", i) for i in chunk)))
            handles.append(lookup.query("systemusers", query))
        return handles

    @staticmethod
    def _account_columns(config: ExportConfig) -> list[str]:
        return [*config.fixed.get("account", {}), *config.export.get("account", ()),
                *config.engagement.get("account", {})]

    @staticmethod
    def _contact_columns(config: ExportConfig) -> list[str]:
        return [*config.fixed.get("contact", {}), *config.export.get("contact", ()),
                *config.engagement.get("contact", {}), *config.campaign.values()]

    def _owner_users(self, config: ExportConfig, companies: list[_Item], contacts: list[_Item]) -> list[str | None]:
        users: list[str | None] = [self._account_owner_user(item.slot.index) for item in companies]
        users += [item.slot.record.owner_user_id for item in contacts if isinstance(item.slot.record, ContactRecord)]
        return users

    # Membership, from the whole message (records of earlier deliveries included).

    def _membership(self) -> None:
        contacts = [s.record if isinstance(s.record, ContactRecord) else None for s in self.contacts]
        companies = [s.record if isinstance(s.record, CompanyRecord) else None for s in self.companies]
        self.members = company_of(contacts, companies)
        self.first_user: dict[int, str | None] = {}  # the ownerUserId of a company's first contact
        self.participants: set[int] = set()  # companies a contact of which participated
        for contact, company in zip(contacts, self.members, strict=True):
            if company is None or contact is None:
                continue
            self.first_user.setdefault(company, contact.owner_user_id)
            if contact.participated:
                self.participants.add(company)

    def _account_owner_user(self, company_index: int) -> str | None:
        return self.first_user.get(company_index)

    def _participated(self, company_index: int) -> bool:
        return company_index in self.participants

    # Companies, then contacts.

    def _companies(self, items: list[_Item], config: ExportConfig, lookup: BulkLookup,
                   users: list[Mapping[str, Any]]) -> None:
        for item in items:
            company = item.slot.record
            assert isinstance(company, CompanyRecord) and item.lookup is not None
            item.new_id = derived_id(ID_SCOPE, f"{self.export_id}\n{item.key}", "account")
            if not item.lookup.criteria:
                item.entry = _failed(item.row.entry, _no_identifier(item.slot), "The company fills no identifier set.")
                continue
            match = item.lookup.resolve(lookup)
            owner = decide_owner(config.owner(self._account_owner_user(item.slot.index)), users)
            participated = self._participated(item.slot.index)
            if match is None:
                written = account_fields(company, config, creating=True, participated=participated)
                item.write = BatchRequest.create("accounts", {**written.data, **owner.bind()}, record_id=item.new_id)
                item.entry = self._entry(item, "created", item.new_id, None, owner, written, None)
                continue
            written = account_fields(company, config, creating=False, participated=participated)
            item.entry = self._found(item, match, changed(written.data, match.record), owner, written, None, "accounts")
        self._write(items, "company")

    def _contacts(self, items: list[_Item], config: ExportConfig, columns: TableColumns, lookup: BulkLookup,
                  users: list[Mapping[str, Any]]) -> None:
        members = self.members
        accounts = self._company_accounts()
        for item in items:
            contact = item.slot.record
            assert isinstance(contact, ContactRecord) and item.lookup is not None
            item.new_id = derived_id(ID_SCOPE, f"{self.export_id}\n{item.key}", "contact")
            if not item.lookup.criteria:
                item.entry = _failed(item.row.entry, _no_identifier(item.slot), "The contact fills no identifier set.")
                continue
            company = members[item.slot.index]
            if company is not None and company not in accounts:
                # Its company waits for a later delivery (locked by another export): so does it.
                self.deferred = True
                item.entry = {}
                continue
            account_id, why = accounts.get(company, (None, None)) if company is not None else (None, None)
            match = item.lookup.resolve(lookup)
            owner = decide_owner(config.owner(contact.owner_user_id), users)
            if match is None:
                written = contact_fields(contact, self.campaign, config, columns, creating=True)
                data = {**written.data, **owner.bind()}
                if account_id:
                    data[LINK] = bind("accounts", account_id)
                item.write = BatchRequest.create("contacts", data, record_id=item.new_id)
                item.entry = self._entry(item, "created", item.new_id, None, owner, written, account_id, why)
                continue
            email_column = config.contact_person_fields.get("email")
            stored_email = match.record.get(email_column) if email_column else None
            written = contact_fields(contact, self.campaign, config, columns, creating=False, stored_email=stored_email)
            data = changed(written.data, match.record)
            if account_id and str(match.record.get(LINK_VALUE) or "").lower() != account_id.lower():
                data[LINK] = bind("accounts", account_id)
            item.entry = self._found(item, match, data, owner, written, account_id, "contacts", why)
        self._write(items, "contact")

    def _company_accounts(self) -> dict[int, tuple[str | None, str | None]]:
        """Each company's Account id when it was written, else why there is no link."""
        out: dict[int, tuple[str | None, str | None]] = {}
        for row in self.record.steps:
            if row.prefix != COMPANIES:
                continue
            outcome = row.entry.get("outcome")
            if outcome in OUTCOMES:
                out[row.position] = (str(row.entry.get("recordId")), None)
            elif outcome == "failed":
                out[row.position] = (None, "its company could not be written, so no Account link was set")
        return out

    def _found(
        self, item: _Item, match: Match, data: dict[str, Any], owner: OwnerDecision, written: Written,
        account_id: str | None, entity_set: str, why: str | None = None,
    ) -> dict[str, Any]:
        """The entry for a found record, and its update when a column differs."""
        if data:
            item.write = BatchRequest.update(entity_set, match.record_id, data)
        if match.record_id == item.new_id.lower():
            # Created by an earlier delivery that stopped before recording it.
            return self._entry(item, "created", match.record_id, match, owner, written, account_id, why)
        return self._entry(item, "updated", match.record_id, match, None, written, account_id, why)

    def _entry(
        self, item: _Item, outcome: str, record_id: str, match: Match | None, owner: OwnerDecision | None,
        written: Written, account_id: str | None, why: str | None = None,
    ) -> dict[str, Any]:
        label = "Contact" if item.slot.entity == "contact" else "Account"
        verb = "Created" if outcome == "created" else "Updated"
        detail = f"{verb} the {label}"
        if match is not None and match.duplicates:
            detail += f" (the most recently modified of {match.duplicates + 1} matches)"
        if written.truncated:
            detail += f"; cut to fit: {', '.join(written.truncated)}"
        if why:
            detail += f"; {why}"
        return {
            **item.row.entry, "outcome": outcome, "recordId": record_id.lower(),
            "duplicates": match.duplicates if match is not None else 0,
            "linkedAccountId": account_id.lower() if account_id else None,
            "ownerRule": owner.rule if owner is not None else None,
            "ownerReason": owner.reason if owner is not None else None,
            "truncated": list(written.truncated), "detail": detail + ".", "error": None,
        }

    def _write(self, items: list[_Item], what: str) -> None:
        items = [item for item in items if item.entry]  # an empty entry: the record waits for a later delivery
        writing = [item for item in items if item.write is not None and item.entry.get("outcome") != "failed"]
        outcomes = write_all(self.d.client, [item.write for item in writing if item.write is not None], self.pacer,
                             change_set_size=self.d.change_set_size, after_round_trip=self._keep) if writing else []
        sent = {id(item) for item in writing}
        finished: list[tuple[_Item, dict[str, Any]]] = [(item, item.entry) for item in items if id(item) not in sent]
        for item, outcome in zip(writing, outcomes, strict=True):
            error = outcome.error
            if error is None:
                finished.append((item, item.entry))
            else:
                finished.append((item, _failed(item.row.entry, problem_document(error),
                                               f"Dynamics refused the {what}; nothing of it was written.")))
        self._store(finished)
        log.info("export %s: %d %s record(s) done, %d written", self.export_id, len(items), what, len(writing))

    def _store(self, finished: Sequence[tuple[_Item, dict[str, Any]]]) -> None:
        rows = []
        for item, entry in finished:
            item.row.entry = entry
            rows.append(item.row)
        if rows:
            for stored in self.d.results.finish(self.export_id, rows):
                # Another delivery of this message finished the record first: its entry stands.
                for row in rows:
                    if (row.prefix, row.position) == (stored.prefix, stored.position):
                        row.entry, row.etag = stored.entry, stored.etag
        self._save()

    # Pacing, saving, ending.

    def _save(self) -> None:
        self.meta.save(self.d.client.request_count)

    def _hand_over(self, retry_after: float) -> str:
        delay = max(MIN_HAND_OVER_SECONDS, math.ceil(retry_after))
        self._save()
        self.d.queues.hand_over(self.text, delay)
        log.warning("export %s: handing over to a new delivery in %d s", self.export_id, delay)
        return self.record.status

    def _finish(self) -> str:
        record = self.record
        if all(row.final for row in record.steps):
            record.status = "completed"
        self._save()
        if record.status == "completed":
            companies = sum(1 for row in record.steps if row.prefix == COMPANIES)
            self.d.queues.send_summary(summary(record, companies, len(record.steps) - companies))
            log.info("export %s completed: %s, %d failed, %d Web API requests", self.export_id, record.counts,
                     record.failed, record.dynamics_requests)
        return record.status


@dataclass
class _Held:
    """The locks of this delivery's records (one lease for all), and the records they cover."""

    locks: HeldLocks | None
    groups: set[str]


def _lock_keys(item: _Item, config: ExportConfig) -> tuple[PersonKey, ...]:
    record = item.slot.record
    if isinstance(record, ContactRecord):
        return person_keys("contact", config.contact_identifiers, contact_values(record, config))
    assert isinstance(record, CompanyRecord)
    values = company_values(record)
    domain = normalise_domain(values.get("websiteurl"))
    values = {**values, "websiteurl": domain} if domain else {k: v for k, v in values.items() if k != "websiteurl"}
    return person_keys("account", config.company_identifiers, values)


def _no_identifier(slot: RecordSlot) -> dict[str, Any]:
    table = "contact" if slot.entity == "contact" else "company"
    return bad_records([{"loc": [slot.list_name, slot.index],
                         "msg": f"fills none of the configured {table} identifier sets"}])
