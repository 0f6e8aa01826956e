"""``make interop``: third-party DRS / Gen3 clients, unmodified from PyPI, against a live gateway.

Starts a federation (:mod:`federation`: two standalone reference commons, two gateways serving HTTP and
HTTPS), runs every client from its own venv under ``.venv-interop/<client>`` (built by ``make interop``),
and prints exactly one line per client on stdout::

    PASS <client>: <what was checked>
    FAIL <client>: <reason>

Exit status 1 if any client failed (2 on bad usage, 130 on Ctrl-C). Every process it started is stopped on
exit, Ctrl-C and SIGTERM included. Work files (server and client logs, reports, downloads) go to a temporary
directory, removed when everything passed and kept (its path on stderr) otherwise or with ``--keep``.

    .venv/bin/python tests/interop/run.py [--only CLIENT]... [--keep] [--workdir DIR]
    .venv/bin/python tests/interop/run.py --serve     # only start the federation, print its URLs, wait for Ctrl-C

docs/interop.md says what each client checks and which quirks the harness works around.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import INTEROP_DIR, Failure, one_line
from federation import Federation

CLIENTS = {  # client (= its venv's name) → module with run(fed, workdir) -> "what was checked"
    "drs-compliance-suite": "compliance_suite",
    "gen3": "gen3_sdk",
    "drsclient": "drsclient_lib",
    "drs-cli": "drs_cli_lib",
    "ga4gh-drs-client": "ga4gh_drs_client",
}


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def _run_client(client: str, fed: Federation, workdir: Path) -> tuple[bool, str]:
    if not (INTEROP_DIR / client / ".installed").exists():
        return False, f"no venv at {INTEROP_DIR / client} (run `make interop`, which builds it)"
    module = importlib.import_module(CLIENTS[client])
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        what = module.run(fed, workdir)
    except Failure as exc:
        return False, str(exc)
    except Exception as exc:  # a harness or client error still gets its one line
        return False, f"{type(exc).__name__}: {exc}"
    return True, f"{what} [{time.monotonic() - started:.1f}s]"


def _describe(fed: Federation) -> None:
    out = sys.stderr
    print(f"certificate: {fed.cert}  (export REQUESTS_CA_BUNDLE={fed.cert})", file=out)
    for c in fed.commons.values():
        print(f"member {c.member_id} {c.prefix}: {c.base}  credentials {c.creds}", file=out)
        print(f"  token: {c.token}", file=out)
        print(f"  open {c.open_ids[:2]}  controlled {c.controlled_ids[:2]}", file=out)
    for g in fed.gateways.values():
        print(f"gateway (DRS profile {g.profile}): {g.http} and {g.https}", file=out)
    print(f"logs: {fed.logs}; Ctrl-C stops everything", file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="interop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=list(CLIENTS), help="run only this client (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory even if everything passed")
    parser.add_argument("--workdir", type=Path, help="work directory (default: a new temporary directory)")
    parser.add_argument("--serve", action="store_true", help="start the federation, print its URLs, run no client "
                        "and wait for Ctrl-C (to debug by hand)")
    args = parser.parse_args(argv)
    clients = [c for c in CLIENTS if not args.only or c in args.only]

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gateway-interop-"))
    workdir.mkdir(parents=True, exist_ok=True)
    failed = 0
    try:
        try:
            fed = Federation(workdir).__enter__()
        except Exception as exc:
            reason = str(exc) if isinstance(exc, Failure) else f"{type(exc).__name__}: {exc}"
            failed = len(clients)
            for client in clients:
                print(f"FAIL {client}: federation did not start: {one_line(reason)}", flush=True)
            return 1
        try:
            if args.serve:
                _describe(fed)
                signal.pause()
            for client in clients:
                ok, what = _run_client(client, fed, workdir / "clients" / client)
                failed += not ok
                print(f"{'PASS' if ok else 'FAIL'} {client}: {one_line(what, 1000)}", flush=True)
        finally:
            fed.stop()
    except KeyboardInterrupt:
        failed = -1  # keep the work files
        print("interop: interrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        if failed or args.keep or args.workdir:
            print(f"interop: work files (logs, reports, downloads) kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
