"""Per-member snapshots and the set of them (gateway.discovery.snapshots): normalised records, atomic switches,
failures and staleness."""

from __future__ import annotations

from typing import Any

import pytest
from discovery_studies import ALPHA, guids

from gateway.discovery import mds_query as mq
from gateway.discovery.snapshots import (
    EMPTY_HARVEST,
    ERROR,
    MAX_ERROR_LENGTH,
    OK,
    PENDING,
    STALE,
    Snapshot,
    SnapshotSet,
)

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
    assert len(s.error) == MAX_ERROR_LENGTH and s.error.endswith("…")


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
