"""Dynamics to platform, for one kind: the initial sync paged by key with a checkpoint per page,
later runs by change tracking (changed ids re-read with `In`), a `modifiedon` watermark where
tracking is off, and a full re-read when a delta token has expired. Every message goes to the
`platform-updates` queue through an `Outbox`; the ledger remembers what was sent, so nothing is sent
twice for one `(dynamicsId, version)` and the sync's own writes come back as echoes, not news.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shared.dynamics import DeletedRecord, DeltaTokenExpiredError, Filter, Query
from shared.masking import mask_text
from shared.store.sync_ledger import LedgerRecord, SyncLedger
from shared.store.sync_state import KindState, SyncStateStore
from shared.sync.messages import encode, message, platform_fields
from shared.sync.people import KIND_TAGS, PUSHED_FROM_DYNAMICS
from shared.sync.selection import KindReads

if TYPE_CHECKING:
    from shared.dynamics import DataverseClient

log = logging.getLogger(__name__)

ID_CHUNK = 100
WATERMARK_OVERLAP = dt.timedelta(minutes=5)
MAX_FIRST_ERRORS = 10
MAX_CONFLICTS = 100
OUTBOX_SIZE = 100
COUNTS = ("created", "linked", "pushed", "pulled", "deleted", "merged", "conflicts", "skipped", "errors", "echoes")


@dataclass
class Tally:
    """What a run did: its counts, first errors, conflicts and the kinds pulled from scratch."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    first_errors: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    initial_sync: list[str] = field(default_factory=list)

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def error(self, entity: str, dynamics_id: str | None, platform_contact_id: str | None, code: str,
              message_text: str) -> None:
        self.counts["errors"] += 1
        if len(self.first_errors) < MAX_FIRST_ERRORS:
            self.first_errors.append({"entity": entity, "dynamicsId": dynamics_id,
                                      "platformContactId": platform_contact_id, "code": code,
                                      "message": mask_text(message_text)})

    def to_json(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "firstErrors": list(self.first_errors),
                "conflicts": list(self.conflicts), "initialSync": list(self.initial_sync)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        return cls(counts={**dict.fromkeys(COUNTS, 0), **data.get("counts", {})},
                   first_errors=list(data.get("firstErrors", [])), conflicts=list(data.get("conflicts", [])),
                   initial_sync=list(data.get("initialSync", [])))


class Outbox:
    """Upserts of a stretch of rows, sent together: their messages go to the queue in parallel, then
    the ledger learns of them in one table transaction per 100 rows. That is a storage round trip
    per message instead of two per row. A delivery killed between a message and its ledger row
    sends that message again when resumed, under the same `messageId`, which the platform drops;
    a page's checkpoint is saved only after its outbox is flushed."""

    def __init__(self, send_texts: Callable[[list[str]], None], ledger: SyncLedger, tally: Tally,
                 size: int = OUTBOX_SIZE) -> None:
        self._send_texts = send_texts
        self._ledger = ledger
        self._tally = tally
        self._size = size
        self._texts: list[str] = []
        self._records: dict[str, LedgerRecord] = {}

    def upsert(self, body: dict[str, Any], record: LedgerRecord) -> None:
        text = encode(body)
        if text is None:
            self._tally.error(record.entity, record.dynamics_id, record.platform_contact_id, "messageTooLarge",
                              "The record's message would pass the queue's 64 KiB.")
            return
        self._texts.append(text)
        self.remember(record)
        self._tally.add("pulled")

    def remember(self, record: LedgerRecord) -> None:
        """A ledger row to write with the next flush (no message)."""
        if record.dynamics_id in self._records:
            self.flush()  # one row appears once in a transaction
        self._records[record.dynamics_id] = record
        if len(self._records) >= self._size:
            self.flush()

    def send_now(self, body: dict[str, Any]) -> None:
        """An unlink: goes out at once, after whatever waits (its ledger change follows it)."""
        self.flush()
        text = encode(body)
        if text is not None:  # an unlink has no fields; it always fits
            self._send_texts([text])

    def flush(self) -> None:
        if self._texts:
            self._send_texts(self._texts)
        if self._records:
            self._ledger.remember_many(self._records.values())
        self._texts, self._records = [], {}


@dataclass
class PullContext:
    run_id: str
    client: DataverseClient
    ledger: SyncLedger
    states: SyncStateStore
    send_texts: Callable[[list[str]], None]
    """Queue encoded messages (together, in parallel)."""
    tally: Tally
    now_text: Callable[[], str]
    page_size: int
    out_of_time: Callable[[], bool]
    renew: Callable[[], None]


class KindPull:
    def __init__(self, ctx: PullContext, reads: KindReads) -> None:
        self.ctx = ctx
        self.reads = reads
        self.kind = reads.kind
        self.outbox = Outbox(ctx.send_texts, ctx.ledger, ctx.tally)
        self._merged_into: set[str] = set()  # survivors of merges seen: their prefetched record is stale

    # -- the three ways of reading ----------------------------------------------------------
    def run(self) -> bool:
        """Pull this kind; False when the run's time is up (the checkpoint is saved)."""
        state = self.ctx.states.get(self.kind)
        if state.initial_pending:
            return self._initial(state)
        if state.delta_link is not None:
            try:
                self._tracked(state)
            except DeltaTokenExpiredError:
                log.warning("%s: the delta token has expired; re-reading every row", self.kind)
                self._full_reread(state)
        elif state.watermark is not None:
            self._watermarked(state)
        self.outbox.flush()
        return True

    def _initial(self, state: KindState) -> bool:
        ctx, reads = self.ctx, self.reads
        if state.last_key is None and state.generation is None:
            # The token (or watermark) is taken before the first page: what changes meanwhile
            # reaches the next run.
            state = self._save(replace(self._start_point(state), generation=secrets.token_hex(8),
                                       ledger_empty_at_start=not ctx.ledger.knows_any(self.kind)))
        # A kind the ledger knew nothing of (the usual first sync) needs no look-up per row, even
        # when resumed: the rows of later pages have keys no earlier page had, and a push that
        # adds a record meanwhile clears the flag (`runs._sync_all`).
        known = not state.ledger_empty_at_start
        for page in ctx.client.list_pages_by_key(reads.entity_set, select=reads.select, filter=reads.selection,
                                                 after=state.last_key, page_size=ctx.page_size):
            records = ctx.ledger.get_records(self.kind, (str(row[reads.key]) for row in page)) if known else {}
            for row in page:
                self._row(row, self._known(records, str(row[reads.key])), "initialSync", state.generation)
            state = self._save(replace(state, last_key=str(page[-1][reads.key])))
            ctx.renew()
            if ctx.out_of_time():
                log.info("%s: initial sync cut at a page boundary; the next delivery resumes", self.kind)
                return False
        self._save(replace(state, initial_pending=False, last_key=None, generation=None))
        ctx.tally.initial_sync.append(self.kind)
        return True

    def _tracked(self, state: KindState) -> None:
        feed = self.ctx.client.track_changes(self.reads.entity_set, select=[self.reads.key],
                                             delta_link=state.delta_link, page_size=5000)
        changed: list[str] = []
        for change in feed:
            if isinstance(change, DeletedRecord):
                self._deleted(change.id)
            else:
                changed.append(str(change[self.reads.key]))
        self._changed_ids(dict.fromkeys(changed))
        self._save(replace(state, delta_link=feed.delta_link))

    def _watermarked(self, state: KindState) -> None:
        assert state.watermark is not None
        since = dt.datetime.fromisoformat(state.watermark) - WATERMARK_OVERLAP
        query = Query(select=[self.reads.key, "modifiedon"], filter=Filter.ge("modifiedon", since),
                      orderby=[("modifiedon", "asc"), (self.reads.key, "asc")])
        ids: dict[str, None] = {}
        newest = state.watermark
        for row in self.ctx.client.list_records(self.reads.entity_set, query, page_size=5000):
            ids[str(row[self.reads.key])] = None
            newest = max(newest, str(row.get("modifiedon") or newest))
        self._changed_ids(ids)
        self._save(replace(state, watermark=newest))

    def _full_reread(self, state: KindState) -> None:
        """Send only what differs from the ledger: new selected rows, changed known ones, and
        unlinks for known rows that are gone."""
        state = self._save(self._start_point(state))
        ctx, reads = self.ctx, self.reads
        for page in ctx.client.list_pages_by_key(reads.entity_set, select=reads.select, filter=reads.selection,
                                                 page_size=ctx.page_size):
            records = ctx.ledger.get_records(self.kind, (str(row[reads.key]) for row in page))
            for row in page:
                self._row(row, self._known(records, str(row[reads.key])), "created", None, rereading=True)
        self.outbox.flush()  # the second pass reads what the first one wrote
        for chunk in _chunks(ctx.ledger.records(self.kind), ID_CHUNK):
            found = {str(row[reads.key]): row for row in ctx.client.list_records_by_id(
                reads.entity_set, [r.dynamics_id for r in chunk], select=reads.select)}
            for listed in chunk:
                current = found.get(listed.dynamics_id)
                record = ctx.ledger.get_record(self.kind, listed.dynamics_id)  # the first pass may have moved it
                if current is None:
                    self._deleted(listed.dynamics_id)
                elif record is not None:
                    self._row(current, record, "created", None, rereading=True)

    def _start_point(self, state: KindState) -> KindState:
        if self.ctx.client.get_change_tracking_enabled(self.kind):
            return replace(state, delta_link=self.ctx.client.get_delta_link(self.reads.entity_set), watermark=None)
        newest = list(self.ctx.client.list_records(self.reads.entity_set, Query(
            select=[self.reads.key, "modifiedon"], orderby=[("modifiedon", "desc")], top=1)))
        mark = str(newest[0]["modifiedon"]) if newest else "1900-01-01T00:00:00Z"
        return replace(state, delta_link=None, watermark=mark.replace("Z", "+00:00"))

    # -- one row ------------------------------------------------------------------------------
    def _known(self, prefetched: dict[str, LedgerRecord], dynamics_id: str) -> LedgerRecord | None:
        """The ledger's record as read for the page or chunk; read again if a merge changed it."""
        if dynamics_id in self._merged_into:
            return self.ctx.ledger.get_record(self.kind, dynamics_id)
        return prefetched.get(dynamics_id)

    def _changed_ids(self, ids: Iterable[str]) -> None:
        """Re-read changed rows: known ones whatever the criteria, new ones only if selected."""
        ctx, reads = self.ctx, self.reads
        for chunk in _chunks(ids, ID_CHUNK):
            records = ctx.ledger.get_records(self.kind, chunk)
            known = [i for i in chunk if i in records]
            new = [i for i in chunk if i not in records]
            if known:
                for row in ctx.client.list_records_by_id(reads.entity_set, known, select=reads.select):
                    self._row(row, self._known(records, str(row[reads.key])), "created", None)
            if new:
                for row in ctx.client.list_records_by_id(reads.entity_set, new, select=reads.select,
                                                         filter=reads.selection):
                    self._row(row, None, "created", None)
            ctx.renew()

    def _row(self, row: dict[str, Any], record: LedgerRecord | None, new_reason: str, generation: str | None,
             *, rereading: bool = False) -> None:
        """Send what is news about one row. `rereading` (a full re-read): a row at the version the
        ledger holds is simply unchanged, not an echo of the sync's own write."""
        dynamics_id = str(row[self.reads.key])
        version = int(row["versionnumber"])
        fields = platform_fields(row, self.reads.pulled)
        if record is not None and row.get("merged") is True and row.get("_masterid_value"):
            self._merged(record, str(row["_masterid_value"]), version)
            return
        if record is None:
            if row.get("merged") is True:
                return  # merged rows are never new
            self._send_upsert(dynamics_id, None, version, fields, new_reason, generation, origin=None)
            return
        if new_reason == "initialSync":
            if record.generation == f"run:{self.ctx.run_id}":
                return  # created by this very run from an enqueue: the platform has it
            if generation is not None and record.generation == generation and record.version == version:
                return  # sent by this initial sync before it was cut off
            self._send_upsert(dynamics_id, record.platform_contact_id, version, fields, "initialSync", generation,
                              origin=record.origin)
            return
        if record.version is not None and version <= record.version:
            if version == record.written and not rereading:
                self.ctx.tally.add("echoes")  # the row as the sync itself last wrote it
            return
        if fields == record.values:
            self.ctx.tally.add("echoes")
            self.outbox.remember(replace(record, version=version))
            return
        self._send_upsert(dynamics_id, record.platform_contact_id, version, fields, "updated", None,
                          origin=record.origin)

    def _send_upsert(self, dynamics_id: str, platform_contact_id: str | None, version: int, fields: dict[str, Any],
                     reason: str, generation: str | None, *, origin: str | None) -> None:
        add_tags: list[str] = []
        if reason in ("initialSync", "created"):
            add_tags = [KIND_TAGS[self.kind]] if origin == "platform" else [KIND_TAGS[self.kind], PUSHED_FROM_DYNAMICS]
        body = message(run_id=self.ctx.run_id, sent_at=self.ctx.now_text(), kind="upsert", reason=reason,
                       entity=self.kind, dynamics_id=dynamics_id, platform_contact_id=platform_contact_id,
                       version=version, fields=fields, add_tags=add_tags)
        self.outbox.upsert(body, LedgerRecord(self.kind, dynamics_id, platform_contact_id, version, fields,
                                              generation=generation, origin=origin))

    def _deleted(self, dynamics_id: str) -> None:
        self.outbox.flush()
        record = self.ctx.ledger.get_record(self.kind, dynamics_id)
        if record is None:
            return
        body = message(run_id=self.ctx.run_id, sent_at=self.ctx.now_text(), kind="unlink", reason="deleted",
                       entity=self.kind, dynamics_id=dynamics_id, platform_contact_id=record.platform_contact_id,
                       version=None, remove_tags=[KIND_TAGS[self.kind]])
        self.outbox.send_now(body)
        self.ctx.ledger.forget(self.kind, dynamics_id)
        self.ctx.tally.add("deleted")

    def _merged(self, record: LedgerRecord, survivor_id: str, version: int) -> None:
        """The subordinate's unlink names the survivor; its link moves there only if the survivor has
        none, and a survivor the platform does not know follows as a `created` upsert."""
        ctx, kind = self.ctx, self.kind
        self.outbox.flush()
        self._merged_into.add(survivor_id)
        survivor = ctx.ledger.get_record(kind, survivor_id)
        moved = record.platform_contact_id is not None and (survivor is None or survivor.platform_contact_id is None)
        survivor_contact = record.platform_contact_id if moved else (survivor.platform_contact_id if survivor else None)
        body = message(run_id=ctx.run_id, sent_at=ctx.now_text(), kind="unlink", reason="merged", entity=kind,
                       dynamics_id=record.dynamics_id, platform_contact_id=record.platform_contact_id,
                       version=version, remove_tags=[] if moved else [KIND_TAGS[kind]],
                       survivor={"entity": kind, "dynamicsId": survivor_id, "platformContactId": survivor_contact})
        self.outbox.send_now(body)
        ctx.ledger.forget(kind, record.dynamics_id)
        ctx.tally.add("merged")
        if survivor is None:
            rows = list(ctx.client.list_records_by_id(self.reads.entity_set, [survivor_id], select=self.reads.select))
            if rows:
                row = rows[0]
                self._send_upsert(survivor_id, survivor_contact, int(row["versionnumber"]),
                                  platform_fields(row, self.reads.pulled), "created", None, origin=record.origin)
                self.outbox.flush()  # the link below needs the survivor in the ledger
        if moved and record.platform_contact_id is not None and ctx.ledger.get_record(kind, survivor_id) is not None:
            ctx.ledger.link(kind, record.platform_contact_id, survivor_id, ctx.now_text())

    def _save(self, state: KindState) -> KindState:
        """Checkpoint, after whatever the outbox holds is out: a checkpoint never skips a row."""
        self.outbox.flush()
        return self.ctx.states.save(state)


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
