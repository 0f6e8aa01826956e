"""GA4GH drs-compliance-suite 1.0.3 (DRS 1.2.0 schemas) against the gateway's 1.2 profile, over HTTP and HTTPS.

Objects: one open and one controlled object from each member; the controlled ones carry that member's bearer
token for both object info and access. Verdicts come from the report (``status``, ``summary.failed``), never
from the exit code (0 even when cases fail). The suite needs the ``supported_drs_versions`` shim on
``PYTHONPATH`` (made by ``make interop``) and a report path in an existing directory.
"""

from __future__ import annotations

import json
from pathlib import Path

from common import INTEROP_DIR, Failure, client_bin, get_json, run_logged
from federation import Federation

CLIENT = "drs-compliance-suite"


def _config(entries: list[tuple[str, str]]) -> dict:
    def entry(drs_id: str, token: str) -> dict:
        return {"drs_id": drs_id, "auth_type": "bearer" if token else "none", "auth_token": token}

    return {
        "service_info": {"auth_type": "none", "auth_token": ""},
        "drs_object_info": [{**entry(d, t), "is_bundle": False} for d, t in entries],
        "drs_object_access": [entry(d, t) for d, t in entries],
    }


def _failures(report: dict) -> list[str]:
    return [
        f"{t['test_name']} / {c['case_name']}: {c.get('message') or c['status']}"
        for p in report.get("phases", []) for t in p.get("tests", []) for c in t.get("cases", [])
        if c.get("status") != "PASS"
    ]


def run(fed: Federation, workdir: Path) -> str:
    shim = INTEROP_DIR / CLIENT / "shim"
    if not (shim / "supported_drs_versions.py").exists():
        raise Failure(f"no shim at {shim} (rebuild the venv: rm -rf {INTEROP_DIR / CLIENT}; make interop)")
    a, b = fed.commons["a"], fed.commons["b"]
    entries = [(a.open_ids[0], ""), (b.open_ids[0], ""), (a.controlled_ids[0], a.token), (b.controlled_ids[0], b.token)]
    gw = fed.gateways["1.2"]
    n_access = 0
    for drs_id, token in entries:  # access ids the suite will try: what the gateway advertises
        n_access += len(get_json(f"{gw.http}/ga4gh/drs/v1/objects/{drs_id}", token or None)["access_methods"])
    env = fed.client_env(workdir / "home", PYTHONPATH=str(shim))
    log = workdir / "client.log"
    summaries = []
    for scheme, base in (("http", gw.http), ("https", gw.https)):
        run_dir = workdir / scheme
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "dcs.json").write_text(json.dumps(_config(entries), indent=1))
        report_path = run_dir / "report.json"
        done = run_logged(
            [str(client_bin(CLIENT, "drs-compliance-suite")), "--server_base_url", f"{base}/ga4gh/drs/v1",
             "--platform_name", "gateway", "--platform_description", f"federation gateway, DRS profile 1.2 ({scheme})",
             "--drs_version", "1.2.0", "--config_file", str(run_dir / "dcs.json"),
             "--report_path", str(report_path)],
            env=env, log=log, cwd=run_dir, timeout=300,
        )
        if not report_path.exists():  # exit 1 and no report: the suite itself crashed (e.g. a non-JSON body)
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise Failure(f"suite crashed over {scheme} (exit {done.returncode}, no report): {tail} (log: {log})")
        report = json.loads(report_path.read_text())
        summary = report.get("summary", {})
        if report.get("status") != "PASS" or summary.get("failed", 1) != 0:
            failures = _failures(report)
            raise Failure(f"over {scheme}: report {report.get('status')}, {summary.get('failed')} failed, "
                          f"first: {failures[0] if failures else '?'} (report: {report_path})")
        tested = " ".join(t["test_name"] for p in report["phases"] for t in p["tests"])
        missing = [d for d, _ in entries if d not in tested]
        if missing:
            raise Failure(f"over {scheme}: objects missing from the report: {missing} (report: {report_path})")
        expected = 3 + 5 * len(entries) + 3 * n_access
        if summary.get("passed") != expected:
            raise Failure(f"over {scheme}: {summary.get('passed')} cases passed, expected {expected}: {summary}")
        summaries.append(summary["passed"])
    return (f"DRS 1.2.0 report PASS over http and https ({summaries[0]} cases each: service-info, "
            f"4 objects from {a.prefix} and {b.prefix} incl. 2 controlled with their member's bearer token, "
            f"{n_access} access URLs)")
