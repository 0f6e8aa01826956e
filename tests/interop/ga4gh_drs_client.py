"""ga4gh-drs-client 0.1.7 (the ``drs`` CLI) against the gateway over HTTPS (it refuses ``http://`` URLs).

* ``drs get -m meta.json`` of an open object of member B by its full id: the object JSON;
* ``drs get -d -v`` (download, verify checksums) of an open object of member A by its bare UUID (the gateway finds
  the member), and of a controlled object of member B by its bare UUID with ``-t <B's token>``: exit 0, the
  report says COMPLETED / PASSED, and the file's md5 is the member's;
* the same controlled download without a token must not produce the file.

The client writes to ``OUT/<id>/<name>`` with the ``id`` of the *response*, and the gateway answers with the
canonical ``dg.XXXX/<uuid>`` even for a bare UUID, so ``os.mkdir`` needs ``OUT/dg.XXXX`` to exist: the harness
creates it first (ids with a ``/`` break ``-d`` otherwise).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from common import check, client_bin, md5, run_logged
from federation import Federation

CLIENT = "ga4gh-drs-client"


def _report_rows(out: Path) -> list[dict[str, str]]:
    lines = [ln for ln in (out / "drs_download_report.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"))) for ln in lines[1:]]


def run(fed: Federation, workdir: Path) -> str:
    a, b = fed.commons["a"], fed.commons["b"]
    gw = fed.gateways["1.5"]
    drs = str(client_bin(CLIENT, "drs"))
    env = fed.client_env(workdir / "home")
    log = workdir / "client.log"

    did = b.open_ids[0]
    meta = workdir / "meta.json"
    done = run_logged([drs, "get", "-m", str(meta), gw.https, did], env=env, log=log, cwd=workdir)
    check(done.returncode == 0 and meta.is_file(), f"drs get {did}: exit {done.returncode} (log: {log})")
    obj = json.loads(meta.read_text())
    check(obj.get("id") == did and obj.get("size") == fed.expected(did)["size"],
          f"drs get {did}: unexpected object {str(obj)[:300]}")

    def download(did: str, token: str | None, out: Path) -> tuple[subprocess.CompletedProcess, Path]:
        prefix, uuid = did.split("/", 1)
        (out / prefix).mkdir(parents=True)  # the client mkdirs OUT/<response id>: one level only
        args = [drs, "get", "-d", "-v", "-o", str(out), *(["-t", token] if token else []), gw.https, uuid]
        return run_logged(args, env=env, log=log, cwd=workdir), out / did / fed.expected(did)["file_name"]

    for n, (did, token, how) in enumerate(((a.open_ids[0], None, "anonymously"),
                                           (b.controlled_ids[0], b.token, "with its member's token"))):
        out = workdir / f"out{n}"
        done, path = download(did, token, out)
        check(done.returncode == 0, f"drs get -d {did.split('/', 1)[1]} {how}: exit {done.returncode} (log: {log})")
        rows = _report_rows(out)
        check(len(rows) == 1 and rows[0]["ID"] == did and rows[0]["Download Status"] == "COMPLETED"
              and rows[0]["Checksum Status"] == "PASSED", f"drs get -d {did} {how}: report {rows} (log: {log})")
        check(path.is_file() and md5(path.read_bytes()) == fed.expected(did)["md5"],
              f"drs get -d {did} {how}: {path} missing or wrong md5")

    did = b.controlled_ids[0]
    done, path = download(did, None, workdir / "out-denied")
    check(done.returncode != 0 and not path.exists(),
          f"drs get -d {did} without a token: exit {done.returncode}, file {'written' if path.exists() else 'absent'}")
    return (f"drs get over https: object JSON of an open {b.prefix} object by full id; download + md5 check "
            f"(-d -v) by bare UUID of an open {a.prefix} object anonymously and a controlled {b.prefix} object "
            f"with its member's token (-t); the controlled one without a token not downloaded (exit {done.returncode})")
