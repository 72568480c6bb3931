"""Who a platform contact is in Dynamics terms, and the sync's tags: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.config import SyncSettings
from shared.steps.config import StepConfig

KIND_TAGS = {"lead": "D365: Lead", "contact": "D365: Contact"}
PUSHED_FROM_DYNAMICS = "D365: Pushed from Dynamics"


def pulled_from(platform_name: str) -> str:
    """The origin tag of a record that came from the platform."""
    return f"D365: Pulled from {platform_name}"


def enqueue_tags(kind: str, platform_name: str) -> list[str]:
    return [KIND_TAGS[kind], pulled_from(platform_name)]


def eligible(kind: str, tags: list[str], platform_name: str) -> bool:
    """A contact's changes reach a kind when it carries the kind tag and one origin tag."""
    have = set(tags)
    return KIND_TAGS[kind] in have and (pulled_from(platform_name) in have or PUSHED_FROM_DYNAMICS in have)


def columns_for(values: Mapping[str, Any], kind: str, config: StepConfig, settings: SyncSettings) -> dict[str, Any]:
    """The person's values by Dynamics column for a kind: `personFields` for the standard members
    (`company` is never a Contact column), then every `both`/`toDynamics` mapping of the kind."""
    columns: dict[str, Any] = {}
    for name, column in config.person_fields.items():
        if column and name in values and values[name] is not None and not (kind == "contact" and name == "company"):
            columns[column] = values[name]
    for mapping in settings.mappings(kind):
        if mapping.direction != "toPlatform" and values.get(mapping.platform) is not None:
            columns[mapping.dynamics] = values[mapping.platform]
    return columns


def mapping_locs(kind: str, settings: SyncSettings) -> dict[str, tuple[str, ...]]:
    """Where each column a mapping of the kind fills comes from in the request (`person.<name>`,
    `person.platformFields.<name>`), to name it in an error."""
    return {mapping.dynamics: ("person", *mapping.platform.split(".", 1))
            for mapping in settings.mappings(kind) if mapping.direction != "toPlatform"}
