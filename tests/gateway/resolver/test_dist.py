"""dist lists (pure): hints reduced to literal prefixes, malformed entries skipped, our own list renderable."""

from __future__ import annotations

import pytest

from gateway.core.member import Kind, Member
from gateway.resolver.dist import hint_prefix, match, parse_dist, render_dist


@pytest.mark.parametrize(("hint", "want"), [
    (".*dg\\.4503.*", "dg.4503"), ("dg.ANV0", "dg.anv0"), ("^dg\\.MD1R.*$", "dg.md1r"),
    ("(a+)+$", None), (".*", None), ("", None),
])
def test_hint_prefix(hint, want):
    assert hint_prefix(hint) == want


def test_parse_and_match():
    data = [
        {"name": "BDC", "host": "https://bdc.example.org/index/", "hints": [".*dg\\.4503.*", ".*dg\\.712C.*"],
         "type": "indexd"},
        {"name": "no hints", "host": "https://x.example.org/index/", "hints": []},
        {"name": "bad host", "host": "ftp://y/index/", "hints": ["dg.1"]},
        "junk",
        {"host": "https://anvil.example.org/index", "hints": ["dg.ANV0"]},
    ]
    entries = parse_dist(data, source="t")
    assert [e.name for e in entries] == ["BDC", "anvil.example.org"]
    assert match(entries, "DG.712c").root_url == "https://bdc.example.org"
    assert match(entries, "dg.anv0").host == "https://anvil.example.org/index/"
    assert match(entries, "dg.nope") is None
    with pytest.raises(ValueError):
        parse_dist({"not": "a list"}, source="t")


def _member(name: str, mid: str, prefixes: list[str], base_url: str, kind: Kind = "gen3") -> Member:
    return Member(id=mid, name=name, base_url=base_url, kind=kind, prefixes=tuple(prefixes), hostnames=())


def test_render_dist_round_trips_through_parse():
    rendered = render_dist([_member("Commons A", "a", ["dg.tst1"], "http://127.0.0.1:8701"),
                            _member("Commons B", "b", ["dg.tst2", "drs.x"], "http://127.0.0.1:8702/"),
                            _member("Commons C", "c", [], "http://127.0.0.1:8703")])
    entries = parse_dist(rendered, source="self")
    assert match(entries, "dg.TST2").name == "Commons B"
    assert [e.host for e in entries] == ["http://127.0.0.1:8701/index/", "http://127.0.0.1:8702/index/"]


def test_render_dist_types_each_member_by_its_kind():
    rendered = render_dist([_member("G", "g", ["dg.tst1"], "http://g"),
                            _member("D", "d", ["dg.tst2"], "http://d/", "drs"),
                            _member("R", "r", ["dg.ref0"], "http://r", "reference")])
    assert [(e["type"], e["host"]) for e in rendered] == [
        ("indexd", "http://g/index/"), ("drs", "http://d/ga4gh/drs/v1/"), ("indexd", "http://r/index/")]


def test_rendered_hints_serve_gen3_drs_pull_case_sensitive_lookup():
    """drs-pull cleans each hint (``\\.`` → ``.``, drops ``.*``) and looks the id's prefix up exactly."""
    rendered = render_dist([_member("A", "a", ["dg.tst1"], "http://a")])
    cleaned = {h.replace("\\.", ".").replace(".*", "") for h in rendered[0]["hints"]}
    assert cleaned == {"dg.tst1", "dg.TST1"}
