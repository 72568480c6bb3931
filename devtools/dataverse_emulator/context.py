"""Per-request state handed to every handler: the emulator, the request and ready-made helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .annotations import AnnotationFilter
from .filter_eval import FilterEvaluator
from .identity import Caller, resolve_caller
from .protocol import Request
from .representation import Renderer
from .schema import Schema
from .store import Store
from .writes import Writer

if TYPE_CHECKING:
    from .app import Emulator


@dataclass
class Context:
    app: Emulator
    request: Request
    applied: list[str] = field(default_factory=list)  # Preference-Applied values
    operations: int = 1  # Dataverse operations this request performed (for limits and stats)

    @property
    def schema(self) -> Schema:
        return self.app.schema

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def root(self) -> str:
        return self.request.service_root

    @property
    def prefer(self) -> dict[str, str | None]:
        return self.request.prefer()

    @property
    def annotations(self) -> AnnotationFilter:
        prefer = self.prefer
        return AnnotationFilter(prefer.get("odata.include-annotations", None))

    @cached_property
    def caller(self) -> Caller:
        return resolve_caller(self.store, self.app.identity, self.request.headers)

    def evaluator(self) -> FilterEvaluator:
        return FilterEvaluator(self.schema, self.store, self.caller.user_id)

    def renderer(self) -> Renderer:
        return Renderer(self.schema, self.store, self.root, self.annotations, self.evaluator())

    def writer(self) -> Writer:
        detection = (self.request.headers.get("MSCRM.SuppressDuplicateDetection") or "").strip().lower()
        return Writer(self.schema, self.store, self.caller, self.request.content_ids,
                      detect_duplicates=detection == "false")

    def apply_annotations_preference(self) -> None:
        prefer = self.prefer
        if "odata.include-annotations" in prefer:
            self.applied.append(f"odata.include-annotations={prefer['odata.include-annotations']}")

    def wants_representation(self) -> bool:
        return self.prefer.get("return") == "representation"

    def applied_header(self) -> list[tuple[str, str]]:
        return [("Preference-Applied", ",".join(self.applied))] if self.applied else []

    def json_body(self) -> Any:
        return self.request.json()
