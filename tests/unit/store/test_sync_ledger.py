"""SyncLedger against real Table Storage (Azurite): links both ways, replacement, unlink, forget."""

from __future__ import annotations

import pytest

from shared.store import StorageClients, StorageError
from shared.store.sync_ledger import LedgerRecord, SyncLedger, key_part

AT = "2026-05-01T10:00:00Z"
D1, D2 = "00000000-0000-0000-0000-0000000000d1", "00000000-0000-0000-0000-0000000000d2"


@pytest.fixture
def ledger(storage: StorageClients, unique_name: str) -> SyncLedger:
    return SyncLedger(lambda: storage.table(unique_name))


def known(ledger: SyncLedger, *ids: str, entity: str = "lead") -> None:
    for dynamics_id in ids:
        ledger.remember(LedgerRecord(entity, dynamics_id, version=9_000_000_000_123,
                                     values={"email": "a@x.com", "platformFields": {"score": 1}}))


def test_when_a_record_is_remembered_it_reads_back_unlinked_with_its_version_and_values(ledger: SyncLedger) -> None:
    known(ledger, D1)
    record = ledger.get_record("lead", D1)
    assert record == LedgerRecord("lead", D1, None, 9_000_000_000_123,
                                  {"email": "a@x.com", "platformFields": {"score": 1}})
    assert ledger.get_record("contact", D1) is None


def test_when_a_contact_is_linked_the_link_reads_both_ways_and_survives_a_remember(ledger: SyncLedger) -> None:
    known(ledger, D1)
    ledger.link("lead", "pc/1#?", D1, AT)
    assert ledger.get_link("lead", "pc/1#?") == LedgerRecord("lead", D1, "pc/1#?", 9_000_000_000_123,
                                                             {"email": "a@x.com", "platformFields": {"score": 1}}, AT)
    assert ledger.get_link("lead", "PC/1#?") is None  # ids are case-sensitive
    assert ledger.get_link("contact", "pc/1#?") is None
    ledger.remember(LedgerRecord("lead", D1, version=5, values={"email": "b@x.com"}))
    assert ledger.get_record("lead", D1) == LedgerRecord("lead", D1, "pc/1#?", 5, {"email": "b@x.com"}, AT)


def test_when_a_new_link_collides_the_old_one_is_replaced(ledger: SyncLedger) -> None:
    known(ledger, D1, D2)
    ledger.link("lead", "pc-1", D1, AT)
    ledger.link("lead", "pc-1", D2, AT)  # the contact's lead link moves to D2
    assert ledger.get_link("lead", "pc-1").dynamics_id == D2  # type: ignore[union-attr]
    assert ledger.get_record("lead", D1).platform_contact_id is None  # type: ignore[union-attr]
    ledger.link("lead", "pc-2", D2, AT)  # the record's link moves to pc-2
    assert ledger.get_link("lead", "pc-1") is None
    assert ledger.get_link("lead", "pc-2").dynamics_id == D2  # type: ignore[union-attr]


def test_when_a_record_is_unknown_it_cannot_be_linked(ledger: SyncLedger) -> None:
    with pytest.raises(StorageError):
        ledger.link("lead", "pc-1", D1, AT)


def test_when_a_link_is_ended_the_record_is_forgotten(ledger: SyncLedger) -> None:
    known(ledger, D1)
    known(ledger, D1, entity="contact")
    ledger.link("contact", "pc-1", D1, AT)
    assert ledger.unlink("contact", "pc-1") == D1
    assert ledger.get_record("contact", D1) is None
    assert ledger.unlink("contact", "pc-1") is None
    assert ledger.get_record("lead", D1) is not None


def test_when_a_record_is_forgotten_its_link_ends_and_what_it_was_is_returned(ledger: SyncLedger) -> None:
    known(ledger, D1, D2)
    ledger.link("lead", "pc-1", D1, AT)
    forgotten = ledger.forget("lead", D1)
    assert forgotten is not None and forgotten.platform_contact_id == "pc-1"
    assert ledger.get_link("lead", "pc-1") is None
    assert ledger.forget("lead", D1) is None
    assert [r.dynamics_id for r in ledger.records("lead")] == [D2]


def test_when_keys_hold_refused_characters_they_are_escaped_without_collisions() -> None:
    assert key_part("a/b") == "a%2Fb"
    assert key_part("a%2Fb") == "a%252Fb"
    assert key_part("Ab\x07") == "Ab%07"
    assert len({key_part(t) for t in ("a/b", "a%2Fb", "a#b", "a?b", "a\\b")}) == 5


def test_whether_the_ledger_knows_any_record_of_a_kind(ledger: SyncLedger) -> None:
    assert not ledger.knows_any("lead")
    known(ledger, D1)
    assert ledger.knows_any("lead") and not ledger.knows_any("contact")


def test_when_many_records_are_remembered_at_once_every_one_reads_back_and_links_are_kept(
        ledger: SyncLedger) -> None:
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(250)]  # three transactions
    known(ledger, ids[0])
    ledger.link("lead", "pc-0", ids[0], AT)
    ledger.remember_many(LedgerRecord("lead", dynamics_id, version=i, values={"email": f"{i}@x.com"})
                         for i, dynamics_id in enumerate(ids))
    assert [r.version for r in ledger.records("lead")] == list(range(250))
    assert ledger.get_link("lead", "pc-0") == LedgerRecord("lead", ids[0], "pc-0", 0, {"email": "0@x.com"}, AT)


def test_when_remembered_records_are_large_they_are_split_under_the_transaction_limit(ledger: SyncLedger) -> None:
    big = {"note": "x" * 30_000}  # about 60 KB a row as UTF-16: 100 rows would pass 4 MiB
    ledger.remember_many(LedgerRecord("contact", f"d{i:03d}", version=i, values=big) for i in range(100))
    assert sum(1 for _ in ledger.records("contact")) == 100


def test_when_records_are_read_together_only_the_known_ones_come_back(ledger: SyncLedger) -> None:
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(20)]
    known(ledger, *ids[::2])
    found = ledger.get_records("lead", [*ids, ids[0]])
    assert sorted(found) == ids[::2]
    assert found[ids[4]].version == 9_000_000_000_123
    assert ledger.get_records("contact", ids) == {}
