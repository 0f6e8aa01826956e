"""A live federation on 127.0.0.1 for the interop harness, started with the real CLI in subprocesses:

* two standalone reference commons (``gateway refcommons serve``), ``dg.TST1`` (seed 7) in Gen3's reverse-proxy
  layout under one host and ``dg.TST2`` (seed 11) with every service on its own port (``--layout split``, declared
  to the gateways with its endpoints: docs/members.md), each with an admin API key (``gateway refcommons api-key
  create``) exchanged for an access token at its fence;
* two gateways (``gateway serve`` with ``--tls-cert``/``--tls-key``: HTTP and HTTPS), DRS profile ``1.5`` and
  ``1.2`` (the compliance suite's strict 1.2.0 schemas), federating both commons as members declared in
  ``GATEWAY_REGISTRY__MEMBERS`` with ``auth: passthrough``; their in-process commons disabled, SQLite in the
  work dir, in-process cache;
* a self-signed certificate (``gateway tls self-signed``) that clients trust via ``REQUESTS_CA_BUNDLE``.

Every process is stopped on exit (SIGINT, then SIGKILL after a grace period), also on Ctrl-C or SIGTERM of the
harness; on Linux they also get SIGTERM if the harness dies without cleaning up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import Failure, post_json

ADMIN = "admin@refcommons.example"
COMMONS = (("a", "dg.TST1", 7, "gen3"), ("b", "dg.TST2", 11, "split"))
SPLIT_SERVERS = ("indexd", "fence", "guppy", "mds", "arborist", "sheepdog")
"""The servers of a ``--layout split`` commons (refcommons.layout), each on a port of its own."""
PROFILES = ("1.5", "1.2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class Commons:
    name: str
    prefix: str
    seed: int
    port: int
    data_dir: Path
    layout: str = "gen3"
    ports: dict[str, int] = field(default_factory=dict)
    """``split``: each server's port (``indexd``'s is :attr:`port`)."""
    creds: Path = Path()
    token: str = ""
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def member_id(self) -> str:
        return f"commons-{self.name}"

    def _at(self, server: str) -> str:
        return f"http://127.0.0.1:{self.ports[server]}"

    @property
    def indexd(self) -> str:
        """Where indexd's own routes are (``/_status``, ``/index?limit=``, ``/index/{guid}``)."""
        return self.base + "/index" if self.layout == "gen3" else self._at("indexd")

    @property
    def fence(self) -> str:
        return self.base + "/user" if self.layout == "gen3" else self._at("fence")

    def endpoints(self) -> dict[str, str]:
        """What the member declares to the gateways: nothing under one host; each service's URL when split."""
        if self.layout == "gen3":
            return {}
        return {"indexd": self._at("indexd"), "drs": self._at("indexd"), "fence": self._at("fence"),
                "guppy": self._at("guppy"), "mds": self._at("mds"), "authz": self._at("arborist") + "/auth",
                "dictionary": self._at("sheepdog")}

    def serve_args(self) -> list[str]:
        if self.layout == "gen3":
            return ["--port", str(self.port)]
        return ["--layout", "split", "--port", str(self.port),
                *(f"--service-port={server}={port}" for server, port in self.ports.items())]

    def _ids(self, controlled: bool) -> list[str]:
        return [d for d, r in self.records.items() if r["authz"][0].startswith("/programs/phs") == controlled]

    @property
    def open_ids(self) -> list[str]:
        return self._ids(False)

    @property
    def controlled_ids(self) -> list[str]:
        """One object per controlled study (program) first, then the rest."""
        ids = self._ids(True)
        firsts = list({self.records[d]["authz"][0]: d for d in reversed(ids)}.values())[::-1]
        return firsts + [d for d in ids if d not in firsts]


@dataclass
class Gateway:
    profile: str
    port: int
    tls_port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def tls_host(self) -> str:
        return f"127.0.0.1:{self.tls_port}"


class Federation:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.cert = workdir / "tls" / "cert.pem"
        self.key = workdir / "tls" / "key.pem"
        self.commons: dict[str, Commons] = {}
        self.gateways: dict[str, Gateway] = {}
        self._procs: list[tuple[str, subprocess.Popen, Path]] = []

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> Federation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._cli("tls", "self-signed", "--out", str(self.cert.parent))
        for name, prefix, seed, layout in COMMONS:
            port = free_port()
            ports = {server: port if server == "indexd" else free_port() for server in SPLIT_SERVERS} \
                if layout == "split" else {}
            c = Commons(name, prefix, seed, port, self.workdir / f"commons-{name}", layout, ports)
            self.commons[name] = c
            self._spawn(f"commons-{name}", [
                "refcommons", "serve", "--host", "127.0.0.1", *c.serve_args(), "--prefix", prefix,
                "--seed", str(seed), "--subjects", "30", "--data-dir", str(c.data_dir),
            ], self._env())
        for c in self.commons.values():
            self._wait(f"commons-{c.name}", c.indexd + "/_status")
            c.creds = self.workdir / f"creds-{c.name}.json"
            self._cli("refcommons", "api-key", "create", "--data-dir", str(c.data_dir), "--user", ADMIN,
                      "--out", str(c.creds))
            c.token = post_json(c.fence + "/credentials/api/access_token", json.loads(c.creds.read_text()))[
                "access_token"]
            records = _get(c.indexd + "/index?limit=1024")["records"]
            c.records = {r["did"]: r for r in records}
            if not (c.open_ids and len(c.controlled_ids) >= 2):
                raise Failure(f"commons {c.prefix} has no open or controlled objects")
        members = [
            {"id": c.member_id, "name": f"Commons {c.prefix}", "base_url": c.base, "kind": "gen3",
             "prefixes": [c.prefix], "auth": {"type": "passthrough"},
             **({"endpoints": c.endpoints()} if c.endpoints() else {})}
            for c in self.commons.values()
        ]
        for profile in PROFILES:
            g = Gateway(profile, free_port(), free_port())
            self.gateways[profile] = g
            tag = profile.replace(".", "")
            env = self._env(
                GATEWAY_REFCOMMONS__ENABLED="false",
                GATEWAY_REGISTRY__MEMBERS=json.dumps(members),
                GATEWAY_STORE__URL=f"sqlite:///{self.workdir / f'gateway-{tag}.sqlite3'}",
                GATEWAY_CACHE__URL="memory://",
                GATEWAY_DRS_PROFILE=profile,
            )
            self._spawn(f"gateway-{tag}", [
                "serve", "--host", "127.0.0.1", "--port", str(g.port),
                "--tls-cert", str(self.cert), "--tls-key", str(self.key), "--tls-port", str(g.tls_port),
            ], env)
        for g in self.gateways.values():
            tag = g.profile.replace(".", "")
            self._wait(f"gateway-{tag}", g.http + "/_status")
            self._wait(f"gateway-{tag}", g.https + "/_status")

    def stop(self) -> None:
        """Stop every process started (reverse order): SIGINT, SIGKILL after 15 s. Idempotent."""
        while self._procs:
            name, proc, log = self._procs.pop()
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    print(f"interop: {name} did not stop on SIGINT; killed (log: {log})", file=sys.stderr)
                    continue
            if proc.returncode not in (0, -signal.SIGINT):
                print(f"interop: {name} exited {proc.returncode} (log: {log})", file=sys.stderr)

    # -- helpers -----------------------------------------------------------------------------------------

    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env["NO_PROXY"] = env["no_proxy"] = ",".join(x for x in (env.get("NO_PROXY"), "127.0.0.1", "localhost") if x)
        env.update(extra)
        return env

    def _cli(self, *args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True,
                              timeout=120, env=self._env(), cwd=self.workdir, check=False)
        if done.returncode != 0:
            raise Failure(f"gateway {' '.join(args[:3])} failed: {done.stderr.strip()[-300:]}")

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self.logs / f"{name}.log"
        with open(log, "w") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", *args], stdout=fh, stderr=subprocess.STDOUT, env=env,
                cwd=self.workdir, start_new_session=True, preexec_fn=_die_with_parent,
            )
        self._procs.append((name, proc, log))

    def _wait(self, name: str, url: str, timeout: float = 60) -> None:
        proc, log = next((p, lg) for n, p, lg in self._procs if n == name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                _get(url, cafile=self.cert, timeout=2, parse=False)
                return
            except OSError as exc:
                if proc.poll() is not None:
                    tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
                    raise Failure(f"{name} exited {proc.returncode} before answering {url}: {tail[0]} (log: {log})") \
                        from None
                if time.monotonic() > deadline:
                    raise Failure(f"{name} did not answer {url} within {timeout:.0f} s: {exc} (log: {log})") from None
                time.sleep(0.2)

    # -- what clients need -------------------------------------------------------------------------------

    def client_env(self, home: Path, **extra: str) -> dict[str, str]:
        """Environment for a client process: a fresh ``HOME`` (gen3 caches tokens there), the self-signed
        certificate trusted by requests (``REQUESTS_CA_BUNDLE``) and httpx/OpenSSL (``SSL_CERT_FILE``),
        no proxy for loopback, nothing of the harness' Python environment."""
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in self._env().items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.update(HOME=str(home), REQUESTS_CA_BUNDLE=str(self.cert), SSL_CERT_FILE=str(self.cert),
                   CURL_CA_BUNDLE=str(self.cert), GEN3SDK_MAX_RETRIES="1", PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def expected(self, did: str) -> dict[str, Any]:
        """What a client must see for ``did``: from the member's own index record."""
        for c in self.commons.values():
            if did in c.records:
                r = c.records[did]
                return {"did": did, "size": r["size"], "file_name": r["file_name"], "md5": r["hashes"]["md5"],
                        "member": c.name, "controlled": r["authz"][0].startswith("/programs/phs")}
        raise KeyError(did)


def _get(url: str, *, cafile: Path | None = None, timeout: float = 10, parse: bool = True) -> Any:
    context = ssl.create_default_context(cafile=str(cafile)) if url.startswith("https:") and cafile else None
    with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
        body = r.read()
    return json.loads(body) if parse else body
