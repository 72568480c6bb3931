"""The Owner rule as a table of cases: (mapping, users found) -> (owner, rule, reason)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.owner import OwnerDecision, decide_owner, owner_candidates

MAPPED = "5e000000-0000-4000-8000-000000000001"
DEFAULT = "5e000000-0000-4000-8000-000000000002"
IDENTITIES = {"u-1": MAPPED.upper(), "u-9": "5e000000-0000-4000-8000-000000000009"}


def user(user_id: str, disabled: bool = False) -> dict[str, Any]:
    return {"systemuserid": user_id, "isdisabled": disabled}


CASES = [
    # platform user, default owner, users found -> owner, rule, reason
    ("u-1", DEFAULT, [user(MAPPED), user(DEFAULT)], MAPPED, "mapped", None),
    ("u-1", None, [user(MAPPED)], MAPPED, "mapped", None),
    (None, DEFAULT, [user(DEFAULT)], DEFAULT, "defaultOwner", "unmapped"),
    ("u-unknown", DEFAULT, [user(DEFAULT)], DEFAULT, "defaultOwner", "unmapped"),
    ("u-9", DEFAULT, [user(DEFAULT)], DEFAULT, "defaultOwner", "userMissing"),
    ("u-1", DEFAULT, [user(MAPPED, disabled=True), user(DEFAULT)], DEFAULT, "defaultOwner", "userDisabled"),
    ("u-1", DEFAULT, [user(MAPPED, disabled=True), user(DEFAULT, disabled=True)], None, "dynamics",
     "defaultOwnerUnavailable"),
    ("u-9", DEFAULT, [], None, "dynamics", "defaultOwnerUnavailable"),
    (None, None, [], None, "dynamics", "unmapped"),
    ("u-9", None, [], None, "dynamics", "userMissing"),
    ("u-1", None, [user(MAPPED, disabled=True)], None, "dynamics", "userDisabled"),
]


@pytest.mark.parametrize(("platform_user", "default", "users", "owner", "rule", "reason"), CASES)
def test_the_owner_rule(
    platform_user: str | None, default: str | None, users: list[dict[str, Any]], owner: str | None, rule: str,
    reason: str | None,
) -> None:
    candidates = owner_candidates(platform_user, IDENTITIES, default)
    assert decide_owner(candidates, users) == OwnerDecision(owner, rule, reason)  # type: ignore[arg-type]


def test_when_both_candidates_exist_one_query_asks_for_both() -> None:
    candidates = owner_candidates("u-1", IDENTITIES, DEFAULT.upper())
    assert candidates.ids == [MAPPED, DEFAULT]
    query = candidates.query()
    assert query is not None and query[0] == "systemusers"
    assert owner_candidates(None, {}, None).query() is None


def test_when_an_owner_is_chosen_the_create_binds_it_and_otherwise_sends_nothing() -> None:
    assert OwnerDecision(MAPPED, "mapped", None).bind() == {"ownerid@odata.bind": f"/systemusers({MAPPED})"}
    assert OwnerDecision(None, "dynamics", "unmapped").bind() == {}
