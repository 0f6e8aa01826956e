"""Aggregate MDS query semantics over per-member snapshots (gateway.discovery.mds_query, with the documents and pages
of gateway.discovery.documents): every endpoint's shape, paging edges, counts and the count-hiding hook, tags, info,
and the reference commons' records end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from discovery_studies import ALPHA, ORDER, ZETA, doc, flat
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.discovery import mds_query as mq
from gateway.discovery.documents import DEFAULT_LIMIT, MAX_LIMIT, parse_counts
from gateway.discovery.mapping.compiler import compile_mapping
from gateway.discovery.mapping.records import apply_all
from gateway.discovery.mapping.reference import refcommons_mapping
from gateway.discovery.mds_query import schema_json
from gateway.discovery.snapshots import SnapshotSet
from gateway.settings.discovery import DEFAULT_STUDY_SCHEMA
from refcommons.mds.catalog import MetadataCatalog
from refcommons.synth import generate_dataset

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
    assert parse_counts(" tags, authz,,tags ") == ("tags", "authz")
    assert parse_counts("") == () and parse_counts(None) == ()
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


# --- end to end with the reference commons' records -----------------------------------------------------


def test_reference_commons_through_the_default_mapping() -> None:
    catalog = MetadataCatalog.build(generate_dataset(prefix="dg.REF0", seed=1, subjects=30))
    records = apply_all(compile_mapping("refcommons", refcommons_mapping()), catalog.records.items())
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
