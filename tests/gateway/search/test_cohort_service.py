"""The cohort-search service (gateway.search.cohort) against fake member adapters: one shared deadline, every
status, circuit breaking, credential forwarding, rows paging and cursors."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from gateway.access.caller import SearchCaller
from gateway.core.deadline import Deadline
from gateway.core.errors import MemberUnavailable
from gateway.core.member import Member, MemberAuth
from gateway.members.search import TOTAL, CohortQuery, Count, MemberCounts, RowsPage, SearchUnsupported
from gateway.search.breaker import Breaker
from gateway.search.cohort import CIRCUIT_OPEN, CohortService, RowsRequest
from gateway.search.counts import Status
from gateway.search.cursors import BadCursor, Cursor, decode_cursor, encode_cursor, question_digest
from gateway.search.tiering import RowsForbidden
from gateway.settings.aggregate import AggregateConfig

Q = CohortQuery("subject", None, ("sex",))


def member(mid: str, kind: str = "gen3", auth: str = "none") -> Member:
    return Member(mid, mid, f"http://{mid}.example", kind, (f"dg.{mid}",), (), auth=MemberAuth(auth))  # type: ignore


@dataclass
class Fake:
    behaviour: str = "ok"
    counts: MemberCounts = field(default_factory=lambda: MemberCounts(
        Count(300, 300), {"sex": {"F": Count(100, 100), "M": Count(200, 200)}}))
    rows: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    seen_auth: list[str | None] = field(default_factory=list)

    async def cohort_counts(self, query, deadline, *, authorization=None):
        self.calls += 1
        self.seen_auth.append(authorization)
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        if self.behaviour == "error":
            raise MemberUnavailable("x", "HTTP 500")
        if self.behaviour == "garbage":
            return {"not": "counts"}
        if self.behaviour == "crash":
            raise KeyError("data")
        if self.behaviour == "unsupported":
            raise SearchUnsupported("x", "no guppy")
        return self.counts

    async def cohort_rows(self, query, fields, offset, limit, deadline, *, authorization=None):
        self.calls += 1
        if self.behaviour == "error":
            raise MemberUnavailable("x", "HTTP 500")
        page = self.rows[offset:offset + limit]
        nxt = offset + len(page) if offset + len(page) < len(self.rows) else None
        return RowsPage(tuple({f: r.get(f) for f in fields} for r in page), nxt, len(self.rows))


class NoSearch:
    """An adapter without the search methods at all."""


@dataclass
class Routes:
    members: dict[str, Member]


class FakeDirectory:
    def __init__(self, adapters: dict[str, Any], kinds: dict[str, str] | None = None, auth: str = "none") -> None:
        self.adapters = adapters
        self.by_id = {m: member(m, (kinds or {}).get(m, "gen3"), auth) for m in adapters}

    async def routes(self, *, fresh: bool = False) -> Routes:
        return Routes(self.by_id)

    def adapter(self, m: Member) -> Any:
        return self.adapters[m.id]


def service(adapters: dict[str, Any], clock=time.monotonic, **config: Any) -> CohortService:
    cfg = AggregateConfig.model_validate({"deadline": 2.0, **config})
    return CohortService(FakeDirectory(adapters), cfg, clock=clock)


def by_commons(result) -> dict[str, Any]:
    return {s.commons: s for s in result.rendered.sources}


async def test_every_status_and_the_merge_of_those_that_answered():
    partial = Fake(counts=MemberCounts(Count(300, 300), {"sex": {"F": Count(300, 300)}}, partial=True))
    svc = service({"a": Fake(), "b": partial, "c": Fake("error"), "d": Fake("garbage"), "e": Fake("crash"),
                   "f": Fake("unsupported"), "g": NoSearch()})
    result = await svc.search(Q, "all")
    s = by_commons(result)
    assert [x.status for x in result.rendered.sources] == [
        Status.OK, Status.PARTIAL, Status.ERROR, Status.ERROR, Status.ERROR, Status.UNSUPPORTED, Status.UNSUPPORTED]
    assert s["a"].count == 300 and s["b"].count == 300 and s["c"].count is None
    assert "HTTP 500" in s["c"].error and "unexpected answer" in s["d"].error
    assert s["e"].error == "unexpected answer"  # an exception's class or text never reaches a client: it is logged
    assert result.rendered.total.value == 600
    assert {k: b.value for k, b in result.rendered.histograms["sex"].items()} == {"F": 400, "M": 200}
    assert result.answered


async def test_a_hung_member_times_out_within_the_one_shared_deadline():
    svc = service({"a": Fake(), "h1": Fake("hang"), "h2": Fake("hang")}, deadline=5.0)
    start = time.monotonic()
    result = await svc.search(Q, "all", deadline_seconds=0.3)  # the request may only shorten the deadline
    took = time.monotonic() - start
    assert took < 0.3 + 1.0 < 5.0  # within the request's deadline, far from the service's (a loaded run may stall)
    s = by_commons(result)
    assert s["h1"].status == s["h2"].status == Status.TIMEOUT
    assert 250 <= s["h1"].took_ms <= 600
    assert s["a"].status == Status.OK and result.rendered.total.value == 300
    assert (await svc.search(Q, "all", deadline_seconds=99)).answered  # capped at the configured 5 s, no error


async def test_only_timeouts_vs_other_failures():
    svc = service({"h": Fake("hang")})
    result = await svc.search(Q, "all", deadline_seconds=0.1)
    assert not result.answered and result.only_timeouts
    svc = service({"h": Fake("hang"), "e": Fake("error")})
    result = await svc.search(Q, "all", deadline_seconds=0.1)
    assert not result.answered and not result.only_timeouts


async def test_the_circuit_opens_after_n_failures_skips_the_member_and_closes_after_the_cooldown():
    now = [1000.0]
    bad = Fake("error")
    svc = service({"bad": bad, "ok": Fake()}, clock=lambda: now[0], breaker={"failures": 2, "cooldown": 30})
    for _ in range(2):
        assert by_commons(await svc.search(Q, "all"))["bad"].error != CIRCUIT_OPEN
    assert bad.calls == 2
    s = by_commons(await svc.search(Q, "all"))["bad"]
    assert (s.status, s.error, s.took_ms) == (Status.ERROR, CIRCUIT_OPEN, 0)
    assert bad.calls == 2  # skipped
    now[0] += 31
    bad.behaviour = "ok"
    assert by_commons(await svc.search(Q, "all"))["bad"].status == Status.OK
    assert bad.calls == 3


def test_breaker_half_open_failure_reopens_and_success_resets():
    now = [0.0]
    b = Breaker(3, 10, lambda: now[0])
    for _ in range(2):
        b.record("m", False)
    assert b.allows("m")
    b.record("m", True)
    for _ in range(2):
        b.record("m", False)
    assert b.allows("m")  # the success reset the count
    b.record("m", False)
    assert not b.allows("m")
    now[0] = 10
    assert b.allows("m")
    b.record("m", False)  # the trial failed: open again at once
    assert not b.allows("m")


async def test_timeouts_count_towards_the_circuit_and_unsupported_does_not():
    now = [0.0]
    hang, unsupported = Fake("hang"), Fake("unsupported")
    svc = service({"h": hang, "u": unsupported}, clock=lambda: now[0], breaker={"failures": 1, "cooldown": 30})
    await svc.search(Q, "all", deadline_seconds=0.05)
    s = by_commons(await svc.search(Q, "all", deadline_seconds=0.05))
    assert s["h"].error == CIRCUIT_OPEN and hang.calls == 1
    assert s["u"].status == Status.UNSUPPORTED and unsupported.calls == 2


async def test_authorization_goes_only_where_passthrough_rules_allow():
    plain, passthrough = Fake(), Fake()
    directory = FakeDirectory({"plain": plain, "pt": passthrough}, kinds={"plain": "drs", "pt": "drs"})
    directory.by_id["pt"] = member("pt", "drs", "passthrough")
    svc = CohortService(directory, AggregateConfig())
    await svc.search(Q, "all", caller=SearchCaller("Bearer abc"))
    assert plain.seen_auth == [None] and passthrough.seen_auth == ["Bearer abc"]
    # a gen3 member gets a token only if its own fence issued it (an opaque token is not a JWT it issued)
    g = Fake()
    directory = FakeDirectory({"g": g})
    directory.by_id["g"] = member("g", "gen3", "passthrough")
    await CohortService(directory, AggregateConfig()).search(Q, "all", caller=SearchCaller("Bearer abc"))
    assert g.seen_auth == [None]


async def test_member_hidden_cells_come_out_hidden():
    hiding = Fake(counts=MemberCounts(Count(300, 280), {"sex": {"F": Count(150, 150)}},
                                      hidden=frozenset({("sex", "M")})))
    svc = service({"a": Fake(), "b": hiding})
    r = (await svc.search(Q, "all")).rendered
    assert r.histograms["sex"]["M"].hidden and r.histograms["sex"]["M"].value is None
    assert r.total.hidden or r.histograms["sex"]["F"].hidden  # M = T - F must not be derivable
    hiding.counts = MemberCounts(Count(0, 0), {}, hidden=frozenset({TOTAL}))
    r = (await svc.search(Q, "accessible")).rendered
    assert r.total.hidden and by_commons(type("R", (), {"rendered": r})())["b"].hidden


# --- rows --------------------------------------------------------------------------------------------------------


def rows_of(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"subject_id": f"{prefix}-{i}", "sex": "F"} for i in range(n)]


async def test_rows_need_accessible_unless_every_member_is_libre():
    svc = service({"a": Fake()})
    with pytest.raises(RowsForbidden, match="accessible"):
        await svc.search(Q, "all", rows=RowsRequest(("subject_id",), 10))
    libre = service({"a": Fake(rows=rows_of("a", 2))}, tier={"level": "libre"})
    assert len((await libre.search(Q, "all", rows=RowsRequest(("subject_id",), 10))).rows.rows) == 2


async def test_rows_page_across_members_in_registry_order_with_the_cursor():
    svc = service({"b": Fake(rows=rows_of("b", 3)), "a": Fake(rows=rows_of("a", 4)), "c": Fake(rows=[]),
                   "d": Fake(rows=rows_of("d", 2))}, max_page=3)
    seen, cursor, pages = [], None, 0
    while True:
        result = await svc.search(Q, "accessible", rows=RowsRequest(("subject_id",), 100, cursor))
        page = result.rows
        assert len(page.rows) <= 3
        seen += [(r["commons"], r["subject_id"]) for r in page.rows]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [(m, f"{m}-{i}") for m, n in (("a", 4), ("b", 3), ("d", 2)) for i in range(n)]
    assert pages == 3


async def test_a_member_failing_while_paging_is_reported_and_skipped():
    svc = service({"a": Fake("error"), "b": Fake(rows=rows_of("b", 2)), "c": Fake("unsupported"),
                   "d": NoSearch()})
    page = (await svc.search(Q, "accessible", rows=RowsRequest(("subject_id",), 10))).rows
    assert [r["commons"] for r in page.rows] == ["b", "b"] and page.next_cursor is None
    assert [(s.commons, s.status) for s in page.sources] == [
        ("a", Status.ERROR), ("b", Status.OK), ("c", Status.OK), ("d", Status.UNSUPPORTED)]


async def test_bad_cursors_are_refused():
    svc = service({"a": Fake(rows=rows_of("a", 5))}, max_page=2)
    first = (await svc.search(Q, "accessible", rows=RowsRequest(("subject_id",), 2))).rows
    assert first.next_cursor
    doc = orjson.loads(base64.urlsafe_b64decode(first.next_cursor + "=="))
    assert doc["m"] == 0 and doc["o"] == 2
    bad = [
        "!!!", "e30", base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(orjson.dumps({**doc, "o": -1})).decode(),
        base64.urlsafe_b64encode(orjson.dumps({**doc, "m": "0"})).decode(),
        base64.urlsafe_b64encode(orjson.dumps({**doc, "q": "0" * 16})).decode(),
    ]
    for cursor in bad:
        with pytest.raises(BadCursor):
            await svc.search(Q, "accessible", rows=RowsRequest(("subject_id",), 2, cursor))
    with pytest.raises(BadCursor, match="another question"):  # same cursor, other fields
        await svc.search(Q, "accessible", rows=RowsRequest(("sex",), 2, first.next_cursor))


def test_cursor_round_trip():
    digest = question_digest(Q, ("a",), "accessible")
    c = Cursor(2, "m", 40)
    assert decode_cursor(encode_cursor(c, digest), digest) == c
    assert "=" not in encode_cursor(c, digest)


def test_deadline_is_capped_by_config():
    svc = service({}, deadline=1.0)
    assert svc.deadline(30).remaining() <= 1.0
    assert svc.deadline(0.2).remaining() <= 0.2
    assert isinstance(svc.deadline(), Deadline)
