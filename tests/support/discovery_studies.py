"""Two members' discovery studies, as the discovery tests build snapshots of them (zeta, alpha and an empty one, in
that configured order) and the documents the Aggregate MDS serves for them."""

from __future__ import annotations

from typing import Any

from gateway.discovery.snapshots import SnapshotSet


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


def snapshot_set() -> SnapshotSet:
    """Members configured as zeta, alpha, empty (not alphabetical), all harvested at t=1000."""
    s = SnapshotSet.initial(["zeta", "alpha", "empty"], {"zeta": "https://zeta.example.org", "alpha": None})
    s = s.succeeded("zeta", ZETA, 1000.0)
    s = s.succeeded("alpha", ALPHA, 1000.0)
    return s.succeeded("empty", [], 1000.0)


def doc(commons: str, record: dict[str, Any]) -> dict[str, Any]:
    """The document served for ``record`` of ``commons``."""
    return {"gen3_discovery": {**record, "commons_name": commons}}


ORDER = [("zeta", "z1"), ("zeta", "z2"), ("alpha", "a1"), ("alpha", "a2"), ("alpha", "a3")]
RAW = {("zeta", g): r for g, r in ZETA} | {("alpha", g): r for g, r in ALPHA}


def flat(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The flattened page of these ``(commons, guid)`` records."""
    return [{g: doc(c, RAW[(c, g)])} for c, g in pairs]


def guids(result: list[dict[str, Any]]) -> list[str]:
    """The GUIDs of a flattened page, in order."""
    return [next(iter(row)) for row in result]
