"""The unmodified Gen3 SDK (from PyPI) against a standalone reference commons started with the real CLI.

The commons runs in its own process (``gateway refcommons serve``); the API key comes from the admin CLI
(``gateway refcommons api-key create``). The SDK is synchronous, so these tests are plain functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from gen3.auth import Gen3Auth
from gen3.file import Gen3File
from gen3.index import Gen3Index
from gen3.metadata import Gen3Metadata

ADMIN = "admin@refcommons.example"
NOBODY = "nobody@refcommons.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60)


def _serve(*args: str, probe: str):
    """``gateway refcommons serve ARGS`` in its own process, once ``probe`` (a URL) answers; stopped with Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "refcommons", "serve", "--host", "127.0.0.1", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(probe, timeout=1).read()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"commons did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.1)
    yield proc
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0, "Ctrl-C must stop the commons cleanly"


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("sdk-commons")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    yield from ((base, data_dir) for _ in _serve(
        "--port", str(port), "--prefix", "dg.SDK1", "--seed", "5", "--subjects", "30", "--data-dir", str(data_dir),
        probe=base + "/index/_status"))


@pytest.fixture(scope="module")
def bare_indexd():
    """The ``indexd`` layout: indexd alone at its root, as uc-cdis/indexd serves itself (no fence)."""
    port = _free_port()
    yield from (port for _ in _serve("--layout", "indexd", "--port", str(port), "--prefix", "dg.SDK2", "--seed", "5",
                                     "--subjects", "20", probe=f"http://127.0.0.1:{port}/_status"))


@pytest.fixture
def sdk_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the SDK caches tokens under $HOME
    monkeypatch.setenv("GEN3SDK_MAX_RETRIES", "1")
    return tmp_path


def _credentials(data_dir: Path, user: str, out: Path) -> Path:
    done = _cli("refcommons", "api-key", "create", "--data-dir", str(data_dir), "--user", user, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert set(json.loads(out.read_text())) >= {"api_key", "key_id"}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    return out


def _records(base: str) -> list[dict]:
    return _get_json(f"{base}/index/index?limit=1024")["records"]


def test_gen3_index_reads(standalone, sdk_env):
    base, data_dir = standalone
    auth = Gen3Auth(refresh_file=str(_credentials(data_dir, ADMIN, sdk_env / "creds.json")))
    assert auth.endpoint == base
    index = Gen3Index(auth_provider=auth)
    assert index.is_healthy()
    records = _records(base)
    first = records[0]
    assert index.get_record(first["did"]) == first
    assert index.get(first["did"])["did"] == first["did"]
    assert index.get_record("dg.SDK1/00000000-0000-4000-8000-000000000000") is None
    page = index.get_all_records(limit=5)
    assert [r["did"] for r in page] == [r["did"] for r in records[:5]]
    wanted = [r["did"] for r in records[3:6]]
    assert sorted(r["did"] for r in index.get_records(wanted)) == sorted(wanted)
    by_hash = index.get_with_params({"hashes": {"md5": first["hashes"]["md5"]}})
    assert by_hash["did"] == first["did"]
    assert index.get_stats()["fileCount"] == len(records)


@pytest.mark.parametrize("where", ["localhost", "service_location"])
def test_gen3_index_reads_a_bare_indexd(bare_indexd, sdk_env, where):
    """Gen3Index against indexd at its root: the SDK's own rule for a local indexd (an ``http://localhost``
    endpoint), or ``service_location=""`` for any other host."""
    if where == "localhost":
        index = Gen3Index(endpoint=f"http://localhost:{bare_indexd}")
    else:
        index = Gen3Index(endpoint=f"http://127.0.0.1:{bare_indexd}", service_location="")
    assert index.is_healthy()
    assert index.get_version()["version"]
    records = _get_json(f"http://127.0.0.1:{bare_indexd}/index/?limit=1024")["records"]
    assert len(records) > 5
    assert index.get_stats() == {"fileCount": len(records), "totalFileSize": sum(r["size"] for r in records)}
    first = records[0]
    assert index.get_record(first["did"]) == first
    assert index.get(first["did"])["did"] == first["did"]
    assert index.get_record("dg.SDK2/00000000-0000-4000-8000-000000000000") is None
    assert [r["did"] for r in index.get_all_records(limit=5)] == [r["did"] for r in records[:5]]
    every = index.get_all_records(limit=4, paginate=True)
    assert [r["did"] for r in every] == [r["did"] for r in records]
    wanted = [r["did"] for r in records[3:6]]
    assert sorted(r["did"] for r in index.get_records(wanted)) == sorted(wanted)


def test_gen3_file_presigned_url_and_download_of_controlled_data(standalone, sdk_env):
    base, data_dir = standalone
    auth = Gen3Auth(refresh_file=str(_credentials(data_dir, ADMIN, sdk_env / "creds.json")))
    controlled = next(r for r in _records(base) if r["authz"][0].startswith("/programs/phs"))
    files = Gen3File(auth_provider=auth)
    signed = files.get_presigned_url(controlled["did"])
    assert signed["url"].startswith(base + "/")
    files.download_single(controlled["did"], str(sdk_env / "out"))
    data = (sdk_env / "out" / controlled["file_name"]).read_bytes()
    assert len(data) == controlled["size"]
    assert hashlib.md5(data).hexdigest() == controlled["hashes"]["md5"]


def test_gen3_file_refuses_a_user_without_the_grant(standalone, sdk_env):
    base, data_dir = standalone
    auth = Gen3Auth(refresh_file=str(_credentials(data_dir, NOBODY, sdk_env / "nobody.json")))
    controlled = next(r for r in _records(base) if r["authz"][0].startswith("/programs/phs"))
    with pytest.raises(Exception) as exc:
        Gen3File(auth_provider=auth).get_presigned_url(controlled["did"])
    assert "403" in str(exc.value)


def test_gen3_metadata_query_and_get(standalone, sdk_env):
    base, data_dir = standalone
    auth = Gen3Auth(refresh_file=str(_credentials(data_dir, ADMIN, sdk_env / "creds.json")))
    mds = Gen3Metadata(auth_provider=auth)
    assert mds.is_healthy()
    studies = mds.query("_guid_type=discovery_metadata", return_full_metadata=True, limit=50)
    assert isinstance(studies, dict) and len(studies) == 3
    guid, doc = next(iter(studies.items()))
    assert mds.get(guid) == doc
    ids = mds.query("_guid_type=discovery_metadata", limit=50)
    assert sorted(ids) == sorted(studies)
    one_file = _records(base)[0]["did"]
    assert mds.get(one_file)["_guid_type"] == "indexed_file_object"


def test_cli_revoke_makes_the_key_useless(standalone, sdk_env):
    base, data_dir = standalone
    creds_path = _credentials(data_dir, ADMIN, sdk_env / "revoked.json")
    creds = json.loads(creds_path.read_text())
    done = _cli("refcommons", "api-key", "revoke", "--data-dir", str(data_dir), creds["key_id"])
    assert done.returncode == 0, done.stderr
    req = urllib.request.Request(
        base + "/user/credentials/api/access_token", data=json.dumps(creds).encode(),
        headers={"content-type": "application/json"}, method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code == 401
    assert os.path.exists(data_dir / "commons.json")
