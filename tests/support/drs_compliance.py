"""The GA4GH drs-compliance-suite (from PyPI, unmodified) for tests in any folder: its venv and running it.

Importable as ``drs_compliance`` from every test module (``tests/support/`` is on ``sys.path`` through
``tests/conftest.py``).

The suite cannot share our environment (it pins Flask 2.2, and its 1.0.3 wheel is broken), so it gets a
dedicated venv, created once and reused: ``<repo>/.venv-compliance/venv`` (the directory can be moved with
``$GATEWAY_COMPLIANCE_DIR``), guarded by a stamp file that records what was installed; a lock file next to it
lets concurrent runs wait for one build. Workarounds for the wheel: ``werkzeug<2.3`` (Werkzeug 3 dropped
``url_quote``) and ``jsonschema`` (imported, not declared) installed next to it, and the missing top-level
module ``supported_drs_versions`` provided as a one-line shim on ``PYTHONPATH``.

The suite exits 0 even when cases fail, so verdicts come from its report (``status``, ``summary``).
Without a venv (e.g. no package index) tests using :func:`suite_script` fail: they never skip.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPLIANCE_DIR = Path(os.environ.get("GATEWAY_COMPLIANCE_DIR") or REPO / ".venv-compliance")
VENV = COMPLIANCE_DIR / "venv"
SUITE_REQUIREMENTS = ("drs-compliance-suite==1.0.3", "werkzeug<2.3", "jsonschema")
# Upstream's module says ["1.2.0", "1.3.0experimental"], but the wheel only ships v1.2.0 schemas.
SHIM = 'SUPPORTED_DRS_VERSIONS = ["1.2.0"]\n'

# Cases the suite (1.0.3) runs: per service-info test, per object-info test (non-bundle), per access test.
CASES_SERVICE_INFO = 3
CASES_PER_OBJECT = 5
CASES_PER_ACCESS = 3


# --------------------------------------------------------------------------------------------- venv


def _stamp_text() -> str:
    return json.dumps({"python": sys.version.split()[0], "requirements": SUITE_REQUIREMENTS})


def suite_env(shim_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(shim_dir)
    no_proxy = ",".join(x for x in (env.get("NO_PROXY"), "127.0.0.1", "localhost") if x)
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


def build_venv(venv: Path, shim_dir: Path) -> None:
    """Create ``venv`` with the suite in it; raises ``RuntimeError`` saying why it could not."""
    if venv.exists():
        shutil.rmtree(venv)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--retries", "2",
         *SUITE_REQUIREMENTS],
        [str(venv / "bin" / "drs-compliance-suite"), "--help"],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, check=False, capture_output=True, text=True, timeout=900,
                                  env=suite_env(shim_dir))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"{' '.join(step)}: {exc}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
            raise RuntimeError(f"{' '.join(step)} exited {done.returncode}:\n" + "\n".join(tail))


def make_shim(directory: Path) -> Path:
    """``directory`` with the missing ``supported_drs_versions`` module in it (for ``PYTHONPATH``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "supported_drs_versions.py").write_text(SHIM)
    return directory


def suite_script(shim_dir: Path) -> Path:
    """The suite's console script, in a venv built on first use (under a lock) and reused afterwards.
    Skips the calling test when the venv cannot be built, or fails it under CI."""
    stamp = VENV / ".installed-stamp"
    script = VENV / "bin" / "drs-compliance-suite"
    COMPLIANCE_DIR.mkdir(parents=True, exist_ok=True)
    with open(COMPLIANCE_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent pytest runs: one builds, the others wait
        python = VENV / "bin" / "python"  # a symlink: gone if the base interpreter was removed
        if not (stamp.is_file() and stamp.read_text() == _stamp_text() and script.exists() and python.exists()):
            try:
                build_venv(VENV, shim_dir)
            except RuntimeError as exc:
                shutil.rmtree(VENV, ignore_errors=True)
                pytest.fail(f"cannot create the drs-compliance-suite venv at {VENV}: {exc}\n"
                            "the compliance suite must run (it needs the package index)", pytrace=False)
            stamp.write_text(_stamp_text())
    return script


# ---------------------------------------------------------------------------------------- the suite


def config(objects: list[tuple[str, str]], access: list[tuple[str, str]] | None = None) -> dict:
    """Suite config for ``(drs_id, bearer token or "")`` pairs: object info for ``objects``, access for
    ``access`` (default: the same pairs). Every access id must also be in ``objects`` (else the suite crashes)."""

    def entry(drs_id: str, tok: str) -> dict:
        return {"drs_id": drs_id, "auth_type": "bearer" if tok else "none", "auth_token": tok}

    return {
        "service_info": {"auth_type": "none", "auth_token": ""},
        "drs_object_info": [{**entry(d, t), "is_bundle": False} for d, t in objects],
        "drs_object_access": [entry(d, t) for d, t in (objects if access is None else access)],
    }


def run_suite(suite_bin: Path, shim_dir: Path, drs_base: str, suite_config: dict, workdir: Path, *,
              platform: str = "server", server_log: Callable[[], str] = lambda: "") -> dict:
    """Run the suite against ``drs_base`` (``…/ga4gh/drs/v1``, no trailing slash) and return its report.
    ``server_log`` is called for diagnostics when the suite crashes."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "dcs.json"
    config_path.write_text(json.dumps(suite_config, indent=1))
    report_path = workdir / "report.json"  # in an existing directory, else the suite crashes at the end
    done = subprocess.run(
        [str(suite_bin), "--server_base_url", drs_base.rstrip("/"), "--platform_name", platform,
         "--platform_description", f"{platform} under test", "--drs_version", "1.2.0",
         "--config_file", str(config_path), "--report_path", str(report_path)],
        check=False, capture_output=True, text=True, timeout=120, cwd=workdir, env=suite_env(shim_dir),
    )
    # Exit 0 even when cases fail; non-zero (and no report) means the suite itself crashed.
    assert done.returncode == 0 and report_path.exists(), (
        f"drs-compliance-suite crashed (exit {done.returncode}):\n{done.stderr[-3000:]}\n"
        f"server log:\n{server_log()[-3000:]}"
    )
    return json.loads(report_path.read_text())


def cases(report: dict) -> list[tuple[str, str, str, str]]:
    """(test_name, case_name, status, message) for every case in the report."""
    return [
        (t["test_name"], c["case_name"], c["status"], c.get("message") or "")
        for p in report["phases"] for t in p["tests"] for c in t["cases"]
    ]


def failures(report: dict) -> list[tuple[str, str, str]]:
    return [(t, c, m) for t, c, s, m in cases(report) if s != "PASS"]


def expected_summary(n_objects: int, n_access: int) -> dict[str, int]:
    """The report summary of a fully passing run over ``n_objects`` blobs and ``n_access`` access ids."""
    passed = CASES_SERVICE_INFO + CASES_PER_OBJECT * n_objects + CASES_PER_ACCESS * n_access
    return {"passed": passed, "failed": 0, "skipped": 0, "warned": 0, "unknown": 0}
