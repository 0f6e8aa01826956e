"""The federated DRS core, pure: indexd records and members' DRS objects made spec-clean and re-homed on the
gateway (gateway.wire.indexd, .sanitize, .federate, .profile), examples and properties (hypothesis)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from drs_schema_check import OBJECT_SCHEMA, compliance_schema_dir, nulls, schema_errors, violations_1_2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.records import AccessURL, MemberRecord
from gateway.drs.federate import (
    InvalidRecord,
    access_ids,
    drs_model,
    drs_object,
    drs_object_bytes,
    embedded_access,
)
from gateway.drs.sanitize import drs_from_member, embedded_urls
from gateway.wire.drs import DrsObject, dump, dump_json, written_time
from gateway.wire.drs_profile import service_info_profile, to_profile
from gateway.wire.indexd import EPOCH, drs_from_indexd, drs_written

HOST = "gateway.example:8443"
DID = "dg.TEST/6a0b1c2d-0000-4000-8000-000000000001"

def indexd(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "did": DID, "baseid": "x", "rev": "abc123", "size": 42, "file_name": "sample.g.vcf", "version": None,
        "urls": ["s3://bucket/a", "gs://bucket/a"], "urls_metadata": {}, "acl": [], "authz": ["/open"],
        "hashes": {"md5": "f" * 32, "sha256": "e" * 64}, "metadata": {}, "form": "object",
        "created_date": "2021-02-03T04:05:06", "updated_date": "2021-03-04T05:06:07", "description": None,
        "content_created_date": None, "content_updated_date": None,
    }
    doc.update(overrides)
    return doc


def member(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": DID, "name": "sample.bam", "self_uri": "drs://member.example:9000/dg.TEST:6a0b", "size": 7,
        "created_time": None, "updated_time": None, "description": None, "version": None, "mime_type": None,
        "index_created_time": "2022-02-02T02:02:02Z", "index_updated_time": "2022-03-03T03:03:03Z",
        "checksums": [{"type": "md5", "checksum": "0" * 32}],
        "access_methods": [{"type": "s3", "access_id": "s3", "region": None, "cloud": "aws", "available": True,
                            "authorizations": {"supported_types": ["BearerAuth"], "bearer_auth_issuers": None}}],
        "form": "object", "aliases": None,
    }
    doc.update(overrides)
    return doc


def rendered(doc: dict[str, Any], fmt: str = "indexd", profile: str = "1.5") -> dict[str, Any]:
    record = MemberRecord("m", str(doc.get("did") or doc.get("id")), fmt, doc)  # type: ignore[arg-type]
    return drs_object(record, HOST, profile)


# --- indexd → DRS ----------------------------------------------------------------------------------------


def test_indexd_record_becomes_a_clean_drs_object():
    out = dump(drs_from_indexd(indexd(), HOST))
    assert nulls(out) == []
    assert out["id"] == DID and out["name"] == "sample.g.vcf" and out["size"] == 42
    assert out["self_uri"] == f"drs://{HOST}/{quote(DID, safe='')}" and "%2F" in out["self_uri"]
    assert out["aliases"] == [DID.split("/", 1)[1]]
    assert out["version"] == "abc123"  # no version: the revision
    assert out["mime_type"] == "text/plain"
    assert {(c["type"], c["checksum"]) for c in out["checksums"]} == {("md5", "f" * 32), ("sha-256", "e" * 64)}
    assert out["access_methods"] == [
        {"type": "s3", "access_id": "s3", "cloud": "aws", "available": True},
        {"type": "gs", "access_id": "gs", "cloud": "gcp", "available": True},
    ]
    assert "description" not in out and "contents" not in out
    assert violations_1_2(to_profile(out, "1.2")) == []


@pytest.mark.parametrize(("dates", "expected"), [
    ({"content_created_date": "2020-01-01T00:00:00Z", "created_date": "2021-01-01T00:00:00Z"},
     "2020-01-01T00:00:00Z"),
    ({"content_created_date": None, "created_date": "2021-01-01T00:00:00"}, "2021-01-01T00:00:00Z"),
    ({"content_created_date": "", "created_date": "", "updated_date": "2022-06-07T08:09:10Z"},
     "2022-06-07T08:09:10Z"),
    ({"content_created_date": None, "created_date": None, "updated_date": None}, EPOCH),
])
def test_indexd_created_time_falls_back(dates, expected):
    out = dump(drs_from_indexd(indexd(**dates), HOST))
    assert out["created_time"] == expected
    assert nulls(out) == []


def test_indexd_updated_time_prefers_the_content_date():
    out = dump(drs_from_indexd(indexd(content_updated_date="2020-05-05T05:05:05Z"), HOST))
    assert out["updated_time"] == "2020-05-05T05:05:05Z"
    out = dump(drs_from_indexd(indexd(updated_date=None), HOST))
    assert "updated_time" not in out


@pytest.mark.parametrize(("name", "expected"), [
    ("md5", "md5"), ("sha256", "sha-256"), ("SHA256", "sha-256"), ("sha-256", "sha-256"), ("sha512", "sha-512"),
    ("sha1", "sha1"), ("crc", "crc32"), ("crc32c", "crc32c"), ("etag", "etag"), ("blake3", "blake3"),
])
def test_indexd_checksum_names(name, expected):
    out = dump(drs_from_indexd(indexd(hashes={name: "abc"}), HOST))
    assert out["checksums"] == [{"checksum": "abc", "type": expected}]


def test_indexd_empty_hash_values_are_left_out():
    out = dump(drs_from_indexd(indexd(hashes={"md5": "abc", "sha256": "", "crc": None}), HOST))
    assert out["checksums"] == [{"checksum": "abc", "type": "md5"}]


def test_indexd_access_methods_one_per_scheme():
    urls = ["http://plain.example/a", "s3://b/1", "s3://b/2", "azure://x/y", "not a url", 7, "HTTPS://up.example/b"]
    meta = {"s3://b/1": {"region": "us-west-2", "available": False}, "http://plain.example/a": {"region": None}}
    out = dump(drs_from_indexd(indexd(urls=urls, urls_metadata=meta), HOST))
    methods = {m["access_id"]: m for m in out["access_methods"]}
    assert list(methods) == ["http", "s3", "https"]  # scheme = access id, first URL of each scheme wins
    assert methods["http"] == {"type": "https", "access_id": "http", "available": True}  # the spec has no http
    assert methods["s3"] == {"type": "s3", "access_id": "s3", "cloud": "aws", "region": "us-west-2",
                             "available": False}
    assert methods["https"]["type"] == "https"
    assert nulls(out) == []


def test_indexd_odd_metadata_is_ignored():
    out = dump(drs_from_indexd(indexd(urls=["gs://b/1"], urls_metadata={"gs://b/1": {"region": 5, "available": "no"}}),
                               HOST))
    assert out["access_methods"] == [{"type": "gs", "access_id": "gs", "cloud": "gcp", "available": True}]
    out = dump(drs_from_indexd(indexd(urls_metadata=["not", "a", "dict"]), HOST))
    assert [m["access_id"] for m in out["access_methods"]] == ["s3", "gs"]


def test_indexd_without_urls_has_no_access_methods_key():
    out = dump(drs_from_indexd(indexd(urls=[]), HOST))
    assert "access_methods" not in out


def test_indexd_bare_did_has_no_alias():
    out = dump(drs_from_indexd(indexd(did="6a0b1c2d"), HOST))
    assert "aliases" not in out and out["self_uri"] == f"drs://{HOST}/6a0b1c2d"


@pytest.mark.parametrize("overrides", [
    {"hashes": {}}, {"hashes": {"md5": ""}}, {"hashes": None}, {"size": -1}, {"size": None}, {"size": "many"},
    {"content_created_date": "not a date"},
])
def test_indexd_records_that_cannot_be_drs_objects_are_invalid(overrides):
    record = MemberRecord("m", DID, "indexd", indexd(**overrides))
    with pytest.raises(InvalidRecord):
        drs_model(record, HOST)
    with pytest.raises(InvalidRecord):
        drs_object_bytes(record, HOST, "1.5")


def test_indexd_record_without_did_is_invalid():
    doc = indexd()
    del doc["did"]
    with pytest.raises(InvalidRecord, match="did"):
        drs_model(MemberRecord("m", DID, "indexd", doc), HOST)


# --- a member's DRS object → the gateway's --------------------------------------------------------------


def test_member_object_is_made_clean_and_rehomed():
    obj, embedded = drs_from_member(member(), HOST)
    out = dump(obj)
    assert nulls(out) == [] and embedded == {}
    assert out["self_uri"] == f"drs://{HOST}/{quote(DID, safe='')}"
    assert out["created_time"] == "2022-02-02T02:02:02Z"  # index_created_time
    assert "form" not in out and "index_created_time" not in out and "aliases" not in out
    assert out["access_methods"] == [{"type": "s3", "access_id": "s3", "cloud": "aws", "available": True,
                                      "authorizations": {"supported_types": ["BearerAuth"]}}]


@pytest.mark.parametrize(("times", "expected"), [
    ({"created_time": "2019-01-01T00:00:00Z"}, "2019-01-01T00:00:00Z"),
    ({}, "2022-02-02T02:02:02Z"),
    ({"index_created_time": None, "updated_time": "2018-08-08T08:08:08Z"}, "2018-08-08T08:08:08Z"),
    ({"index_created_time": None}, "2022-03-03T03:03:03Z"),
    ({"index_created_time": None, "index_updated_time": None}, EPOCH),
    ({"index_created_time": "", "index_updated_time": ""}, EPOCH),
])
def test_member_created_time_falls_back(times, expected):
    out = dump(drs_from_member(member(**times), HOST)[0])
    assert out["created_time"] == expected


def test_url_only_methods_get_unique_access_ids():
    methods = [
        {"type": "https", "access_url": {"url": "https://a.example/1", "headers": ["X-A: 1", None]}},
        {"type": "HTTP", "access_url": {"url": "http://b.example/2"}},
        {"type": "https", "access_id": "https"},
        {"type": "s3", "access_id": 3},
        {"type": "gs", "access_url": {"url": "gs://c/3"}},
        {"type": None, "access_id": "dropped"}, "not a method",
    ]
    obj, embedded = drs_from_member(member(access_methods=methods), HOST)
    out = dump(obj)
    ids = [m["access_id"] for m in out["access_methods"]]
    assert ids == ["https-2", "https-3", "https", "3", "gs"]
    assert len(set(ids)) == len(ids) and all(isinstance(i, str) for i in ids)
    assert [m["type"] for m in out["access_methods"]] == ["https", "https", "https", "s3", "gs"]
    assert out["access_methods"][0]["access_url"] == {"url": "https://a.example/1", "headers": ["X-A: 1"]}
    assert embedded == {"https-2": {"url": "https://a.example/1", "headers": ["X-A: 1"]},
                        "https-3": {"url": "http://b.example/2"}, "gs": {"url": "gs://c/3"}}
    assert embedded_urls(member(access_methods=methods)) == embedded
    record = MemberRecord("m", DID, "drs", member(access_methods=methods))
    assert embedded_access(record, "https-3") == AccessURL(url="http://b.example/2", headers=())
    assert embedded_access(record, "https") is None and embedded_access(record, "3") is None
    assert access_ids(drs_object(record, HOST, "1.5")) == ids


def test_integer_access_ids_become_strings():
    out = dump(drs_from_member(member(access_methods=[{"type": "s3", "access_id": 1}, {"type": "gs", "access_id": 0}]),
                               HOST)[0])
    assert [m["access_id"] for m in out["access_methods"]] == ["1", "0"]


def test_member_checksums_get_iana_names_and_odd_ones_go():
    checksums = [{"type": "sha256", "checksum": "ab"}, {"type": "crc", "checksum": 123}, {"type": "md5"},
                 {"checksum": "x"}, "junk", {"type": "etag", "checksum": "e", "extra": 1}]
    out = dump(drs_from_member(member(checksums=checksums), HOST)[0])
    assert out["checksums"] == [{"checksum": "ab", "type": "sha-256"}, {"checksum": "123", "type": "crc32"},
                                {"checksum": "e", "type": "etag"}]


def test_contents_drs_uris_become_arrays_on_the_gateway():
    contents = [
        {"name": "child", "id": "dg.TEST/child-1", "drs_uri": "drs://member.example/dg.TEST%2Fchild-1"},
        {"name": "elsewhere", "drs_uri": "drs://other.example/abc"},
        {"name": "listed", "drs_uri": ["drs://a.example/1", None, 5]},
        {"name": "nested", "id": "dg.TEST/sub", "contents": [{"name": "leaf", "id": "leaf/1", "drs_uri": None}]},
        {"id": "no-name"}, None,
    ]
    out = dump(drs_from_member(member(contents=contents, access_methods=None), HOST)[0])
    assert nulls(out) == []
    assert out["contents"] == [
        {"name": "child", "id": "dg.TEST/child-1", "drs_uri": [f"drs://{HOST}/dg.TEST%2Fchild-1"]},
        {"name": "elsewhere", "drs_uri": ["drs://other.example/abc"]},
        {"name": "listed", "drs_uri": ["drs://a.example/1"]},
        {"name": "nested", "id": "dg.TEST/sub", "drs_uri": [f"drs://{HOST}/dg.TEST%2Fsub"],
         "contents": [{"name": "leaf", "id": "leaf/1", "drs_uri": [f"drs://{HOST}/leaf%2F1"]}]},
    ]
    assert "access_methods" not in out
    assert violations_1_2(to_profile(out, "1.2")) == []


def test_access_methods_of_a_type_drs_does_not_define_are_left_out():
    methods = [{"type": "carrier-pigeon", "access_id": "x"}, {"type": "S3", "access_id": "s3"}]
    out = dump(drs_from_member(member(access_methods=methods), HOST)[0])
    assert [(m["type"], m["access_id"]) for m in out["access_methods"]] == [("s3", "s3")]


def test_member_dates_with_offsets_are_written_in_utc():
    out = dump(drs_from_member(member(created_time="2024-01-01T02:00:00+02:00"), HOST)[0])
    assert out["created_time"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("overrides", [
    {"checksums": []}, {"checksums": None}, {"checksums": [{"type": "md5", "checksum": ""}]}, {"size": -5},
    {"size": None}, {"id": None}, {"access_methods": [{"type": "s3"}]},
])
def test_member_objects_that_cannot_be_drs_objects_are_invalid(overrides):
    with pytest.raises(InvalidRecord):
        drs_model(MemberRecord("m", DID, "drs", member(**overrides)), HOST)


def test_federate_renders_each_format_and_profile():
    record = MemberRecord("m", DID, "drs", member())
    full = drs_object(record, HOST, "1.5")
    old = drs_object(record, HOST, "1.2")
    assert full["access_methods"][0]["cloud"] == "aws" and "authorizations" in full["access_methods"][0]
    assert old["access_methods"] == [{"type": "s3", "access_id": "s3"}]
    assert {k: v for k, v in old.items() if k != "access_methods"} == {
        k: v for k, v in full.items() if k != "access_methods"}
    assert orjson.loads(drs_object_bytes(record, HOST, "1.2")) == old
    assert violations_1_2(old) == [] and violations_1_2(full) != []
    indexd_record = MemberRecord("m", DID, "indexd", indexd())
    assert violations_1_2(drs_object(indexd_record, HOST, "1.2")) == []
    assert embedded_access(indexd_record, "s3") is None


def test_inputs_are_not_modified():
    doc = member(access_methods=[{"type": "https", "access_url": {"url": "https://x/1"}}],
                 contents=[{"name": "c", "id": "c/1", "drs_uri": "drs://m/c"}])
    before = copy.deepcopy(doc)
    drs_object(MemberRecord("m", DID, "drs", doc), HOST, "1.2")
    assert doc == before
    doc = indexd()
    before = copy.deepcopy(doc)
    drs_object(MemberRecord("m", DID, "indexd", doc), HOST, "1.2")
    assert doc == before


def test_service_info_1_2_profile():
    info = {"id": "x", "name": "n", "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"},
            "organization": {"name": "o", "url": "https://o"}, "version": "1", "maxBulkRequestLength": 3,
            "drs": {"maxBulkRequestLength": 3}, "contactUrl": "mailto:x@y"}
    out = service_info_profile(info, "1.2")
    assert out == {"id": "x", "name": "n", "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"},
                   "organization": {"name": "o", "url": "https://o"}, "version": "1", "contactUrl": "mailto:x@y"}


# --- properties ---------------------------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers(-2**40, 2**40)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=5)
dates = st.sampled_from(["2024-01-02T03:04:05Z", "2024-01-02T03:04:05", "2024-01-02T03:04:05.123+02:00", "",
                         "yesterday", None, 1700000000])
method_types = st.sampled_from(["s3", "gs", "https", "http", "HTTP", "S3", "file", "ftp", "azure", None, 3])
access_urls = st.none() | json_values | st.fixed_dictionaries(
    {"url": st.sampled_from(["https://x.example/1", "s3://b/k", "", None, 5])},
    optional={"headers": st.lists(st.sampled_from(["A: b", None, 3, ""]), max_size=3) | json_scalars})
methods = st.fixed_dictionaries({"type": method_types}, optional={
    "access_id": st.none() | st.text(max_size=6) | st.integers(-3, 3) | json_values,
    "access_url": access_urls, "region": st.none() | st.text(max_size=6) | st.integers(),
    "cloud": json_scalars, "available": json_scalars, "authorizations": json_values,
}) | json_values
checksums = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["md5", "sha256", "SHA-256", "crc", "", None, 7]),
    "checksum": st.sampled_from(["abc", "", None, 12, [1]]),
}) | json_values
contents_items = st.recursive(
    st.fixed_dictionaries({}, optional={"name": st.text(max_size=5) | json_scalars,
                                        "id": st.sampled_from(["c/1", "", None, 4, "a b"]),
                                        "drs_uri": st.sampled_from(["drs://h/x", ["drs://h/y", None], None, 3])}),
    lambda inner: st.fixed_dictionaries({"name": st.text(max_size=4)},
                                        optional={"contents": st.lists(inner, max_size=3)}),
    max_leaves=6,
)
member_docs = st.fixed_dictionaries(
    {"id": st.sampled_from([DID, "plain-id", "dg.X/a b/c", "ü/ß"])},
    optional={
        "name": st.none() | st.text(max_size=8) | json_scalars,
        "size": st.none() | st.integers(-3, 2**40) | json_scalars,
        "created_time": dates, "updated_time": dates, "index_created_time": dates, "index_updated_time": dates,
        "checksums": st.none() | st.lists(checksums, max_size=4) | json_scalars,
        "access_methods": st.none() | st.lists(methods, max_size=4) | json_scalars,
        "contents": st.none() | st.lists(contents_items, max_size=3) | json_scalars,
        "aliases": st.none() | st.lists(st.none() | st.text(max_size=4), max_size=3) | json_scalars,
        "description": json_scalars, "version": json_scalars, "mime_type": json_scalars, "self_uri": json_scalars,
        "form": json_scalars, "extra": json_values,
    },
).map(lambda overrides: {**member(), **overrides})
"""A valid member object with some of its fields replaced by anything."""
indexd_docs = st.fixed_dictionaries(
    {"did": st.sampled_from([DID, "bare-guid", "dg.X/", "/x"])},
    optional={
        "size": st.none() | st.integers(-3, 2**40) | json_scalars, "file_name": json_scalars,
        "urls": st.none() | st.lists(st.sampled_from(["s3://b/1", "gs://b/2", "http://h/3", "ftp://f/4", "x", None, 3]),
                                     max_size=5) | json_scalars,
        "urls_metadata": st.none() | st.dictionaries(st.sampled_from(["s3://b/1", "gs://b/2"]), json_values, max_size=2)
        | json_values,
        "hashes": st.none() | st.dictionaries(st.sampled_from(["md5", "sha256", "crc", "etag", "x"]),
                                              st.none() | st.text(max_size=6) | json_scalars, max_size=4) | json_values,
        "content_created_date": dates, "created_date": dates, "updated_date": dates, "content_updated_date": dates,
        "version": json_scalars, "rev": json_scalars, "description": json_scalars,
    },
).map(lambda overrides: {**indexd(), **overrides})


def _check_rendering(record: MemberRecord) -> None:
    for profile in ("1.5", "1.2"):
        try:
            body = drs_object_bytes(record, HOST, profile)
        except InvalidRecord:
            return  # the gateway answers 502 for it: fine
        assert body == orjson.dumps(drs_object(record, HOST, profile))  # the bytes of the served dict, exactly
        out = orjson.loads(body)
        assert nulls(out) == [], out
        DrsObject.model_validate(out)
        assert out["self_uri"] == f"drs://{HOST}/{quote(out['id'], safe='')}"
        for key in ("created_time", "updated_time"):  # RFC 3339: a time zone always (Z, or the member's offset)
            if key in out:
                assert datetime.fromisoformat(out[key]).tzinfo is not None, out[key]
        ids = access_ids(out)
        assert len(ids) == len(set(ids)) or record.format == "drs"  # a member may repeat its own ids
        if profile == "1.2":
            assert violations_1_2(out) == [], out
            if compliance_schema_dir() is not None:
                assert schema_errors(OBJECT_SCHEMA, out) == [], out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(member_docs)
def test_any_member_object_renders_clean_or_is_invalid(doc):
    before = copy.deepcopy(doc)
    _check_rendering(MemberRecord("m", str(doc["id"]), "drs", doc))
    assert doc == before


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(indexd_docs)
def test_any_indexd_record_renders_clean_or_is_invalid(doc):
    _check_rendering(MemberRecord("m", doc["did"], "indexd", doc))


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=20), st.dictionaries(
    st.sampled_from(["size", "checksums", "hashes", "urls", "access_methods", "contents", "created_time", "name"])
    | st.text(max_size=10), json_values, max_size=8))
def test_arbitrary_dicts_never_raise_anything_but_invalid_record(object_id, doc):
    """The adapters guarantee only a non-empty string id (``did`` for indexd); everything else is the member's."""
    for fmt, key in (("drs", "id"), ("indexd", "did")):
        try:
            out = drs_object(MemberRecord("m", object_id, fmt, {**doc, key: object_id}), HOST, "1.2")
        except InvalidRecord:
            continue
        assert nulls(out) == [] and violations_1_2(out) == []


# --- an indexd record written without the model ----------------------------------------------------------

zulu_seconds = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z")
"""Dates as the model writes them, over its whole range."""
indexd_dates = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    datetime.isoformat)
"""Dates as indexd writes them (``datetime.isoformat`` of a naive UTC time: microseconds when there are any)."""
near_dates = st.sampled_from([
    "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "2024-01-02T24:00:00Z",
    "2024-01-02T03:04:60Z", "2024-01-02t03:04:05Z", "2024-01-02T03:04:05z", "2024-01-02 03:04:05Z",
    "\uff12\uff10\uff12\uff14-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05+00:00",
    "2024-01-02T03:04Z", "+2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z\n",
])
"""Dates one step from that form: each is the model's to take (and rewrite) or reject."""
dates = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
spelt_dates = st.one_of(
    dates.map(datetime.isoformat),
    dates.map(lambda d: d.isoformat() + "Z"),
    dates.map(lambda d: d.replace(microsecond=0).isoformat() + ".000000"),
    dates.map(lambda d: d.isoformat(timespec="microseconds") + "Z"),
    dates.map(lambda d: d.isoformat(timespec="milliseconds")),
    st.sampled_from(["2024-02-30T00:00:00.100000", "2024-01-02T03:04:05.000000Z", "2024-01-02T03:04:05.1234567",
                     "2024-01-02T03:04:60.500000", "2024-01-02T24:00:00.000001", "0000-01-01T00:00:00.500000",
                     "2024-01-02T03:04:05.12345Z", "2024-01-02T03:04:05.\uff11\uff12\uff13\uff14\uff15\uff16"]),
)
"""Dates in the forms the model writes as they are and one step from them."""


@settings(max_examples=600, deadline=None)
@given(spelt_dates)
def test_a_date_is_written_as_the_model_writes_it(value):
    try:
        model: str | None = dump(DrsObject.model_validate({
            "id": "x", "self_uri": "drs://h/x", "size": 1, "created_time": value,
            "checksums": [{"checksum": "a", "type": "md5"}]}))["created_time"]
    except ValueError:
        model = None
    assert written_time(value) == model


any_text = st.text(max_size=8) | st.sampled_from(["\x00\x1f\x7f", "\u2028\u2029", "é\U0001f600", '"\\/', "<\u00a0>"])
written_docs = st.fixed_dictionaries(
    {"did": st.sampled_from([DID, "bare-guid", "dg.X/", "/x", "dg.X/a b", "dg.X/é\u2028"])},
    optional={
        "size": st.none() | st.integers(-3, 2**40) | st.sampled_from([2**63 - 1, 2**63, 2**64, True, 1.0, "5"]),
        "file_name": st.none() | any_text, "version": st.none() | any_text, "rev": st.none() | any_text,
        "description": st.none() | any_text,
        "hashes": st.dictionaries(st.sampled_from(["md5", "sha256", "SHA512", " crc ", "x"]),
                                  st.none() | any_text | st.integers() | json_values, max_size=3),
        "urls": st.lists(st.sampled_from(["s3://b/1", "gs://b/2", "HTTP://h/3", "x"]), max_size=3),
        "urls_metadata": st.dictionaries(st.sampled_from(["s3://b/1", "gs://b/2"]), json_values, max_size=2),
        **{key: st.none() | zulu_seconds | indexd_dates | near_dates | dates
           for key in ("content_created_date", "created_date", "updated_date", "content_updated_date")},
    },
).map(lambda overrides: {**indexd(), **overrides})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(written_docs)
def test_an_indexd_record_written_without_the_model_is_byte_for_byte_what_the_model_writes(doc):
    try:
        expected: bytes | None = dump_json(drs_from_indexd(doc, HOST))
    except ValueError:
        expected = None  # the model rejects the record
    written = drs_written(doc, HOST)
    if written is not None:
        assert orjson.dumps(written) == expected
    record = MemberRecord("m", doc["did"], "indexd", doc)
    if expected is None:
        with pytest.raises(InvalidRecord):
            drs_object_bytes(record, HOST, "1.5")
    else:
        assert drs_object_bytes(record, HOST, "1.5") == expected
        assert drs_object(record, HOST, "1.2") == to_profile(orjson.loads(expected), "1.2")


def test_a_plain_indexd_record_is_written_without_the_model_and_an_odd_one_by_it():
    for plain in (indexd(created_date="2021-02-03T04:05:06Z", updated_date="2021-03-04T05:06:07Z"),
                  indexd(),  # indexd's own naive dates, written with their Z as the model writes them
                  indexd(created_date="2021-02-03T04:05:06.443385", updated_date="2021-02-03T04:05:06.443385"),
                  indexd(created_date="2021-02-03T04:05:06+01:00")):
        assert drs_written(plain, HOST) == dump(drs_from_indexd(plain, HOST))
    for odd in (indexd(size="42"), indexd(size=None), indexd(hashes={}), indexd(created_date="yesterday")):
        assert drs_written(odd, HOST) is None  # the model decides: it rewrites the value, or rejects the record
