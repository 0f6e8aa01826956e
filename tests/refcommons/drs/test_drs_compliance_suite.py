"""The GA4GH drs-compliance-suite (from PyPI, unmodified) against a standalone reference commons.

The commons runs in its own process (``gateway refcommons serve``) and the bearer token comes from the
admin CLI (``gateway refcommons api-key create``) exchanged at ``/user/credentials/api/access_token``.

The venv and the runner are shared with other tests (``tests/drs_compliance.py``). The suite cannot share
our environment (it pins Flask 2.2, and its 1.0.3 wheel is broken), so it gets a dedicated venv, created
once and reused: ``<repo>/.venv-compliance/venv`` (the directory can be moved with ``$GATEWAY_COMPLIANCE_DIR``),
guarded by a stamp file that records what was installed; a lock file next to it lets concurrent runs wait for
one build. Workarounds for the wheel: ``werkzeug<2.3`` (Werkzeug 3 dropped ``url_quote``) and ``jsonschema``
(imported, not declared) installed next to it, and the missing top-level module ``supported_drs_versions``
provided as a one-line shim on ``PYTHONPATH``.

The suite exits 0 even when cases fail, so verdicts come from its report (``status``, ``summary``).
Without a venv (e.g. no network to PyPI) the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import drs_compliance
import pytest
from drs_compliance import CASES_PER_ACCESS, CASES_PER_OBJECT, CASES_SERVICE_INFO

ADMIN = "admin@refcommons.example"
PREFIX = "dg.TST1"


# --------------------------------------------------------------------------------------------- venv




# ------------------------------------------------------------------------------------------ commons


@dataclass
class Commons:
    base: str
    data_dir: Path
    log: Path

    @property
    def drs(self) -> str:
        return f"{self.base}/ga4gh/drs/v1"  # no trailing slash: the suite appends "/service-info" etc.

    def get_json(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=5) as r:
            return json.loads(r.read())

    def token(self, user: str = ADMIN) -> str:
        creds = self.data_dir.parent / f"creds-{self.data_dir.name}.json"
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "refcommons", "api-key", "create", "--data-dir", str(self.data_dir),
             "--user", user, "--out", str(creds)],
            check=False, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        req = urllib.request.Request(
            self.base + "/user/credentials/api/access_token", data=creds.read_bytes(),
            headers={"content-type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())["access_token"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serve(tmp: Path, *profile_args: str) -> Iterator[Commons]:
    data_dir = tmp / "data"
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "server.log"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "refcommons", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--prefix", PREFIX, "--seed", "7", "--subjects", "30", "--data-dir", str(data_dir), *profile_args],
            stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/ga4gh/drs/v1/service-info", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail(f"commons did not start:\n{log.read_text()[-3000:]}", pytrace=False)
                time.sleep(0.1)
        yield Commons(base, data_dir, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------------------------------- the suite


def _pick_objects(commons: Commons) -> tuple[list[str], list[str]]:
    """Two open objects and two controlled objects from different programs."""
    records = commons.get_json("/index/index?limit=1024")["records"]
    open_ids = [r["did"] for r in records if not r["authz"][0].startswith("/programs/phs")][:2]
    controlled: dict[str, str] = {}
    for r in records:
        program = r["authz"][0]
        if program.startswith("/programs/phs"):
            controlled.setdefault(program, r["did"])
    controlled_ids = list(controlled.values())[:2]
    assert len(open_ids) == 2 and len(controlled_ids) == 2, "the seeded commons should have both kinds"
    return open_ids, controlled_ids


def _config(open_ids: list[str], controlled_ids: list[str], token: str, *, access_token: str | None = None) -> dict:
    """Suite config: open objects without auth, controlled ones with a bearer token (also for access,
    unless ``access_token`` overrides it; ``""`` means no auth there)."""
    access_token = token if access_token is None else access_token
    return drs_compliance.config(
        [(d, "") for d in open_ids] + [(d, token) for d in controlled_ids],
        [(d, "") for d in open_ids] + [(d, access_token) for d in controlled_ids],
    )


def _run_suite(suite_bin: Path, shim_dir: Path, commons: Commons, config: dict, workdir: Path) -> dict:
    return drs_compliance.run_suite(suite_bin, shim_dir, commons.drs, config, workdir, platform="refcommons",
                                    server_log=commons.log.read_text)


_cases = drs_compliance.cases
_failures = drs_compliance.failures


def _access_ids(commons: Commons, drs_id: str) -> list[str]:
    return [m["access_id"] for m in commons.get_json(f"/ga4gh/drs/v1/objects/{drs_id}")["access_methods"]]


@pytest.fixture(scope="module")
def commons_1_2(tmp_path_factory) -> Iterator[Commons]:
    with _serve(tmp_path_factory.mktemp("dcs-commons-1.2"), "--drs-profile", "1.2") as commons:
        yield commons


def test_compliance_suite_passes_with_drs_profile_1_2(suite_bin, shim_dir, commons_1_2, tmp_path):
    commons = commons_1_2
    open_ids, controlled_ids = _pick_objects(commons)
    token = commons.token()
    report = _run_suite(suite_bin, shim_dir, commons, _config(open_ids, controlled_ids, token), tmp_path)

    assert report["status"] == "PASS" and report["summary"]["failed"] == 0, _failures(report)
    n_access = sum(len(_access_ids(commons, d)) for d in open_ids + controlled_ids)
    assert n_access >= 4, "every object should offer at least one access method"
    expected = CASES_SERVICE_INFO + CASES_PER_OBJECT * 4 + CASES_PER_ACCESS * n_access
    assert report["summary"] == {"passed": expected, "failed": 0, "skipped": 0, "warned": 0, "unknown": 0}
    tested = " ".join(t for t, *_ in _cases(report))
    for drs_id in open_ids + controlled_ids:
        assert drs_id in tested, f"{drs_id} missing from the report"


def test_compliance_suite_access_needs_the_bearer_token(suite_bin, shim_dir, commons_1_2, tmp_path):
    """Negative check: without the token, the controlled objects' access cases (and only those) fail."""
    commons = commons_1_2
    open_ids, controlled_ids = _pick_objects(commons)
    config = _config(open_ids, controlled_ids, commons.token(), access_token="")
    report = _run_suite(suite_bin, shim_dir, commons, config, tmp_path)

    assert report["status"] == "FAIL"
    failures = _failures(report)
    n_controlled_access = sum(len(_access_ids(commons, d)) for d in controlled_ids)
    assert len(failures) == 2 * n_controlled_access, failures  # status code + schema, per access id
    for test_name, case_name, message in failures:
        assert "drs access endpoint" in test_name and any(d in test_name for d in controlled_ids), failures
        assert ("status code" in case_name and "got 401" in message) or "'url' is a required property" in message


def test_compliance_suite_rejects_drs_1_3_keys_with_default_profile(suite_bin, shim_dir, tmp_path):
    """Without ``--drs-profile 1.2`` (the 1.5 default), the suite's closed 1.2.0 schemas reject exactly the
    DRS 1.3+ keys: ``drs``/``maxBulkRequestLength`` on service-info, ``cloud``/``available`` on access
    methods. Everything else (status codes, content types, access responses) still passes."""
    with _serve(tmp_path / "commons") as commons:
        open_ids, controlled_ids = _pick_objects(commons)
        report = _run_suite(
            suite_bin, shim_dir, commons, _config(open_ids, controlled_ids, commons.token()), tmp_path / "suite"
        )

    assert report["status"] == "FAIL"
    failures = _failures(report)
    assert len(failures) == 1 + 4, failures  # service-info schema + one schema case per object
    assert report["summary"]["failed"] == len(failures)
    for test_name, case_name, message in failures:
        assert "schema validation" in case_name, failures
        assert message.startswith("Additional properties are not allowed"), failures
        if "service-info" in test_name:
            assert "'drs'" in message and "'maxBulkRequestLength'" in message, message
        else:
            assert "drs object info" in test_name, failures
            assert "'cloud'" in message and "'available'" in message, message
