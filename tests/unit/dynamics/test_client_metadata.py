"""Column metadata: one request per table against the emulator, and the per-worker cache's lifetime."""

from __future__ import annotations

import pytest

from shared.dynamics import Column, DataverseClient, MetadataCache, RecordNotFoundError, TableColumns
from tests.conftest import Dataverse


def test_when_a_tables_columns_are_read_it_takes_one_request_and_has_types_lengths_and_flags(
    client: DataverseClient, dataverse: Dataverse
) -> None:
    dataverse.seed({"$entities": {"contact": {"attributes": {"new_opens": {"type": "text", "maxLength": 100}}}}})
    step = client.counted()
    contact = step.get_table_columns("contact")
    assert step.request_count == 1
    assert contact.table == "contact"
    assert contact.get("new_opens") == Column("new_opens", "String", 100, True, True)
    assert contact.get("description") == Column("description", "Memo", 2000, True, True)
    assert contact.get("parentcustomerid") is not None and contact.get("parentcustomerid").is_reference  # type: ignore[union-attr]
    assert set(contact.get("parentcustomerid").targets) == {"account", "contact"}  # type: ignore[union-attr]
    created = contact.get("createdon")
    assert created is not None and not created.valid_for_create and not created.valid_for_update
    assert "nosuchcolumn" not in contact


def test_when_the_table_does_not_exist_reading_its_columns_raises_not_found(client: DataverseClient) -> None:
    with pytest.raises(RecordNotFoundError):
        client.get_table_columns("nosuchtable")


class _Source:
    def __init__(self) -> None:
        self.calls = 0

    def get_table_columns(self, table: str) -> TableColumns:
        self.calls += 1
        return TableColumns(table, {"n": Column("n", "String", self.calls)})


def test_when_the_cache_is_warm_it_answers_without_asking_until_its_lifetime_ends() -> None:
    now = [1000.0]
    cache = MetadataCache(600, clock=lambda: now[0])
    source = _Source()
    assert cache.columns(source, "lead").get("n") == Column("n", "String", 1)
    now[0] += 599
    assert cache.tables(source, ["lead", "lead"])["lead"].get("n") == Column("n", "String", 1)
    assert source.calls == 1
    now[0] += 2
    assert cache.columns(source, "lead").get("n") == Column("n", "String", 2)
    assert source.calls == 2


def test_when_reading_fails_nothing_is_cached() -> None:
    class Failing:
        def get_table_columns(self, table: str) -> TableColumns:
            raise RecordNotFoundError(404, "0x80040217", "no table")

    cache = MetadataCache()
    with pytest.raises(RecordNotFoundError):
        cache.columns(Failing(), "lead")
    assert cache.columns(_Source(), "lead").get("n") is not None
