"""A member's search seen through its cohort mapping: a :class:`~gateway.members.protocols.CohortSearch` that asks
the member's own in the member's names and answers in the gateway's (:mod:`gateway.search.mapping.translate`).

:func:`mapped` wraps a member's search only when the member has a cohort mapping. A question that cannot be translated
exactly for this member is answered
:class:`~gateway.members.search.SearchUnsupported` (the member is reported ``unsupported`` with the reason, and its
circuit is not charged); :class:`~gateway.search.cohort.CohortService` checks every member's translation before fanning
out, so a cohort search gets a 400 instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.deadline import Deadline
from gateway.members.protocols import CohortSearch
from gateway.members.search import CohortQuery, MemberCounts, RowsPage, SearchUnsupported
from gateway.search.mapping.model import CohortMapping
from gateway.search.mapping.translate import (
    MemberQuery,
    UntranslatableQuery,
    counts_to_gateway,
    rows_to_gateway,
    to_member,
)


class MappedMember(CohortSearch):
    """``inner`` (a member's search) translated through ``mapping``."""

    def __init__(self, inner: CohortSearch, mapping: CohortMapping) -> None:
        self.inner = inner
        self.mapping = mapping

    def _question(self, query: CohortQuery, fields: Sequence[str] = ()) -> MemberQuery | None:
        index = self.mapping.index(query.index)
        if index is None:
            return None
        try:
            return to_member(index, self.mapping.member, query, fields)
        except UntranslatableQuery as exc:
            raise SearchUnsupported(self.mapping.member, str(exc), upstream_status=400) from None

    async def cohort_counts(self, query: CohortQuery, deadline: Deadline, *,
                            authorization: str | None = None) -> MemberCounts:
        question = self._question(query)
        if question is None:
            return await self.inner.cohort_counts(query, deadline, authorization=authorization)
        counts = await self.inner.cohort_counts(question.query, deadline, authorization=authorization)
        if not isinstance(counts, MemberCounts):
            return counts  # the service reports it as an unexpected answer
        index = self.mapping.index(query.index)
        assert index is not None
        return counts_to_gateway(index, question, counts)

    async def cohort_rows(self, query: CohortQuery, fields: Sequence[str], offset: int, limit: int,
                          deadline: Deadline, *, authorization: str | None = None) -> RowsPage:
        question = self._question(query, fields)
        if question is None:
            return await self.inner.cohort_rows(query, fields, offset, limit, deadline, authorization=authorization)
        page = await self.inner.cohort_rows(question.query, question.fields, offset, limit, deadline,
                                            authorization=authorization)
        if not isinstance(page, RowsPage):
            return page
        index = self.mapping.index(query.index)
        assert index is not None
        return rows_to_gateway(index, question, page)


def mapped(search: CohortSearch, mapping: CohortMapping | None) -> CohortSearch:
    """``search`` through ``mapping`` when there is one, else ``search`` itself."""
    return search if mapping is None else MappedMember(search, mapping)


def check(mappings: dict[str, CohortMapping], member_ids: Sequence[str], query: CohortQuery,
          fields: Sequence[str] = ()) -> None:
    """:class:`UntranslatableQuery` if ``query`` cannot be put exactly to one of ``member_ids``."""
    for member_id in member_ids:
        mapping = mappings.get(member_id)
        index = mapping.index(query.index) if mapping is not None else None
        if index is not None:
            to_member(index, member_id, query, fields)
