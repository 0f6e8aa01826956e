"""The one checksum-name table (gateway.wire.checksums), and every place that reads it agreeing with it: indexd
records as DRS objects, members' DRS objects made clean, DRS objects seen as indexd records, DRSHub's hashes and
the reference commons' indexd validation."""

from __future__ import annotations

import pytest

from gateway.core.records import MemberRecord
from gateway.drs.drshub import hashes
from gateway.drs.sanitize import drs_from_member
from gateway.resolver.records import indexd_view
from gateway.wire.checksums import INDEXD_HASH_FORMATS, drs_checksum_type, indexd_hash_name
from gateway.wire.drs import dump
from gateway.wire.indexd import drs_from_indexd
from refcommons.indexd.records import IndexCreate

HEX = {"md5": "a" * 32, "sha1": "b" * 40, "sha256": "c" * 64, "sha512": "d" * 128, "crc": "0badf00d",
       "etag": "e" * 32 + "-3"}
"""A valid value for each indexd hash name."""


@pytest.mark.parametrize(("name", "expected"), [
    ("md5", "md5"), ("MD5", "md5"), ("sha1", "sha1"), ("sha-1", "sha1"), ("SHA-1", "sha1"),
    ("sha256", "sha-256"), ("SHA256", "sha-256"), ("sha-256", "sha-256"), (" sha256 ", "sha-256"),
    ("sha512", "sha-512"), ("sha-512", "sha-512"), ("crc", "crc32"), ("crc32c", "crc32c"), ("etag", "etag"),
    ("trunc512", "trunc512"), ("Blake3", "blake3"),
])
def test_drs_checksum_type(name, expected):
    assert drs_checksum_type(name) == expected


@pytest.mark.parametrize(("checksum_type", "expected"), [
    ("sha-1", "sha1"), ("sha-256", "sha256"), ("sha-512", "sha512"), ("md5", "md5"), ("sha1", "sha1"),
    ("crc32", "crc32"), ("crc32c", "crc32c"), ("etag", "etag"), ("SHA-256", "SHA-256"),
])
def test_indexd_hash_name(checksum_type, expected):
    assert indexd_hash_name(checksum_type) == expected


@pytest.mark.parametrize("name", sorted(set(INDEXD_HASH_FORMATS) - {"crc"}))
def test_every_indexd_name_but_crc_comes_back_from_its_drs_type(name):
    assert indexd_hash_name(drs_checksum_type(name)) == name


def test_the_indexd_formats():
    assert sorted(INDEXD_HASH_FORMATS) == sorted(HEX)
    for name, value in HEX.items():
        assert INDEXD_HASH_FORMATS[name].match(value), name
        assert not INDEXD_HASH_FORMATS[name].match(value.upper() if name != "crc" else "0BADF00D"), name
        assert not INDEXD_HASH_FORMATS[name].match(value + "g"), name
        assert not INDEXD_HASH_FORMATS[name].match(value[1:]), name


def test_the_reference_indexd_accepts_exactly_the_table():
    base = {"form": "object", "size": 1, "urls": ["s3://b/k"]}
    assert IndexCreate.model_validate({**base, "hashes": HEX}).hashes == HEX
    with pytest.raises(ValueError, match="invalid hash types specified: sha-256"):
        IndexCreate.model_validate({**base, "hashes": {"sha-256": "c" * 64}})
    with pytest.raises(ValueError, match="invalid hash values specified for md5"):
        IndexCreate.model_validate({**base, "hashes": {"md5": "A" * 32}})


def test_every_reader_agrees():
    """An indexd record's hashes → DRS checksums → indexd hashes again (the SHA family round-trips), and DRSHub
    reports the same names."""
    record = {"did": "dg.T/1", "size": 1, "hashes": HEX, "urls": []}
    drs = dump(drs_from_indexd(record, "gw.example"))
    types = {c["type"] for c in drs["checksums"]}
    assert types == {"md5", "sha1", "sha-256", "sha-512", "crc32", "etag"}
    member_view, _ = drs_from_member({**drs, "checksums": [{"type": n, "checksum": v} for n, v in HEX.items()]},
                                     "gw.example")
    assert {c.type for c in member_view.checksums} == types
    back = indexd_view(MemberRecord("m", "dg.T/1", "drs", drs))["hashes"]
    assert back == {**{n: v for n, v in HEX.items() if n != "crc"}, "crc32": HEX["crc"]}
    assert hashes(drs) == back
