"""Tiered study counts for the aggregate MDS (pure): which of a study's counts a caller may see.

A study is the caller's (*accessible*) when every one of its ``authz`` resources is readable by the caller at its
member (:class:`~gateway.access.readable.Readable`); a study without ``authz`` is not. An accessible study's counts
are shown. An inaccessible study's counts, under its member's tier (:class:`~gateway.access.tiers.TierPolicy`):

* ``libre``: shown;
* ``private``: always hidden;
* ``regular``: hidden when in ``(0, limit)`` (the primary rule), and, for the per-study counted fields (e.g.
  ``_subjects_count``), more when needed so that no hidden count follows from the others: a member's studies
  partition its subjects (samples, files), and the member's total is assumed known (a cohort search may show it),
  so ``total = sum of its studies' counts`` is an equation the adversary has. Complementary suppression
  (:func:`~gateway.access.tiers.suppress`) then hides further inaccessible counts of that member until no
  hidden one is derivable (accessible counts and the total are public and never hidden). The hidden set depends
  only on the member's studies and the caller's readable resources, never on the query, the page or the fields
  asked for, so paging, filtering or asking again derives nothing more.

:class:`StudyCountHider` is the :data:`~gateway.discovery.documents.CountHider` of one request: ``None`` for a
hidden count, the value otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.access.tiers import Tier, TierPolicy, suppress

Study = Mapping[str, Any]
TOTAL = ("total",)


def study_authz(study: Study) -> list[str]:
    """The study's ``authz`` resources (strings only)."""
    authz = study.get("authz")
    return [a for a in authz if isinstance(a, str)] if isinstance(authz, list) else []


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def complementary(studies: Sequence[tuple[str, Study]], accessible: frozenset[str], field: str,
                  limit: int) -> frozenset[str]:
    """The GUIDs whose ``field`` count is hidden under ``regular``: primary plus complementary suppression over the
    equation ``total = sum over the member's studies`` (the total and accessible studies public)."""
    cells: dict[tuple[str, ...], int] = {}
    for guid, study in studies:
        value = _count(study.get(field))
        if value is not None:
            cells[("study", guid)] = 0 if guid in accessible else value
    if not cells:
        return frozenset()
    protected = {**cells, TOTAL: sum(cells.values())}
    public = {TOTAL, *(("study", g) for g, _ in studies if g in accessible)}
    equation = {TOTAL: 1, **dict.fromkeys(cells, -1)}
    hidden = suppress(protected, limit, [equation], public=public, reluctant={TOTAL})
    return frozenset(cell[1] for cell in hidden if cell != TOTAL)


@dataclass(frozen=True)
class MemberStudies:
    """One member's tier and the caller's view of its studies."""

    tier: Tier
    accessible: frozenset[str]
    """GUIDs of the caller's studies."""
    hidden: Mapping[str, frozenset[str]]
    """Per counted field: GUIDs whose count is hidden (``regular``, from :func:`complementary`)."""


def member_studies(studies: Sequence[tuple[str, Study]], covers_all: Callable[[Iterable[str]], bool], tier: Tier,
                   limit: int, counted: Sequence[str]) -> MemberStudies:
    """The caller's view of one member's studies; ``covers_all(authz)``: are all these resources readable?"""
    accessible = frozenset(guid for guid, study in studies if covers_all(study_authz(study)))
    hidden = {}
    if tier is Tier.REGULAR:
        hidden = {field: complementary(studies, accessible, field, limit) for field in counted}
    return MemberStudies(tier, accessible, hidden)


@dataclass(frozen=True)
class StudyCountHider:
    """``(commons, guid, field, count) -> count or None`` for one request (see the module doc)."""

    policy: TierPolicy
    members: Mapping[str, MemberStudies]

    def __call__(self, commons: str, guid: str, field: str, value: int) -> int | None:
        view = self.members.get(commons)
        if view is None:  # a member this request did not look at: hide as strictly as its tier says
            tier = self.policy.tier_for(commons)
            return value if tier is Tier.LIBRE else None
        if guid in view.accessible or view.tier is Tier.LIBRE:
            return value
        if view.tier is Tier.PRIVATE:
            return None
        if field in view.hidden:
            return None if guid in view.hidden[field] else value
        return None if self.policy.hides(value) else value
