"""The reference commons' Guppy indices (refcommons.guppy.index): rows derived from the dataset, histograms,
numeric buckets, sort and pages, and the tier-access rules at their boundaries."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refcommons.guppy.filter import parse
from refcommons.guppy.index import (
    AUTH_FIELD,
    ENCRYPT_COUNT,
    MAX_WINDOW,
    OUT_OF_SCOPE,
    OutOfScope,
    Plan,
    QueryError,
    build_indices,
    cardinality,
    download_plan,
    field_count,
    hidden,
    hide_buckets,
    hide_total,
    numeric_bucket_count,
    numeric_histogram,
    page,
    parse_sort,
    plan,
    sort_rows,
    sub_aggregations,
    text_histogram,
)
from refcommons.synth import generate_dataset

DATASET = generate_dataset(prefix="dg.TST1", seed=7, subjects=40)
INDICES = build_indices(DATASET)
SUBJECTS, FILES = INDICES["subject"], INDICES["file"]


def test_rows_follow_the_dataset():
    assert len(SUBJECTS.rows) == len(DATASET.subjects) and len(FILES.rows) == len(DATASET.files)
    projects = {p.project_id: p for p in DATASET.projects}
    for subject, row in zip(DATASET.subjects, SUBJECTS.rows, strict=True):
        assert row["subject_id"] == subject.id and row["sex"] == subject.sex and row["bmi"] == subject.bmi
        assert row[AUTH_FIELD] == projects[subject.project_id].authz_for(subject.consent)
        assert row.get("consent") == subject.consent  # open subjects have no consent: missing
        assert row["_samples_count"] == sum(s.subject_id == subject.id for s in DATASET.samples)
        assert row["_files_count"] == sum(f.subject_id == subject.id for f in DATASET.files)
    for f, row in zip(DATASET.files, FILES.rows, strict=True):
        assert (row["object_id"], row["file_size"], row["md5sum"], row[AUTH_FIELD]) == (f.guid, f.size, f.md5, f.authz)
        assert row.get("subject_id") == (f.subject_id or None) and row.get("sample_id") == f.sample_id
    assert SUBJECTS.resources() == FILES.resources() == {r.path for r in DATASET.authz_resources()}


def test_mapping_and_fields():
    assert SUBJECTS.mapping() == sorted(f.name for f in SUBJECTS.fields)
    assert {"file_name", "data_format", "data_type", "data_category", "file_size", "md5sum", "object_id",
            "subject_id", "project_id", AUTH_FIELD} <= set(FILES.mapping())
    assert SUBJECTS.kinds["age_at_enrollment"] == "number" and SUBJECTS.kinds["sex"] == "text"
    assert FILES.field("file_size").gql == "Float"  # Elasticsearch long → GraphQL Float, as in Guppy


def test_text_histogram_counts_and_order():
    buckets = text_histogram(SUBJECTS.rows, "sex")
    assert {b["key"]: b["count"] for b in buckets} == Counter(s.sex for s in DATASET.subjects)
    counts = [b["count"] for b in buckets]
    assert counts == sorted(counts, reverse=True)
    consent = text_histogram(SUBJECTS.rows, "consent")
    assert consent[-1] == {"key": "no data", "count": sum(s.consent is None for s in DATASET.subjects)}
    assert text_histogram(SUBJECTS.rows, "consent", include_missing=False)[-1]["key"] != "no data"


def test_text_histogram_ties_and_numbers():
    rows = [{"k": "a"}, {"k": "b"}, {"k": "c"}, {"k": "c"}, {}, {"n": 2}, {"n": 1}, {"n": 1.5}]
    assert [b["key"] for b in text_histogram(rows, "k")] == ["c", "b", "a", "no data"]
    assert text_histogram(rows, "n", numeric=True) == [{"key": "1", "count": 1}, {"key": "1.5", "count": 1},
                                                       {"key": "2", "count": 1}]
    assert field_count(rows, "k") == 4 and cardinality(rows, "k") == 3


def test_numeric_histogram():
    rows = [{"n": v} for v in (1, 4, 5, 12, 19)] + [{}]
    assert numeric_histogram(rows, "n") == [{"key": [1, 19], "count": 5, "min": 1, "max": 19, "avg": 8.2,
                                             "sum": 41}]
    step = numeric_histogram(rows, "n", range_step=5)
    assert [(b["key"], b["count"]) for b in step] == [([0, 5], 2), ([5, 10], 1), ([10, 15], 1), ([15, 20], 1)]
    assert step[1]["min"] == 5 and step[1]["avg"] == 5
    shifted = numeric_histogram(rows, "n", range_start=2, range_step=5)
    assert [(b["key"], b["count"]) for b in shifted] == [([2, 7], 2), ([7, 12], 0), ([12, 17], 1), ([17, 22], 1)]
    assert shifted[1]["min"] is None
    bins = numeric_histogram(rows, "n", bin_count=2)
    assert [(b["key"], b["count"]) for b in bins] == [([1, 10.5], 3), ([10.5, 20], 2)]
    assert numeric_histogram([], "n") == [{"key": [None, None], "count": 0, "min": None, "max": None, "avg": None,
                                           "sum": 0}]


@pytest.mark.parametrize("kwargs,message", [
    ({"range_step": 0}, "Invalid rangeStep"),
    ({"range_start": 5, "range_end": 1}, "Invalid rangeStart"),
    ({"bin_count": 0}, "Invalid binCount"),
    ({"range_step": 1, "bin_count": 2}, "at same time"),
])
def test_numeric_histogram_arguments(kwargs, message):
    with pytest.raises(QueryError, match=message):
        numeric_histogram([{"n": 1}], "n", **kwargs)


def test_numeric_bucket_count():
    rows = [{"n": v} for v in (1, 5, 10)]
    assert numeric_bucket_count(rows, "n", [1, 10], closed=True) == 3
    assert numeric_bucket_count(rows, "n", [1, 10], closed=False) == 2
    assert numeric_bucket_count(rows, "n", [None, None], closed=True) == 0


def test_sort_and_page():
    rows = [{"id": 1, "a": 2}, {"id": 2}, {"id": 3, "a": 1, "b": "y"}, {"id": 4, "a": 2, "b": "x"}]
    assert [r["id"] for r in sort_rows(rows, [("a", False)])] == [3, 1, 4, 2]
    assert [r["id"] for r in sort_rows(rows, [("a", True)])] == [1, 4, 3, 2]  # missing last either way
    assert [r["id"] for r in sort_rows(rows, [("a", True), ("b", False)])] == [4, 1, 3, 2]
    assert page(list(range(30)), None, None) == list(range(10))
    assert page(list(range(30)), 25, 10) == [25, 26, 27, 28, 29]
    with pytest.raises(QueryError, match="Large graphql query forbidden"):
        page([], MAX_WINDOW, 1)
    with pytest.raises(QueryError):
        page([], -1, 1)


def test_parse_sort():
    assert parse_sort([{"bmi": "desc"}, {"sex": "asc"}], SUBJECTS) == [("bmi", True), ("sex", False)]
    assert parse_sort({"bmi": "asc", "sex": "desc"}, SUBJECTS) == [("bmi", False), ("sex", True)]
    assert parse_sort(None, SUBJECTS) == []
    for bad in ([{"nope": "asc"}], [{"bmi": "up"}], [{"bmi": "asc", "sex": "asc"}], "bmi", [1]):
        with pytest.raises(QueryError, match="Invalid sort argument"):
            parse_sort(bad, SUBJECTS)


def test_select_within_resources():
    controlled = frozenset(r for r in SUBJECTS.resources() if "/projects/" not in r)
    flt = parse({"=": {"sex": "female"}}, SUBJECTS.kinds)
    rows = SUBJECTS.select(flt, controlled)
    assert rows and all(r["sex"] == "female" and r[AUTH_FIELD] in controlled for r in rows)
    assert SUBJECTS.select(None, frozenset()) == []


def test_sub_aggregations():
    rows = [{"k": "a", "t": "x"}, {"k": "a", "t": "y"}, {"k": "a"}, {"k": "b"}]
    out = sub_aggregations(rows, "k", text_histogram(rows, "k"), ["t"], ["t"])
    assert out[0] == {"key": "a", "count": 3, "missingFields": [{"field": "t", "count": 1}],
                      "termsFields": [{"field": "t", "count": 2, "terms": [{"key": "x", "count": 1},
                                                                           {"key": "y", "count": 1}]}]}
    assert out[1]["termsFields"][0]["terms"] == [{"key": None, "count": 0}]


# --- tiered access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("accessibility,out_of_scope,raw,expected", [
    ("all", False, True, Plan(None, True)),
    ("accessible", False, True, Plan(None, False)),
    ("unaccessible", False, True, Plan("unaccessible", True)),
    ("all", True, True, OutOfScope),
    ("accessible", True, True, Plan("accessible", False)),
    ("unaccessible", True, True, OutOfScope),
    ("all", False, False, Plan(None, True)),
    ("accessible", False, False, Plan(None, False)),
    ("unaccessible", False, False, Plan("unaccessible", True)),
    ("all", True, False, Plan(None, True)),
    ("accessible", True, False, Plan("accessible", False)),
    ("unaccessible", True, False, Plan("unaccessible", True)),
])
def test_regular_plan(accessibility, out_of_scope, raw, expected):
    if expected is OutOfScope:
        with pytest.raises(OutOfScope) as info:
            plan("regular", accessibility, out_of_scope, raw=raw)
        assert str(info.value) == OUT_OF_SCOPE
    else:
        assert plan("regular", accessibility, out_of_scope, raw=raw) == expected


@pytest.mark.parametrize("accessibility", ["all", "accessible", "unaccessible"])
@pytest.mark.parametrize("raw", [True, False])
def test_private_and_libre_plans(accessibility, raw):
    assert plan("private", accessibility, True, raw=raw) == Plan("accessible", False)
    assert plan("libre", accessibility, True, raw=raw) == Plan(None, False)


def test_download_plan():
    assert download_plan("regular", "accessible", True) == Plan("accessible", False)
    assert download_plan("regular", "unaccessible", False) == Plan(None, False)  # Guppy: no narrowing here
    for accessibility in ("all", "unaccessible"):
        with pytest.raises(OutOfScope):
            download_plan("regular", accessibility, True)
    assert download_plan("private", "all", True) == Plan("accessible", False)
    assert download_plan("libre", "all", True) == Plan(None, False)


@pytest.mark.parametrize("unaccessible,shown", [(0, 120), (1, ENCRYPT_COUNT), (49, ENCRYPT_COUNT), (50, 120),
                                                (51, 120)])
def test_hide_total_at_the_boundaries(unaccessible, shown):
    assert hide_total(120, unaccessible, 50) == shown


def test_hide_buckets():
    buckets = [{"key": "a", "count": 100}, {"key": "b", "count": 70}, {"key": "c", "count": 7},
               {"key": "no data", "count": 3}]
    unaccessible = {"a": 50, "b": 49, "no data": 3}
    assert hide_buckets(buckets, unaccessible, 50) == [
        {"key": "a", "count": 100},   # unaccessible part at the limit: shown
        {"key": "b", "count": -1},    # 49 < 50: hidden whole, its 21 accessible too
        {"key": "c", "count": 7},     # all accessible: never hidden
        {"key": "no data", "count": -1},
    ]
    assert hide_buckets(buckets, unaccessible, 50, whitelist=("No Data",))[3] == {"key": "no data", "count": 3}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 100))
def test_a_hidden_count_never_reveals_a_small_unaccessible_part(total, unaccessible, limit):
    shown = hide_total(total, unaccessible, limit)
    assert shown == (ENCRYPT_COUNT if hidden(unaccessible, limit) else total)
    assert shown == total or 0 < unaccessible < limit
