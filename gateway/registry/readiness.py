"""The health rules of the status routes, pure: the members' summary, ``/_status``'s overall word and readiness.

* **Members summary** (:func:`summarise`): of the *active* members, how many are ``healthy``, ``unhealthy`` or
  ``unknown`` (never probed yet) by the shared health state (:mod:`gateway.registry.health`), and which are
  unhealthy, by id (ids are public: the registry lists them to anyone); which are ``misconfigured`` (their records
  path was found not to answer like indexd/DRS: every lookup there is a 502) and what each ``offers``
  (:meth:`gateway.core.member.Member.offers`).
* **``/_status``** (:func:`overall`): ``ok`` when the store and the cache answer, the registry matches its
  declarations, and no active member is unhealthy or misconfigured; else ``degraded``. Never a reason for a
  non-200 answer.
* **Readiness** (:func:`unready_because`): a replica is ready when its store answers and its routing view has
  read the registry at least once. A member being down is *not* a reason (every replica would be pulled for a
  member's fault, while the gateway still answers for the others): it is summarised only. Nor is the cache (a
  dead cache is a miss).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.member import CAPABILITIES, Member


@dataclass(frozen=True, slots=True)
class MembersSummary:
    active: int
    healthy: int
    unhealthy: int
    unknown: int
    down: tuple[str, ...]
    """Ids of the unhealthy members, sorted."""
    misconfigured: tuple[str, ...] = ()
    """Ids of the members whose records path does not answer like indexd/DRS, sorted."""
    offers: dict[str, list[str]] = field(default_factory=dict)
    """What each member offers (:data:`~gateway.core.member.CAPABILITIES`)."""

    def to_doc(self) -> dict[str, Any]:
        return {"active": self.active, "healthy": self.healthy, "unhealthy": self.unhealthy,
                "unknown": self.unknown, "down": list(self.down), "misconfigured": list(self.misconfigured),
                "offers": self.offers}


def summarise(active: Iterable[str], states: Mapping[str, str],
              members: Mapping[str, Member] | None = None) -> MembersSummary:
    """The summary of the ``active`` member ids given their health ``states`` (a missing id is ``unknown``) and, with
    their records (``members``), what they offer."""
    ids = sorted(set(active))
    seen = [states.get(mid, "unknown") for mid in ids]
    down = tuple(mid for mid, state in zip(ids, seen) if state == "unhealthy")
    healthy = sum(1 for state in seen if state == "healthy")
    known = members or {}
    misconfigured = tuple(mid for mid in ids if mid in known and not known[mid].offers("records"))
    offers = {mid: [c for c in CAPABILITIES if known[mid].offers(c)] for mid in ids if mid in known}
    return MembersSummary(len(ids), healthy, len(down), len(ids) - healthy - len(down), down, misconfigured, offers)


def overall(*, store: bool, cache: bool, registry: bool, members: MembersSummary | None) -> str:
    """``/_status``'s word: ``ok`` when every dependency answers and no active member is down, else ``degraded``
    (``members`` is ``None`` when their health could not be read: the store check tells why)."""
    members_ok = members is None or (members.unhealthy == 0 and not members.misconfigured)
    return "ok" if store and cache and registry and members_ok else "degraded"


def unready_because(*, store: bool, registry_loaded: bool) -> list[str]:
    """Why this replica should get no traffic (empty: ready)."""
    reasons = []
    if not store:
        reasons.append("the store does not answer")
    if not registry_loaded:
        reasons.append("the registry was never loaded")
    return reasons
