"""Aggregate MDS query semantics over per-member snapshots (gateway.discovery.mds_query): every endpoint's
shape, paging edges, counts and the count-hiding hook, tags, info, search, and stale snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.discovery import mds_query as mq
from gateway.discovery.mapping.records import DEFAULT_STUDY_SCHEMA, apply_all, refcommons_mapping, schema_json
from gateway.discovery.mds_query import (
    DEFAULT_LIMIT,
    EMPTY_HARVEST,
    ERROR,
    MAX_LIMIT,
    OK,
    PENDING,
    STALE,
    Snapshot,
    SnapshotSet,
)
from refcommons.mds.catalog import MetadataCatalog
from refcommons.synth import generate_dataset


def study(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, **kw}


ZETA = [
    ("z2", study("Zeta two", tags=[{"name": "WGS", "category": "Data Type"}], authz=["/a", "/b"], n=None)),
    ("z1", study("Zeta one", tags=[{"name": "WGS", "category": "Data Type"}, {"name": "Open", "category": "Access"}],
                 _subjects_count=40, meta={"k": 1, "j": 2})),
]
ALPHA = [
    ("a1", study("Alpha <one>", study_description="Sleep and circadian GENOMICS", _subjects_count=7,
                 tags=[{"name": "RNA-Seq", "category": "Data Type"}, {"name": "Controlled", "category": "Access"}],
                 access="controlled", nested={"deep": [{"word": "needle"}]})),
    ("a2", study("Alpha two", _subjects_count=3, access="open", flag=True, score=1.5,
                 tags=[{"name": "WGS", "category": "Data Type"}, {"category": "Data Type"}, {"name": "x"}, "junk"])),
    ("a3", study("Alpha three", access="open", consent_groups=["c1", "c2"])),
]


@pytest.fixture
def snaps() -> SnapshotSet:
    """Members configured as zeta, alpha, empty (not alphabetical), all harvested at t=1000."""
    s = SnapshotSet.initial(["zeta", "alpha", "empty"], {"zeta": "https://zeta.example.org", "alpha": None})
    s = s.succeeded("zeta", ZETA, 1000.0)
    s = s.succeeded("alpha", ALPHA, 1000.0)
    return s.succeeded("empty", [], 1000.0)


def doc(commons: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"gen3_discovery": {**record, "commons_name": commons}}


ORDER = [("zeta", "z1"), ("zeta", "z2"), ("alpha", "a1"), ("alpha", "a2"), ("alpha", "a3")]
RAW = {("zeta", g): r for g, r in ZETA} | {("alpha", g): r for g, r in ALPHA}


def flat(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{g: doc(c, RAW[(c, g)])} for c, g in pairs]


# --- snapshots ------------------------------------------------------------------------------------------


def test_snapshot_normalises_records() -> None:
    s = Snapshot("m", (("b", {"x": 1}), ("a", {"x": 2, "commons_name": "liar"}), ("b", {"x": 3})), 5.0)
    assert s.records == (("a", {"x": 2, "commons_name": "m"}), ("b", {"x": 3, "commons_name": "m"}))
    assert s.index["b"] == {"x": 3, "commons_name": "m"}
    assert s.age(12.0) == 7.0 and s.age(1.0) == 0.0
    assert Snapshot("m").age(10.0) is None


def test_snapshot_does_not_alias_the_input_study() -> None:
    raw = {"x": 1}
    s = Snapshot("m", (("g", raw),))
    assert raw == {"x": 1} and s.records[0][1] is not raw


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"commons": ""}, "commons name"),
        ({"commons": "m", "status": "weird"}, "unknown status"),
        ({"commons": "m", "records": (("", {}),)}, "GUID"),
        ({"commons": "m", "records": ((5, {}),)}, "GUID"),
        ({"commons": "m", "records": (("g", ["not", "an", "object"]),)}, "not an object"),
    ],
)
def test_snapshot_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Snapshot(**kwargs)


def test_snapshot_error_is_truncated() -> None:
    s = Snapshot("m", (), None, ERROR, "x" * 10_000)
    assert len(s.error) == mq.MAX_ERROR_LENGTH and s.error.endswith("…")


# --- /aggregate/commons ---------------------------------------------------------------------------------


def test_list_commons_in_member_order_without_empty_members(snaps: SnapshotSet) -> None:
    assert mq.list_commons(snaps) == {"commons": ["zeta", "alpha"]}
    assert mq.list_commons(SnapshotSet.initial(["a"])) == {"commons": []}


# --- /aggregate/metadata --------------------------------------------------------------------------------


def test_metadata_default_shape_groups_by_commons(snaps: SnapshotSet) -> None:
    out = mq.metadata(snaps)
    assert list(out) == ["zeta", "alpha"]
    assert out["zeta"] == flat(ORDER[:2])
    assert out["alpha"] == flat(ORDER[2:])
    json.dumps(out)


def test_metadata_flatten(snaps: SnapshotSet) -> None:
    assert mq.metadata(snaps, flatten=True) == flat(ORDER)


def test_metadata_pagination_wrapper(snaps: SnapshotSet) -> None:
    out = mq.metadata(snaps, limit=2, offset=1, pagination=True)
    assert out == {
        "results": {"zeta": flat(ORDER[1:2]), "alpha": flat(ORDER[2:3])},
        "pagination": {"hits": 5, "offset": 1, "pageSize": 2, "pages": 3},
    }
    flat_page = mq.metadata(snaps, limit=2, offset=4, pagination=True, flatten=True)
    assert flat_page == {
        "results": flat(ORDER[4:]),
        "pagination": {"hits": 5, "offset": 4, "pageSize": 2, "pages": 3},
    }


def test_metadata_page_inside_one_member_omits_the_others(snaps: SnapshotSet) -> None:
    assert mq.metadata(snaps, limit=2, offset=2) == {"alpha": flat(ORDER[2:4])}


@pytest.mark.parametrize("offset", [5, 6, 10_000])
def test_metadata_offset_past_the_end(snaps: SnapshotSet, offset: int) -> None:
    assert mq.metadata(snaps, offset=offset) == {}
    assert mq.metadata(snaps, offset=offset, flatten=True) == []
    assert mq.metadata(snaps, offset=offset, pagination=True) == {
        "results": {}, "pagination": {"hits": 5, "offset": offset, "pageSize": DEFAULT_LIMIT, "pages": 1},
    }


def test_metadata_limit_zero(snaps: SnapshotSet) -> None:
    assert mq.metadata(snaps, limit=0) == {}
    assert mq.metadata(snaps, limit=0, pagination=True, flatten=True) == {
        "results": [], "pagination": {"hits": 5, "offset": 0, "pageSize": 0, "pages": 0},
    }


def test_metadata_limit_is_capped() -> None:
    many = SnapshotSet.initial(["big"]).succeeded("big", [(f"g{i:05d}", {"i": i}) for i in range(MAX_LIMIT + 500)], 1)
    out = mq.metadata(many, limit=10**9, pagination=True, flatten=True)
    assert len(out["results"]) == MAX_LIMIT
    assert out["pagination"] == {"hits": MAX_LIMIT + 500, "offset": 0, "pageSize": MAX_LIMIT, "pages": 2}
    assert list(out["results"][0]) == ["g00000"] and list(out["results"][-1]) == [f"g{MAX_LIMIT - 1:05d}"]


def test_metadata_empty(snaps: SnapshotSet) -> None:
    none = SnapshotSet.initial(["a", "b"])
    assert mq.metadata(none) == {}
    assert mq.metadata(none, pagination=True) == {
        "results": {}, "pagination": {"hits": 0, "offset": 0, "pageSize": DEFAULT_LIMIT, "pages": 0},
    }


@pytest.mark.parametrize("limit, offset", [(-1, 0), (0, -1)])
def test_metadata_rejects_negative_paging(snaps: SnapshotSet, limit: int, offset: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        mq.metadata(snaps, limit=limit, offset=offset)
    with pytest.raises(ValueError, match="negative"):
        mq.search(snaps, limit=limit, offset=offset)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.text(alphabet="abcdef", min_size=1, max_size=3), max_size=6), min_size=1, max_size=4),
    st.integers(0, 30),
    st.integers(0, 30),
)
def test_pages_are_slices_of_one_deterministic_order(members: list[list[str]], limit: int, offset: int) -> None:
    names = [f"m{i}" for i in range(len(members))]
    s = SnapshotSet.initial(list(reversed(names)))
    for name, guids in zip(names, members):
        s = s.succeeded(name, [(g, {"v": g}) for g in guids], 1.0)
    everything = [(c.commons, g) for c in s for g, _ in c.records]
    assert everything == [(n, g) for n in reversed(names) for g in sorted(set(members[names.index(n)]))]
    page = mq.metadata(s, limit=limit, offset=offset, flatten=True, pagination=True)
    assert [next(iter(r)) for r in page["results"]] == [g for _, g in everything[offset: offset + limit]]
    assert page["pagination"]["hits"] == len(everything)
    grouped = mq.metadata(s, limit=limit, offset=offset)
    assert [(c, next(iter(r))) for c, rows in grouped.items() for r in rows] == everything[offset: offset + limit]


# --- counts and the count-hiding hook -------------------------------------------------------------------


def test_counts_replace_arrays_objects_and_null(snaps: SnapshotSet) -> None:
    out = mq.metadata(snaps, flatten=True, counts=["tags", "authz", "meta", "n", "name", "missing"])
    by_guid = {g: d["gen3_discovery"] for row in out for g, d in row.items()}
    assert by_guid["z2"]["tags"] == 1 and by_guid["z2"]["authz"] == 2 and by_guid["z2"]["n"] == 0
    assert by_guid["z1"]["tags"] == 2 and by_guid["z1"]["meta"] == 2
    assert by_guid["z1"]["name"] == "Zeta one"  # not an array/object/null: unchanged
    assert "missing" not in by_guid["z1"] and "authz" not in by_guid["z1"]
    assert snaps.get("zeta").index["z2"]["tags"] == ZETA[0][1]["tags"]  # the snapshot is untouched


def test_counts_accepts_the_query_parameter_text(snaps: SnapshotSet) -> None:
    assert mq.parse_counts(" tags, authz,,tags ") == ("tags", "authz")
    assert mq.parse_counts("") == () and mq.parse_counts(None) == ()
    out = mq.metadata(snaps, flatten=True, limit=1, counts="tags,meta")
    assert out[0]["z1"]["gen3_discovery"]["tags"] == 2 and out[0]["z1"]["gen3_discovery"]["meta"] == 2


def test_count_hider_hook(snaps: SnapshotSet) -> None:
    calls: list[tuple[str, str, str, int]] = []

    def hide(commons: str, guid: str, field: str, value: int) -> Any:
        calls.append((commons, guid, field, value))
        return -1 if value < 10 else value

    out = mq.metadata(snaps, flatten=True, counts=["tags"], count_hider=hide, counted_fields=["_subjects_count"])
    got = {g: d["gen3_discovery"] for row in out for g, d in row.items()}
    assert got["z1"]["_subjects_count"] == 40 and got["a1"]["_subjects_count"] == -1
    assert got["a2"]["_subjects_count"] == -1 and got["z1"]["tags"] == -1
    assert "_subjects_count" not in got["a3"]
    assert ("zeta", "z1", "_subjects_count", 40) in calls and ("alpha", "a2", "tags", 4) in calls
    assert all(isinstance(c[3], int) for c in calls)
    assert snaps.get("alpha").index["a1"]["_subjects_count"] == 7


def test_count_hider_skips_non_integers_and_is_off_by_default(snaps: SnapshotSet) -> None:
    seen: list[str] = []
    mq.metadata(snaps, count_hider=lambda c, g, f, v: seen.append(f), counted_fields=["name", "flag", "score"])
    assert seen == []
    plain = mq.metadata(snaps, flatten=True, counted_fields=["_subjects_count"])
    assert plain == flat(ORDER)


def test_count_hider_applies_to_every_document_route(snaps: SnapshotSet) -> None:
    def hide(commons: str, guid: str, field: str, value: int) -> Any:
        return None

    hook = {"count_hider": hide, "counted_fields": ["_subjects_count"]}
    assert mq.by_guid(snaps, "a1", **hook)["gen3_discovery"]["_subjects_count"] is None
    assert mq.by_commons(snaps, "zeta", **hook)[0]["gen3_discovery"]["_subjects_count"] is None
    found = mq.search(snaps, q="needle", flatten=True, **hook)
    assert found[0]["a1"]["gen3_discovery"]["_subjects_count"] is None


# --- /aggregate/metadata/{commons}, /info, /guid/{guid} -------------------------------------------------


def test_by_commons(snaps: SnapshotSet) -> None:
    assert mq.by_commons(snaps, "alpha") == [doc("alpha", r) for _, r in ALPHA]
    assert mq.by_commons(snaps, "empty") == []
    assert mq.by_commons(snaps, "nope") is None


def test_commons_info(snaps: SnapshotSet) -> None:
    assert mq.commons_info(snaps, "zeta") == {"commons_url": "https://zeta.example.org"}
    assert mq.commons_info(snaps, "alpha") == {"commons_url": None}
    assert mq.commons_info(snaps, "nope") is None


def test_by_guid(snaps: SnapshotSet) -> None:
    assert mq.by_guid(snaps, "a2") == doc("alpha", ALPHA[1][1])
    assert mq.by_guid(snaps, "missing") is None


def test_by_guid_prefers_the_first_member() -> None:
    s = SnapshotSet.initial(["first", "second"]).succeeded("second", [("g", {"v": 2})], 1).succeeded(
        "first", [("g", {"v": 1})], 1)
    assert mq.by_guid(s, "g") == {"gen3_discovery": {"v": 1, "commons_name": "first"}}


# --- /aggregate/tags ------------------------------------------------------------------------------------


def test_tags_shape_and_order(snaps: SnapshotSet) -> None:
    assert mq.tags(snaps) == {
        "Data Type": {"total": 5, "names": [{"WGS": 3, "RNA-Seq": 1}]},
        "Access": {"total": 2, "names": [{"Controlled": 1, "Open": 1}]},
    }
    assert list(mq.tags(snaps)["Access"]["names"][0]) == ["Controlled", "Open"]


def test_tags_over_a_search_and_when_empty(snaps: SnapshotSet) -> None:
    assert mq.tags(snaps, filters={"access": "open"}) == {
        "Data Type": {"total": 2, "names": [{"WGS": 1}]},
    }
    assert mq.tags(SnapshotSet.initial(["a"])) == {}


# --- /aggregate/info/{what} -----------------------------------------------------------------------------


def test_info(snaps: SnapshotSet) -> None:
    assert mq.info(snaps, "schema", schema=DEFAULT_STUDY_SCHEMA) == schema_json(DEFAULT_STUDY_SCHEMA)
    assert mq.info(snaps, "schema") is None
    assert mq.info(snaps, "zeta") == {"commons_url": "https://zeta.example.org"}
    drs = {"dg.H35L": {"host": "externaldata.example.org", "name": "External", "type": "indexd"}}
    assert mq.info(snaps, "dg.H35L", extra=drs) == drs["dg.H35L"]
    assert mq.info(snaps, "dg.NOPE", extra=drs) is None


# --- search ---------------------------------------------------------------------------------------------


def guids(result: list[dict[str, Any]]) -> list[str]:
    return [next(iter(row)) for row in result]


@pytest.mark.parametrize(
    "q, expected",
    [
        ("alpha", ["a1", "a2", "a3"]),
        ("ALPHA TWO", ["a2"]),
        ("two", ["z2", "a2"]),
        ("genom", ["a1"]),  # a word matches inside a longer one
        ("circadian sleep", ["a1"]),  # every word, in any order
        ("sleep zeta", []),
        ("needle", ["a1"]),  # string values at any depth
        ("<one>", ["z1", "a1"]),  # punctuation splits words
        ("rna-seq", ["a1"]),  # tag names are strings too
        ("z2", ["z2"]),  # the GUID
        ("zeta", ["z1", "z2"]),  # and the commons name
        ("40", []),  # numbers are not text
        ("", ["z1", "z2", "a1", "a2", "a3"]),
        ("  ...  ", ["z1", "z2", "a1", "a2", "a3"]),
    ],
)
def test_full_text(snaps: SnapshotSet, q: str, expected: list[str]) -> None:
    assert guids(mq.search(snaps, q=q, flatten=True)) == expected


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"access": "open"}, ["a2", "a3"]),
        ({"access": ["open", "controlled"]}, ["a1", "a2", "a3"]),
        ({"access": "Open"}, []),  # exact and case-sensitive
        ({"access": "open", "name": "Alpha two"}, ["a2"]),
        ({"_subjects_count": 40}, ["z1"]),
        ({"_subjects_count": "40"}, ["z1"]),
        ({"flag": True}, ["a2"]),
        ({"flag": "true"}, ["a2"]),
        ({"score": 1.5}, ["a2"]),
        ({"consent_groups": "c2"}, ["a3"]),  # an array holds the value
        ({"tags.name": "WGS"}, ["z1", "z2", "a2"]),  # through an array of objects
        ({"tags": "Access:Open"}, ["z1"]),  # a whole tag as category:name
        ({"nested.deep.word": "needle"}, ["a1"]),
        ({"meta.k": 1}, ["z1"]),
        ({"commons_name": "alpha"}, ["a1", "a2", "a3"]),
        ({"no.such.field": "x"}, []),
        ({"n": "null"}, []),
    ],
)
def test_field_filters(snaps: SnapshotSet, filters: dict[str, Any], expected: list[str]) -> None:
    assert guids(mq.search(snaps, filters=filters, flatten=True)) == expected


def test_search_combines_text_filters_and_paging(snaps: SnapshotSet) -> None:
    out = mq.search(snaps, q="alpha", filters={"access": "open"}, limit=1, offset=1, pagination=True)
    assert out == {
        "results": {"alpha": flat([("alpha", "a3")])},
        "pagination": {"hits": 2, "offset": 1, "pageSize": 1, "pages": 2},
    }
    assert mq.search(snaps, q="nothing matches this", pagination=True) == {
        "results": {}, "pagination": {"hits": 0, "offset": 0, "pageSize": DEFAULT_LIMIT, "pages": 0},
    }
    assert mq.search(snaps) == mq.metadata(snaps)
    counted = mq.search(snaps, filters={"access": "controlled"}, counts=["tags"], flatten=True)
    assert counted[0]["a1"]["gen3_discovery"]["tags"] == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"q": "x" * (mq.MAX_QUERY_LENGTH + 1)}, "longer than"),
        ({"q": " ".join(f"w{i}" for i in range(mq.MAX_QUERY_WORDS + 1))}, "words"),
        ({"q": 5}, "string"),
        ({"filters": {"": "x"}}, "bad filter field"),
        ({"filters": {"a..b": "x"}}, "bad filter field"),
        ({"filters": {"a": []}}, "values"),
        ({"filters": {"a": list(range(mq.MAX_FILTER_VALUES + 1))}}, "values"),
        ({"filters": {"a": {"k": 1}}}, "strings, numbers or booleans"),
        ({"filters": {"a": None}}, "strings, numbers or booleans"),
        ({"filters": {f"f{i}": "x" for i in range(mq.MAX_FILTER_FIELDS + 1)}}, "filter fields"),
    ],
)
def test_search_rejects_bad_queries(snaps: SnapshotSet, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mq.search(snaps, **kwargs)


def test_search_words_repeated_count_once(snaps: SnapshotSet) -> None:
    assert guids(mq.search(snaps, q=" ".join(["alpha"] * 100), flatten=True)) == ["a1", "a2", "a3"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=4), json_values, max_size=5), st.text(max_size=20),
       st.dictionaries(st.text(alphabet="ab.", min_size=1, max_size=4), st.text(max_size=3), max_size=2))
def test_search_never_raises_on_arbitrary_studies(record: dict[str, Any], q: str, filters: dict[str, str]) -> None:
    s = SnapshotSet.initial(["m"]).succeeded("m", [("g", record)], 1.0)
    try:
        mq.search(s, q=q, filters=filters, counts=list(record), count_hider=lambda *a: 0, counted_fields=["x"])
    except ValueError as exc:  # only a refused query (e.g. an empty path segment)
        assert "filter" in str(exc)
    mq.tags(s)
    mq.metadata(s, counts=list(record))


# --- snapshot sets: atomic switches, failures, staleness ------------------------------------------------


def test_initial_set_is_pending() -> None:
    s = SnapshotSet.initial(["a", "b"])
    assert s.members == ("a", "b") and len(s) == 2
    assert [row["status"] for row in s.status(0)] == [PENDING, PENDING]
    with pytest.raises(ValueError, match="unique"):
        SnapshotSet.initial(["a", "a"])


def test_status_rows(snaps: SnapshotSet) -> None:
    assert snaps.status(1060.0) == [
        {"commons": "zeta", "status": OK, "count": 2, "last_success": 1000.0, "last_attempt": 1000.0,
         "age": 60.0, "error": None},
        {"commons": "alpha", "status": OK, "count": 3, "last_success": 1000.0, "last_attempt": 1000.0,
         "age": 60.0, "error": None},
        {"commons": "empty", "status": OK, "count": 0, "last_success": 1000.0, "last_attempt": 1000.0,
         "age": 60.0, "error": None},
    ]


def test_broken_member_keeps_its_last_good_snapshot(snaps: SnapshotSet) -> None:
    before = mq.metadata(snaps, flatten=True)
    broken = snaps.failed("alpha", "timeout after 30 s", 1500.0)
    alpha = broken.get("alpha")
    assert alpha.status == STALE and alpha.error == "timeout after 30 s"
    assert alpha.harvested_at == 1000.0 and alpha.attempted_at == 1500.0
    assert mq.metadata(broken, flatten=True) == before  # the listing is not emptied
    assert mq.list_commons(broken) == {"commons": ["zeta", "alpha"]}
    row = broken.status(1600.0)[1]
    assert row == {"commons": "alpha", "status": STALE, "count": 3, "last_success": 1000.0, "last_attempt": 1500.0,
                   "age": 600.0, "error": "timeout after 30 s"}
    again = broken.failed("alpha", "HTTP 502", 2000.0)
    assert again.get("alpha").status == STALE and again.get("alpha").error == "HTTP 502"
    assert again.status(2000.0)[1]["age"] == 1000.0
    recovered = again.succeeded("alpha", ALPHA[:1], 2100.0)
    assert recovered.get("alpha").status == OK and recovered.get("alpha").error is None
    assert guids(mq.metadata(recovered, flatten=True)) == ["z1", "z2", "a1"]


def test_switches_are_atomic_new_sets(snaps: SnapshotSet) -> None:
    held = snaps  # a reader holding the old reference
    newer = snaps.succeeded("zeta", [("z9", {"name": "new"})], 2000.0)
    assert guids(mq.metadata(held, flatten=True)) == ["z1", "z2", "a1", "a2", "a3"]
    assert guids(mq.metadata(newer, flatten=True)) == ["z9", "a1", "a2", "a3"]
    assert newer.get("alpha") is snaps.get("alpha")  # other members untouched
    with pytest.raises(AttributeError):
        newer.snapshots = ()  # type: ignore[misc]


def test_never_harvested_member_failing_is_an_error_without_records() -> None:
    s = SnapshotSet.initial(["a"], {"a": "https://a.example"}).failed("a", "DNS failure", 10.0)
    a = s.get("a")
    assert (a.status, a.records, a.harvested_at, a.attempted_at) == (ERROR, (), None, 10.0)
    assert a.commons_url == "https://a.example"
    assert s.status(99.0)[0]["age"] is None
    assert mq.list_commons(s) == {"commons": []} and mq.by_commons(s, "a") == []


def test_empty_harvest_of_a_member_with_records_is_a_failure(snaps: SnapshotSet) -> None:
    emptied = snaps.succeeded("alpha", [], 2000.0)
    assert emptied.get("alpha").status == STALE and emptied.get("alpha").error == EMPTY_HARVEST
    assert len(emptied.get("alpha").records) == 3
    allowed = snaps.succeeded("alpha", [], 2000.0, allow_empty=True)
    assert allowed.get("alpha").status == OK and allowed.get("alpha").records == ()


def test_late_results_older_than_the_served_harvest_are_ignored(snaps: SnapshotSet) -> None:
    assert snaps.succeeded("zeta", [("old", {})], 900.0) is snaps
    assert snaps.failed("zeta", "old failure", 999.0) is snaps


def test_unknown_member_is_refused(snaps: SnapshotSet) -> None:
    with pytest.raises(KeyError):
        snaps.succeeded("nope", [], 1.0)
    with pytest.raises(KeyError):
        snaps.failed("nope", "x", 1.0)


# --- end to end with the reference commons' records -----------------------------------------------------


def test_reference_commons_through_the_default_mapping() -> None:
    catalog = MetadataCatalog.build(generate_dataset(prefix="dg.REF0", seed=1, subjects=30))
    records = apply_all(refcommons_mapping().compile("refcommons"), catalog.records.items())
    s = SnapshotSet.initial(["refcommons"]).succeeded("refcommons", records, 1.0)
    out = mq.metadata(s, pagination=True)
    assert out["pagination"]["hits"] == len(records) == 3
    first = out["results"]["refcommons"][0]
    guid, document = next(iter(first.items()))
    assert document["gen3_discovery"]["_unique_id"] == guid
    assert document["gen3_discovery"]["commons_name"] == "refcommons"
    assert mq.tags(s)["Access"]["total"] == 3
    controlled = mq.search(s, filters={"access": "controlled"}, counts=["authz"], flatten=True)
    assert controlled and all(next(iter(r.values()))["gen3_discovery"]["authz"] >= 1 for r in controlled)
    assert mq.by_guid(s, guid) == document
