"""Company look-ups: a website set is a `contains` query whose rows are kept by normalised domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.bulk import BulkLookup
from shared.dynamics.query import Query
from shared.export.matching import register


class _Answers:
    """Answers every query of a `$batch` with the same rows, and keeps what was asked."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.asked: list[str] = []

    def query_batch(self, queries: Sequence[tuple[str, Query | None]], *, all_pages: bool = False,
                    ) -> list[list[dict[str, Any]]]:
        self.asked += [f"{entity_set}?{query.to_query_string() if query else ''}" for entity_set, query in queries]
        return [list(self.rows) for _ in queries]


def _account(account_id: str, name: str, website: str, modified: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"accountid": account_id, "name": name, "websiteurl": website, "statecode": 0, "modifiedon": modified}


def test_a_website_matches_by_domain_and_the_other_columns_of_its_set_must_be_equal() -> None:
    client = _Answers([
        _account("a1", "Example", "https://www.Example.com/path"),
        _account("a2", "Example", "https://notexample.com"),  # contains the text, another domain
        _account("a3", "Other", "example.com"),  # same domain, another name
    ])
    lookup = BulkLookup()
    found = register(lookup, "account", [["name", "websiteurl"]], {"name": "example", "websiteurl": "EXAMPLE.com."},
                     ["name"])
    lookup.run(client)
    match = found.resolve(lookup)
    assert match is not None and (match.record_id, match.duplicates) == ("a1", 0)
    assert len(client.asked) == 1 and "contains(websiteurl,'example.com')" in client.asked[0]


def test_a_company_without_a_usable_domain_is_looked_up_by_its_other_sets_only() -> None:
    lookup = BulkLookup()
    found = register(lookup, "account", [["websiteurl"], ["name"]], {"name": "Example", "websiteurl": "https://"},
                     [])
    assert [c.attributes for c in found.criteria] == [("name",)]
