"""The reference commons' Guppy tier from its settings (``tier_access_level``, ``tier_access_limit``): the
defaults, the ``serve`` flags, standalone commons at each level over real HTTP, the in-process commons from the
gateway's ``refcommons`` section, and a gateway in front of a ``private`` member."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import pytest_asyncio
from servers import Server, running, start_commons, start_gateway

from refcommons import cli
from refcommons.guppy.index import OUT_OF_SCOPE
from refcommons.settings import CommonsSettings

ASYNC = pytest.mark.asyncio(loop_scope="module")

GQL = "/guppy/graphql"
PREFIX, SEED, SUBJECTS = "dg.TIR1", 4, 120
TOTAL = "query($f: JSON) { _aggregation { subject(filter: $f, accessibility: %s) { _totalCount %s } } }"


# --- settings and flags ------------------------------------------------------------------------------------


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["refcommons", "serve", "--port", "8798", *argv])


def test_defaults_are_regular_and_50_not_guppys_1000():
    s = CommonsSettings()
    assert (s.tier_access_level, s.tier_access_limit) == ("regular", 50)
    bare = cli.settings_from_args(serve_args())
    assert (bare.tier_access_level, bare.tier_access_limit) == ("regular", 50)


def test_the_serve_flags_set_the_tier():
    s = cli.settings_from_args(serve_args("--tier-access-level", "libre", "--tier-access-limit", "7"))
    assert (s.tier_access_level, s.tier_access_limit) == ("libre", 7)
    s = cli.settings_from_args(serve_args("--tier-access-level", "private", "--tier-access-limit", "0"))
    assert (s.tier_access_level, s.tier_access_limit) == ("private", 0)


@pytest.mark.parametrize("argv", [("--tier-access-level", "public"), ("--tier-access-limit", "-1"),
                                  ("--tier-access-limit", "ten")])
def test_bad_flags_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        serve_args(*argv)
    assert exc.value.code == 2
    assert argv[0] in capsys.readouterr().err


@pytest.mark.parametrize("fields, words", [({"tier_access_level": "public"}, "tier_access_level"),
                                           ({"tier_access_limit": -1}, "tier_access_limit"),
                                           ({"tier_access_limit": True}, "tier_access_limit")])
def test_bad_settings_are_refused(fields, words):
    with pytest.raises(ValueError, match=words):
        CommonsSettings(**fields)


# --- standalone commons at each level ----------------------------------------------------------------------


async def gql(server: Server, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await server.client.post(GQL, json={"query": query, "variables": variables or {}})
    assert r.status_code == 200, r.text
    return r.json()


async def count(server: Server, accessibility: str, flt: Any = None, facet: str = "") -> dict[str, Any]:
    body = f"{facet} {{ asTextHistogram {{ key count }} }}" if facet else ""
    doc = await gql(server, TOTAL % (accessibility, body), {"f": flt})
    return doc["data"]["_aggregation"]["subject"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def levels() -> AsyncIterator[dict[str, Server]]:
    """The same data (prefix, seed, size) under each level, anonymous callers only."""
    async with AsyncExitStack() as stack:
        out = {}
        for level in ("private", "regular", "libre"):
            out[level] = await stack.enter_async_context(
                running(start_commons(PREFIX, SEED, SUBJECTS, tier_access_level=level)))
        yield out


def open_filter(server: Server) -> dict[str, Any]:
    assert server.commons is not None
    paths = sorted(r.path for r in server.commons.dataset.authz_resources() if r.access == "open")
    return {"IN": {"auth_resource_path": paths}}


@ASYNC
async def test_private_narrows_every_query_to_the_callers_data_as_guppys_auth_middleware_does(levels):
    private, regular = levels["private"], levels["regular"]
    everything = (await count(regular, "all"))["_totalCount"]
    readable = (await count(regular, "accessible"))["_totalCount"]
    assert 0 < readable < everything
    assert readable == (await count(regular, "all", open_filter(regular)))["_totalCount"]
    # Guppy's private level adds the accessible filter to every query, whatever its accessibility argument
    for accessibility in ("all", "accessible", "unaccessible"):
        assert (await count(private, accessibility))["_totalCount"] == readable
    # raw rows: regular refuses a query touching other data (Guppy's 401); private answers the readable rows
    rows = "{ subject(first: 1000) { subject_id auth_resource_path } }"
    refused = await gql(regular, rows)
    assert refused["errors"][0]["message"] == OUT_OF_SCOPE and refused["errors"][0]["extensions"]["code"] == 401
    answered = await gql(private, rows)
    assert "errors" not in answered and len(answered["data"]["subject"]) == readable
    # nothing is ever hidden: no inaccessible data takes part
    facet = await count(private, "all", facet="race")
    assert all(b["count"] > 0 for b in facet["race"]["asTextHistogram"])
    # downloads too
    r = await private.client.post("/guppy/download", json={"type": "subject", "fields": ["subject_id"]})
    assert r.status_code == 200 and len(r.json()) == readable


@ASYNC
async def test_regular_hides_small_counts_and_libre_shows_them(levels):
    regular, libre = levels["regular"], levels["libre"]
    hidden = (await count(regular, "all", facet="race"))["race"]["asTextHistogram"]
    shown = {b["key"]: b["count"] for b in (await count(libre, "all", facet="race"))["race"]["asTextHistogram"]}
    small = [b["key"] for b in hidden if b["count"] == -1]
    assert small, "the data should have small inaccessible race buckets under the limit of 50"
    assert all(shown[k] > 0 for k in small)
    assert all(c >= 0 for c in shown.values())
    assert (await count(libre, "all"))["_totalCount"] == SUBJECTS
    assert (await count(libre, "accessible"))["_totalCount"] == SUBJECTS  # libre: everything is everyone's
    rows = await gql(libre, "{ subject(first: 1000) { subject_id } }")
    assert len(rows["data"]["subject"]) == SUBJECTS


@ASYNC
async def test_the_limit_is_the_commons_own():
    async with running(start_commons(PREFIX, SEED, SUBJECTS, tier_access_limit=0)) as exact, \
            running(start_commons(PREFIX, SEED, SUBJECTS, tier_access_limit=100_000)) as strict:
        hist = (await count(exact, "all", facet="race"))["race"]["asTextHistogram"]
        assert hist and all(b["count"] > 0 for b in hist)  # limit 0: nothing is hidden
        assert (await count(exact, "all"))["_totalCount"] == SUBJECTS
        hist = (await count(strict, "all", facet="race"))["race"]["asTextHistogram"]
        assert hist and all(b["count"] == -1 for b in hist)  # every bucket has some inaccessible part
        assert (await count(strict, "all"))["_totalCount"] == -1


@ASYNC
async def test_the_in_process_commons_takes_the_gateway_refcommons_section():
    settings = {"store": {"url": "sqlite:///:memory:"}, "health": {"interval": 3600.0},
                "aggregate": {"harvest": {"enabled": False}}}
    async with running(start_gateway(refcommons={"subjects": 40, "data_dir": None, "tier_access_level": "libre"},
                                     **settings)) as gateway:
        doc = (await gateway.client.post("/refcommons" + GQL, json={
            "query": "{ _aggregation { subject(accessibility: accessible) { _totalCount } } }"})).json()
        assert doc["data"]["_aggregation"]["subject"]["_totalCount"] == 40  # libre: anonymous reads everything
    async with running(start_gateway(refcommons={"subjects": 40, "data_dir": None}, **settings)) as gateway:
        doc = (await gateway.client.post("/refcommons" + GQL, json={
            "query": "{ _aggregation { subject(accessibility: accessible) { _totalCount } } }"})).json()
        assert 0 < doc["data"]["_aggregation"]["subject"]["_totalCount"] < 40


# --- a gateway in front of a private member ----------------------------------------------------------------


@ASYNC
async def test_a_gateway_counts_only_what_a_private_member_lets_it_see(levels):
    private, regular = levels["private"], levels["regular"]
    members = [{"id": mid, "name": mid, "base_url": s.base_url, "kind": "gen3", "prefixes": [f"dg.{mid}"]}
               for mid, s in (("priv", private), ("reg", regular))]
    async with running(start_gateway(
        store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, registry={"members": members},
        health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}, "tier": {"level": "libre"}},
    )) as gateway:
        r = await gateway.client.post("/search/v1/cohort", json={"index": "subject", "facets": ["race"]})
        assert r.status_code == 200, r.text
        doc = r.json()
        sources = {s["commons"]: s for s in doc["sources"]}
        readable = (await count(private, "all"))["_totalCount"]
        everything = (await count(regular, "all"))["_totalCount"]
        assert readable < everything
        # the private member answers normally (ok), with only the caller's data: its inaccessible part is nil
        assert sources["priv"]["status"] == "ok" and sources["priv"]["error"] is None
        assert sources["priv"]["count"] == readable and not sources["priv"]["hidden"]
        assert sources["reg"]["status"] == "ok"
        # the regular member hides small race buckets itself, which stay hidden; the rest add up
        mine = {b["key"]: b["count"] for b in (await count(private, "all", facet="race"))["race"]["asTextHistogram"]}
        theirs = {b["key"]: b["count"] for b in (await count(regular, "all", facet="race"))["race"]["asTextHistogram"]}
        for bucket in doc["facets"]["race"]:
            if theirs.get(bucket["key"]) == -1:
                assert bucket == {"key": bucket["key"], "count": None, "hidden": True, "below": False}
            else:
                assert bucket["count"] == mine.get(bucket["key"], 0) + theirs.get(bucket["key"], 0)
        assert doc["total"] == {"count": readable + everything, "hidden": False, "below": False}
        # rows: the private member's are the readable ones
        r = await gateway.client.post("/search/v1/cohort", json={
            "index": "subject", "accessibility": "accessible",
            "rows": {"limit": 1000, "fields": ["subject_id"]}})
        assert r.status_code == 200, r.text
        rows = [row for row in r.json()["rows"] if row["commons"] == "priv"]
        assert len(rows) == readable
