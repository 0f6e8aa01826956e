"""The k-way merge of did-ordered member listings (pure): every record exactly once, in order, whatever the
page size, the members' page sizes, duplicates of a did across members, or paging by cursor vs. last did."""

from __future__ import annotations

import asyncio
import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.errors import MemberUnavailable
from gateway.core.records import MemberRecord
from gateway.indexd.merge import Stream, collect, cut


def _rec(member: str, did: str) -> MemberRecord:
    return MemberRecord(member_id=member, id=did, format="indexd", document={"did": did})


class Member:
    """An in-memory indexd: its sorted dids, listed after ``start`` as indexd lists them."""

    def __init__(self, member_id: str, dids: set[str]) -> None:
        self.id = member_id
        self.dids = sorted(dids)
        self.calls = 0

    def page(self, start: str | None, limit: int) -> list[MemberRecord]:
        self.calls += 1
        i = bisect.bisect_right(self.dids, start) if start is not None else 0
        return [_rec(self.id, d) for d in self.dids[i:i + limit]]


def _page(members: list[Member], after: str | None, limit: int, page: int | None = None) -> tuple[list[str], bool]:
    """One federated page, as the service computes it (``asked_for`` as it asks)."""
    positional = page is not None
    skip = (page or 0) * limit
    want = skip + limit
    asked_for = min(want + 1, 1024)
    streams = [Stream(m.id, after) for m in members]
    by_id = {m.id: m for m in members}

    async def fill(dry: list[Stream]) -> None:
        for s in dry:
            s.take(by_id[s.member_id].page(s.after, asked_for), asked_for)

    taken, more = asyncio.run(collect(streams, want, positional=positional, fill=fill))
    result = cut(taken, skip, limit, positional=positional, more=more)
    return [r.id for r in result.records], result.more


def _expected(members: list[Member]) -> list[str]:
    return [d for d, _ in sorted((d, m.id) for m in members for d in m.dids)]


DIDS = st.sets(st.text(alphabet="abcdef0123", min_size=1, max_size=3), max_size=25)


@settings(max_examples=150, deadline=None)
@given(st.lists(DIDS, min_size=1, max_size=4), st.integers(min_value=1, max_value=9))
def test_paging_by_last_did_returns_everything_once_in_order(did_sets, limit):
    members = [Member(f"m{i}", dids) for i, dids in enumerate(did_sets)]
    got: list[str] = []
    after = None
    for _ in range(200):
        dids, more = _page(members, after, limit)
        assert len(dids) <= limit or len(set(dids)) == 1  # longer only when the page is one did group
        got += dids
        if not more:
            break
        after = dids[-1]
    assert got == _expected(members)


@settings(max_examples=100, deadline=None)
@given(st.lists(DIDS, min_size=1, max_size=4), st.integers(min_value=1, max_value=6), st.integers(0, 6))
def test_page_is_an_offset_in_the_merged_order(did_sets, limit, page):
    members = [Member(f"m{i}", dids) for i, dids in enumerate(did_sets)]
    dids, _ = _page(members, None, limit, page)
    assert dids == _expected(members)[page * limit:(page + 1) * limit]


def test_a_did_group_at_the_end_of_a_page_moves_to_the_next():
    members = [Member("a", {"1", "2", "5"}), Member("b", {"2", "3"})]
    assert _page(members, None, 2) == (["1"], True)  # "2" is at both: not split between pages
    assert _page(members, "1", 2) == (["2", "2"], True)
    assert _page(members, None, 1) == (["1"], True)
    assert _page(members, "1", 1) == (["2", "2"], True)  # the whole page is the group: kept whole
    assert _page(members, "2", 5) == (["3", "5"], False)


def test_one_member_filling_the_page_costs_no_extra_call():
    big, small = Member("a", {f"{i:03d}" for i in range(50)}), Member("b", {"zzz"})
    assert _page([big, small], None, 10) == ([f"{i:03d}" for i in range(10)], True)
    assert big.calls == 1 and small.calls == 1


def test_a_member_page_out_of_order_or_too_long_is_refused():
    stream = Stream("m", "b")
    with pytest.raises(MemberUnavailable):
        stream.take([_rec("m", "a")], 5)  # not after start
    with pytest.raises(MemberUnavailable):
        Stream("m", None).take([_rec("m", "b"), _rec("m", "a")], 5)
    with pytest.raises(MemberUnavailable):
        Stream("m", None).take([_rec("m", "a"), _rec("m", "b")], 1)
    ok = Stream("m", None)
    ok.take([_rec("m", "a")], 2)
    assert ok.exhausted and ok.after == "a"
