"""Schemathesis hooks of `test_openapi_fuzz.py`: the failures it must not count, each with its reason.

Loaded by schemathesis itself (the `hooks` entry of the configuration the test writes), in the
schemathesis process, not in pytest's.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis

DROPPED_LOG = "OPENAPI_FUZZ_DROPPED"  # where each dropped failure is noted, one JSON line each
# The person rules that depend on the configuration and on Dynamics' columns (shared.steps.person):
# no schema can say them, so openapi.yaml describes them in words (Person) and a 400 naming them
# is expected.
CONFIGURATION_RULES = (
    # Each missing member of the needed sets (the steps, and the sync's enqueue for its kind).
    "is required: the person fills no identifier set",
    "is filled from the person's own fields",  # `fields` names a column the person field map fills
    "must be text: identifier columns are text columns",
    # `fields` against the Lead table's column metadata (shared.columns)
    "Lead has no column", "is not writable on both create and update", "must be ", "is out of range for a ",
    "is a ",  # a lookup, or a column type the product does not write
)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """True keeps the failure (the run fails); False drops it, and notes it for the test's summary."""
    for reason in (_configuration_rule, _configuration_columns, _unique_by_property, _column_metadata):
        if reason(failure, case, response):
            _note_dropped(reason.__name__.strip("_"), failure, case, response)
            return False
    return True


def _note_dropped(reason: str, failure: Any, case: Any, response: Any) -> None:
    target = os.environ.get(DROPPED_LOG)
    if target:
        line = {"reason": reason, "code": failure.code, "operation": f"{case.method.upper()} {case.path}",
                "status": response.status_code}
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


def _configuration_rule(failure: Any, case: Any, response: Any) -> bool:
    """A schema-valid person the configuration refuses is a 400; it must name nothing but those rules."""
    if failure.code != "ST202" or response.status_code != 400 or not (
            case.path.startswith("/journey/") or case.path == "/sync/enqueue"):
        return False
    errors = _errors(response)
    return bool(errors) and all(
        error.get("loc", [None])[0] == "person" and str(error.get("msg", "")).startswith(CONFIGURATION_RULES)
        for error in errors
    )


def _configuration_columns(failure: Any, case: Any, response: Any) -> bool:
    """A schema-valid configuration naming columns Dynamics lacks (or of the wrong type), or a column
    twice: the checks against Dynamics' metadata and the one-writer rule, which no schema can say."""
    if failure.code != "ST202" or response.status_code != 400 or case.path != "/config":
        return False
    try:
        title = response.json().get("title")
    except ValueError:
        return False
    errors = _errors(response)
    return bool(errors) and (title == "Invalid configuration"
                             or all("already writes" in str(error.get("msg", "")) for error in errors))


def _unique_by_property(failure: Any, case: Any, response: Any) -> bool:
    """Field mappings name each Dynamics attribute once: JSON Schema cannot say "unique by one property"."""
    if failure.code != "ST202" or response.status_code != 400 or case.path != "/sync/settings":
        return False
    errors = _errors(response)
    return bool(errors) and all(
        error.get("loc", [None])[0] == "fieldMappings"
        and (str(error.get("msg", "")).endswith("appears more than once") or " repeats " in str(error.get("msg", "")))
        for error in errors
    )


# What the sync settings' metadata checks say (shared.sync.settings_checks): the columns Dynamics has.
COLUMN_RULES = (" has no column ", "cannot be used in criteria", "needs a String or Memo column",
                "needs a number or date column", " cannot be written by the sync", ": the value must be",
                ": each value must be")


def _column_metadata(failure: Any, case: Any, response: Any) -> bool:
    """Criteria and mappings are checked against Dynamics' columns: no schema can say which exist."""
    if failure.code != "ST202" or response.status_code != 400 or case.path != "/sync/settings":
        return False
    errors = _errors(response)
    return bool(errors) and all(
        error.get("loc", [None])[0] in ("dataConfiguration", "fieldMappings")
        and any(rule in str(error.get("msg", "")) for rule in COLUMN_RULES)
        for error in errors
    )


def _errors(response: Any) -> list[dict[str, Any]]:
    try:
        errors = json.loads(response.content)["errors"]
    except (ValueError, KeyError, TypeError):
        return []
    return [error for error in errors if isinstance(error, dict)] if isinstance(errors, list) else []
