"""The Owner rule: who owns a record the product creates. Pure; every function uses it.

- The platform user (`ownerUserId`) maps through `userMapping.identities` to a systemuser,
  used when it exists and is enabled: rule `mapped`, reason `None`.
- Else `userMapping.defaultOwner`, on the same terms: rule `defaultOwner`, and the reason says
  why the mapped user was not used: `unmapped` (no platform user, or no mapping for it),
  `userMissing`, `userDisabled`.
- Else the record is created without `ownerid` (Dynamics makes the calling application user
  the owner): rule `dynamics`, reason `defaultOwnerUnavailable` when a default owner is
  configured but missing or disabled, else the mapped user's reason.

An update never changes the owner, so the rule is decided only for records being created. The
candidates' systemusers are looked up together with the rest of a step's (or a batch's)
look-ups: `OwnerCandidates.query()` is one filter over both ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.dynamics.query import Filter, Query, bind

__all__ = ["OwnerCandidates", "OwnerDecision", "OwnerReason", "OwnerRule", "decide_owner", "owner_candidates"]

OwnerRule = Literal["mapped", "defaultOwner", "dynamics"]
OwnerReason = Literal["unmapped", "userMissing", "userDisabled", "defaultOwnerUnavailable"]


@dataclass(frozen=True)
class OwnerCandidates:
    """Who may own a new record: the platform user's mapped systemuser, else the default owner."""

    platform_user_id: str | None
    mapped: str | None
    default: str | None

    @property
    def ids(self) -> list[str]:
        return list(dict.fromkeys(i for i in (self.mapped, self.default) if i))

    def query(self) -> tuple[str, Query] | None:
        """The systemusers look-up telling whether the candidates exist and are enabled."""
        if not self.ids:
            return None
        condition = Filter.or_(*(Filter.eq("systemuserid", i) for i in self.ids))
        return ("systemusers", Query(select=["systemuserid", "isdisabled"], filter=condition))


@dataclass(frozen=True)
class OwnerDecision:
    """The owner of a new record (None: left to Dynamics), the rule that chose it, and why."""

    owner_id: str | None
    rule: OwnerRule
    reason: OwnerReason | None

    def bind(self) -> dict[str, str]:
        """`ownerid@odata.bind` for the create body, or nothing to leave the owner to Dynamics."""
        return {"ownerid@odata.bind": bind("systemusers", self.owner_id)} if self.owner_id else {}


def owner_candidates(
    platform_user_id: str | None, identities: Mapping[str, str], default_owner: str | None
) -> OwnerCandidates:
    """The candidates for `platform_user_id` under the user mapping (GUIDs compared lowercase)."""
    mapped = identities.get(platform_user_id) if platform_user_id else None
    return OwnerCandidates(
        platform_user_id, mapped.lower() if mapped else None, default_owner.lower() if default_owner else None
    )


def _usability(user_id: str, users: Mapping[str, Mapping[str, Any]]) -> OwnerReason | None:
    user = users.get(user_id)
    if user is None:
        return "userMissing"
    if user.get("isdisabled") is not False:  # anything but a clear "enabled" is not usable
        return "userDisabled"
    return None


def decide_owner(candidates: OwnerCandidates, users: Iterable[Mapping[str, Any]]) -> OwnerDecision:
    """The Owner rule over the systemusers found by `candidates.query()`."""
    by_id = {str(user.get("systemuserid", "")).lower(): user for user in users}
    reason: OwnerReason = "unmapped"
    if candidates.mapped:
        problem = _usability(candidates.mapped, by_id)
        if problem is None:
            return OwnerDecision(candidates.mapped, "mapped", None)
        reason = problem
    if candidates.default:
        if _usability(candidates.default, by_id) is None:
            return OwnerDecision(candidates.default, "defaultOwner", reason)
        return OwnerDecision(None, "dynamics", "defaultOwnerUnavailable")
    return OwnerDecision(None, "dynamics", reason)
