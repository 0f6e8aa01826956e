"""Searching discovery records (gateway.discovery.study_search, through ``mds_query.search``): full text, field
filters, limits, and robustness on arbitrary studies."""

from __future__ import annotations

from typing import Any

import pytest
from discovery_studies import flat, guids
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.discovery import mds_query as mq
from gateway.discovery import study_search
from gateway.discovery.documents import DEFAULT_LIMIT
from gateway.discovery.snapshots import SnapshotSet

# --- search ---------------------------------------------------------------------------------------------


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
        ({"q": "x" * (study_search.MAX_QUERY_LENGTH + 1)}, "longer than"),
        ({"q": " ".join(f"w{i}" for i in range(study_search.MAX_QUERY_WORDS + 1))}, "words"),
        ({"q": 5}, "string"),
        ({"filters": {"": "x"}}, "bad filter field"),
        ({"filters": {"a..b": "x"}}, "bad filter field"),
        ({"filters": {"a": []}}, "values"),
        ({"filters": {"a": list(range(study_search.MAX_FILTER_VALUES + 1))}}, "values"),
        ({"filters": {"a": {"k": 1}}}, "strings, numbers or booleans"),
        ({"filters": {"a": None}}, "strings, numbers or booleans"),
        ({"filters": {f"f{i}": "x" for i in range(study_search.MAX_FILTER_FIELDS + 1)}}, "filter fields"),
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
