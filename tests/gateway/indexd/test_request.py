"""A federated listing request and its cursor, checked (pure)."""

from __future__ import annotations

import base64

import orjson
import pytest

from gateway.core.errors import ApiError
from gateway.indexd.cursor import MARKER, BadCursor, encode_cursor, read_start
from gateway.indexd.request import MAX_OFFSET, parse_list_request
from gateway.wire.indexd_list import ListFilters


def test_defaults_are_indexds():
    got = parse_list_request([])
    assert (got.limit, got.start, got.page, got.filters) == (100, None, None, ListFilters())


def test_every_filter_is_read_and_goes_back_on_the_wire():
    got = parse_list_request([
        ("limit", "7"), ("start", "dg.X/1"), ("hash", "md5:" + "a" * 32), ("hash", "sha256:" + "b" * 64),
        ("url", "s3://x/1"), ("urls", "gs://y/2"), ("file_name", "f.txt"), ("version", "2"), ("size", "10"),
        ("acl", "open,x"), ("authz", "null"),
    ])
    assert got.limit == 7 and got.start == "dg.X/1"
    f = got.filters
    assert f.hashes == (("md5", "a" * 32), ("sha256", "b" * 64)) and f.urls == ("s3://x/1", "gs://y/2")
    assert (f.file_name, f.version, f.size, f.acl, f.authz) == ("f.txt", "2", 10, ("open", "x"), ())
    assert f.params() == [("hash", "md5:" + "a" * 32), ("hash", "sha256:" + "b" * 64), ("url", "s3://x/1"),
                          ("url", "gs://y/2"), ("file_name", "f.txt"), ("version", "2"), ("size", "10"),
                          ("acl", "open,x"), ("authz", "null")]
    assert f.echo()["hashes"] == {"md5": "a" * 32, "sha256": "b" * 64} and f.echo()["authz"] == []


@pytest.mark.parametrize("items", [
    [("limit", "1025")], [("limit", "-1")], [("limit", "1e3")], [("limit", "9" * 40)], [("page", "-2")],
    [("page", str(MAX_OFFSET)), ("limit", "2")], [("size", "-1")], [("size", "big")], [("size", "9" * 30)],
    [("page", "9" * 30), ("limit", "0")], [("hash", "md5:ABC")],
    [("hash", "md4:" + "a" * 32)], [("hash", "nocolon")], [("ids", "a,b")], [("metadata", "k:v")],
    [("uploader", "me")], [("negate_params", "{}")], [("urls_metadata", "{}")], [("form", "bundle")],
    [("file_name", "x" * 5000)], [("hash", "md5:" + "a" * 32)] * 33,
])
def test_hostile_requests_are_400s(items):
    with pytest.raises(ApiError) as caught:
        parse_list_request(items)
    assert caught.value.status == 400


def test_a_cursor_round_trips_and_is_tied_to_its_filters():
    digest = ListFilters(file_name="a").digest()
    cursor = encode_cursor("dg.X/abc", digest)
    assert read_start(cursor, digest) == "dg.X/abc"
    with pytest.raises(BadCursor, match="other filters"):
        read_start(cursor, ListFilters().digest())


@pytest.mark.parametrize("start", [
    MARKER, MARKER + "!!!", MARKER + "e30", MARKER + base64.urlsafe_b64encode(b"[1]").decode(),
    MARKER + base64.urlsafe_b64encode(orjson.dumps({"v": 2, "after": "x", "q": "d"})).decode(),
    MARKER + base64.urlsafe_b64encode(orjson.dumps({"v": 1, "after": "", "q": "d"})).decode(),
    MARKER + base64.urlsafe_b64encode(orjson.dumps({"v": 1, "after": "x", "q": "d", "m": 1})).decode(),
    "x" * 1025,
])
def test_garbage_cursors_are_refused(start):
    with pytest.raises(BadCursor):
        read_start(start, "d")


def test_a_plain_did_is_a_start_as_indexd_takes_it():
    assert read_start("dg.X/abc", "whatever") == "dg.X/abc"
    assert read_start(None, "d") is None
