"""A DRS object seen as an indexd record (pure)."""

from __future__ import annotations

from gateway.core.records import MemberRecord
from gateway.resolver.records import indexd_view


def test_indexd_records_pass_through_as_copies():
    doc = {"did": "dg.X/1", "size": 3}
    view = indexd_view(MemberRecord("m", "dg.X/1", "indexd", doc))
    assert view == doc and view is not doc


def test_drs_object_maps_onto_indexd_fields():
    drs = {"id": "abc", "name": "a.cram", "size": 10, "created_time": "2024-01-01T00:00:00Z",
           "checksums": [{"type": "md5", "checksum": "m"}, {"type": "sha-256", "checksum": "s"}],
           "access_methods": [{"type": "https", "access_url": {"url": "https://x/a"}},
                              {"type": "s3", "access_id": "s3"}]}
    view = indexd_view(MemberRecord("m", "abc", "drs", drs))
    assert view["did"] == "abc" and view["file_name"] == "a.cram" and view["size"] == 10
    assert view["hashes"] == {"md5": "m", "sha256": "s"}
    assert view["urls"] == ["https://x/a"] and view["created_date"] == "2024-01-01T00:00:00Z"


def test_a_converted_record_says_what_drs_does_not_carry():
    """indexd fields a DRS object has no equivalent of are empty, and the record says so instead of passing an empty
    ``acl``/``authz`` off as "open to all" (issue 16)."""
    view = indexd_view(MemberRecord("m", "abc", "drs", {"id": "abc", "size": 1, "checksums": []}))
    assert view["converted_from"] == "drs"
    assert set(view["not_carried"]) == {"acl", "authz", "baseid", "rev", "uploader"}
    assert all(view[field] in ([], None) for field in view["not_carried"])
    assert "converted_from" not in indexd_view(MemberRecord("m", "dg.X/1", "indexd", {"did": "dg.X/1"}))
