"""``gen3 drs-pull`` manifests, read back with the Gen3 SDK's own manifest loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gen3.tools.download.drs_download import Downloadable, Manifest

from gateway.export.formats.manifest import ManifestEntry, commons_host, encode_manifest, manifest_chunks
from refcommons.synth import generate_dataset

# the SDK's dataclasses-json on marshmallow 3
pytestmark = pytest.mark.filterwarnings("ignore:The 'default' argument to fields is deprecated")


def sdk_load(tmp_path: Path, data: bytes) -> list[Manifest]:
    path = tmp_path / "manifest.json"
    path.write_bytes(data)
    return Manifest.load_manifest(path)


@pytest.fixture(scope="module")
def files():
    return generate_dataset(prefix="dg.MAN1", seed=5, subjects=6).files


def entries_of(files, host: str) -> list[ManifestEntry]:
    return [ManifestEntry(f.guid, host, f.file_name, f.size, f.md5) for f in files]


def test_the_sdk_reads_our_manifest(tmp_path, files):
    entries = entries_of(files, "https://refa.example.org/")
    data = encode_manifest(entries)
    loaded = sdk_load(tmp_path, data)
    assert [(m.object_id, m.commons_url, m.file_name, m.file_size, m.md5sum) for m in loaded] == [
        (f.guid, "refa.example.org", f.file_name, f.size, f.md5) for f in files]
    assert all(isinstance(m.file_size, int) for m in loaded)
    # the SDK's list of downloads: hostnames straight from commons_url, ids untouched
    downloads = Manifest.load(tmp_path / "manifest.json")
    assert downloads is not None and all(isinstance(d, Downloadable) for d in downloads)
    assert [(d.object_id, d.hostname) for d in downloads] == [(f.guid, "refa.example.org") for f in files]


def test_the_format(files):
    entry = entries_of(files[:1], "refa.example.org:8443")[0]
    (obj,) = json.loads(encode_manifest([entry]))
    assert list(obj) == ["object_id", "commons_url", "file_name", "file_size", "md5sum"]
    assert obj == {"object_id": files[0].guid, "commons_url": "refa.example.org:8443",
                   "file_name": files[0].file_name, "file_size": files[0].size, "md5sum": files[0].md5}


def test_fields_left_unset_take_the_sdks_defaults(tmp_path):
    data = encode_manifest([ManifestEntry("dg.X/1"), ManifestEntry("dg.X/2", file_size=0, md5sum="A" * 32)])
    assert json.loads(data) == [{"object_id": "dg.X/1"}, {"object_id": "dg.X/2", "file_size": 0, "md5sum": "a" * 32}]
    first, second = sdk_load(tmp_path, data)
    assert (first.file_size, first.file_name, first.md5sum, first.commons_url) == (-1, None, None, None)
    assert (second.file_size, second.md5sum) == (0, "a" * 32)


def test_an_empty_manifest(tmp_path):
    assert encode_manifest([]) == b"[]"
    assert sdk_load(tmp_path, b"[]") == []


def test_unicode_file_names(tmp_path):
    name = "données ✓ 中文 \"quoted\" \\ 🧬.vcf"
    data = encode_manifest([ManifestEntry("dg.X/ü", "h.example", name, 1)])
    (loaded,) = sdk_load(tmp_path, data)
    assert (loaded.object_id, loaded.file_name) == ("dg.X/ü", name)


def test_chunks_stream_the_same_bytes_lazily(files):
    entries = entries_of(files, "refa.example.org")
    whole = encode_manifest(entries)
    pulled = []

    def source():
        for e in entries:
            pulled.append(e)
            yield e

    stream = manifest_chunks(source(), chunk_size=512)
    assert pulled == []
    first = next(stream)
    assert len(first) >= 512 and len(pulled) < len(entries)
    chunks = [first, *stream]
    assert b"".join(chunks) == whole and all(len(c) >= 512 for c in chunks[:-1])
    with pytest.raises(ValueError):
        manifest_chunks(entries, chunk_size=0)
    with pytest.raises(TypeError):
        encode_manifest([{"object_id": "x"}])  # type: ignore[list-item]


@pytest.mark.parametrize("url, host", [
    ("refa.example.org", "refa.example.org"),
    ("https://refa.example.org", "refa.example.org"),
    ("https://REFA.example.org/", "refa.example.org"),
    (" https://refa.example.org:8443/ ", "refa.example.org:8443"),
    ("http://127.0.0.1:8080", "127.0.0.1:8080"),
    ("https://[::1]:8443/", "[::1]:8443"),
    ("localhost", "localhost"),
])
def test_commons_host(url, host):
    assert commons_host(url) == host
    assert ManifestEntry("dg.X/1", url).commons_url == host


@pytest.mark.parametrize("url", [
    "", "https://refa.example.org/gen3", "https://refa.example.org/?x=1", "https://u:p@refa.example.org",
    "ftp://refa.example.org", "https://refa_example.org", "https://refa.example.org:99999", "https://[zz]/",
    "https://-bad.example.org",
])
def test_commons_urls_drs_pull_cannot_use(url):
    with pytest.raises(ValueError):
        commons_host(url)


@pytest.mark.parametrize("kwargs", [
    {"object_id": ""},
    {"object_id": "x", "file_size": -1},
    {"object_id": "x", "file_size": True},
    {"object_id": "x", "file_size": "12"},
    {"object_id": "x", "md5sum": "abc"},
    {"object_id": "x", "md5sum": "g" * 32},
    {"object_id": "x", "file_name": 5},
])
def test_bad_entries(kwargs):
    with pytest.raises(ValueError):
        ManifestEntry(**kwargs)
