"""Helpers shared by the harness (``run.py``, project venv) and the client drivers (each client's own venv):
standard library only, so any of the venvs can import it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INTEROP_DIR = Path(os.environ.get("GATEWAY_INTEROP_DIR") or REPO / ".venv-interop")


class Failure(Exception):
    """A client check failed; the message is the one-line reason printed after ``FAIL <client>:``."""


def check(condition: object, reason: str) -> None:
    if not condition:
        raise Failure(reason)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def one_line(text: str, limit: int = 400) -> str:
    """``text`` squeezed onto one line (reasons must not break the one-line-per-client output)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def get_json(url: str, token: str | None = None, timeout: float = 10) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        return json.loads(r.read())


def post_json(url: str, body: Any, timeout: float = 10) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def client_python(client: str) -> Path:
    return INTEROP_DIR / client / "bin" / "python"


def client_bin(client: str, script: str) -> Path:
    return INTEROP_DIR / client / "bin" / script


def run_logged(cmd: list[str], *, env: dict[str, str], log: Path, timeout: float = 300,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a client command, keep its whole stdout/stderr in ``log`` (for diagnosis) and return the result."""
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    with open(log, "a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n--- exit {done.returncode}; stdout:\n{done.stdout}\n--- stderr:\n{done.stderr}\n")
    return done


def run_driver(client: str, module: Path, payload: dict, *, env: dict[str, str], log: Path,
               timeout: float = 300) -> dict:
    """Run ``module`` as a script with ``client``'s venv python, ``payload`` as JSON on argv; the driver prints
    one JSON object as its last stdout line: ``{"ok": true, ...}`` or ``{"ok": false, "reason": ...}``."""
    done = run_logged([str(client_python(client)), str(module), json.dumps(payload)], env=env, log=log,
                      timeout=timeout)
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Failure(f"driver crashed (exit {done.returncode}): {tail} (log: {log})")
    if not result.get("ok"):
        raise Failure(f"{result.get('reason', 'failed')} (log: {log})")
    return result


def driver_main(drive: Any) -> None:
    """Entry point of a driver script: ``drive(payload) -> dict`` (raises ``Failure`` or anything else)."""
    payload = json.loads(sys.argv[1])
    try:
        result = {"ok": True, **(drive(payload) or {})}
    except Failure as exc:
        result = {"ok": False, "reason": one_line(str(exc))}
    except Exception as exc:  # a client raising is a failure with its exception named
        import traceback

        traceback.print_exc()
        result = {"ok": False, "reason": one_line(f"{type(exc).__name__}: {exc}")}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
