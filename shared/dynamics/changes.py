"""Change tracking results: changed rows, deleted rows, and the delta link to ask with next time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeletedRecord:
    """A row deleted since the previous delta link (a `$deletedEntity` object)."""

    id: str
    reason: str = "deleted"


def deleted_record(item: dict[str, Any]) -> DeletedRecord | None:
    """The `DeletedRecord` for a delta item that reports a deletion, None for a changed row.

    Dataverse reports deletions as `$deletedEntity` objects, not in OData 4.01's `@removed` form.
    """
    context = str(item.get("@odata.context", ""))
    if context.endswith("$deletedEntity") and "id" in item:
        return DeletedRecord(str(item["id"]).lower(), str(item.get("reason", "deleted")))
    return None


Change = dict[str, Any] | DeletedRecord


class ChangeFeed:
    """Iterate for changed rows (`dict`) and `DeletedRecord`s; then read `delta_link`.

    Pages inside a delta are followed through `@odata.nextLink`; the final page carries the new
    `@odata.deltaLink`, which `delta_link` returns once iteration has finished.
    """

    def __init__(self, pages: Callable[[ChangeFeed], Iterator[Change]]) -> None:
        self._delta_link: str | None = None
        self._iterator = pages(self)

    def __iter__(self) -> Iterator[Change]:
        return self._iterator

    def __next__(self) -> Change:
        return next(self._iterator)

    def _finish(self, delta_link: str) -> None:
        self._delta_link = delta_link

    @property
    def delta_link(self) -> str:
        if self._delta_link is None:
            raise RuntimeError("the delta link is known only after every change has been read")
        return self._delta_link
