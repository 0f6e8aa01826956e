"""``gateway passport inspect`` end to end: the development broker's JWKS and discovery served by aiohttp on a free
127.0.0.1 port, the gateway's settings from a config file and ``GATEWAY_*`` variables, the real engine fetching
keys, and the report and exit codes of the command (in-process, and once as a subprocess)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from gateway.cli.main import main
from gateway.passports.tools.devbroker import DevBroker, KeyRing, RasPermission, jwks_app, set_issuer

ROOT = Path(__file__).resolve().parents[4]
DAC = "https://dac.example.org"
EVIL = "https://evil.example"
RAS_TYPE = "https://ras.nih.gov/visas/v1.1"
RAS_SOURCE = "https://ncbi.nlm.nih.gov/gap"


def dataset(n: int, consent: str = "c1") -> str:
    return f"{DAC}/datasets/phs{n:06d}.{consent}"


class JwksServer:
    """``jwks_app`` on its own event loop in a thread, so the command under test can run ``asyncio.run``."""

    def __init__(self, ring: KeyRing) -> None:
        self.app = jwks_app(ring)
        self.hits: list[str] = []
        self.app.middlewares.append(self._count)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        self.issuer = ""

    @web.middleware
    async def _count(self, request: web.Request, handler):
        self.hits.append(request.path)
        return await handler(request)

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def start(self) -> str:
        self.thread.start()
        self._run(self.runner.setup())
        self._run(web.TCPSite(self.runner, "127.0.0.1", 0).start())
        self.issuer = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        set_issuer(self.app, self.issuer)
        return self.issuer

    def stop(self) -> None:
        self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return KeyRing.open(tmp_path_factory.mktemp("inspect") / "keys")


@pytest.fixture(scope="module")
def server(ring: KeyRing) -> Iterator[JwksServer]:
    srv = JwksServer(ring)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def issuer(server: JwksServer) -> str:
    return server.issuer


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def passports_section(issuer: str, *, loopback: bool = True, **extra) -> dict:
    section = {
        "enabled": True,
        "trusted_brokers": [{"issuer": issuer, "discovery": True}],
        "trusted_visa_issuers": [{
            "issuer": issuer, "discovery": True, "jku": [issuer + "/.well-known/jwks.json"],
            "sources": {"ControlledAccessGrants": [DAC], RAS_TYPE: [RAS_SOURCE]},
        }],
        "grants": {
            "issuers": [{"issuer": issuer, "source": DAC, "authority": "dbgap",
                         "templates": [{"template": DAC + "/datasets/{dataset}.{consent}"}]}],
            "ras": {"issuers": [issuer]},
        },
        "keys": {"connect_timeout": 2.0, "read_timeout": 2.0},
        **extra,
    }
    if loopback:
        section["allow_insecure_loopback"] = True
    return section


def write_config(path: Path, passports: dict) -> Path:
    path.write_text(yaml.safe_dump({"passports": passports}), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, issuer: str) -> Path:
    return write_config(tmp_path / "gateway.yaml", passports_section(issuer))


def mixed_passport(ring: KeyRing, issuer: str, ttl: int = 3600) -> tuple[str, int]:
    """A Passport with, in this order: a template-mapped c1 grant, a Visa from an untrusted issuer, an expired
    Visa, a RAS v1.1 Visa. Returns it and its ``exp``."""
    broker = DevBroker(ring, issuer)
    earlier = DevBroker(ring, issuer, clock=lambda: time.time() - 7200)
    visas = [
        broker.controlled_access_grant(sub="alice", value=dataset(1), source=DAC),
        broker.controlled_access_grant(sub="alice", value=dataset(2), source=DAC, iss=EVIL),
        earlier.controlled_access_grant(sub="alice", value=dataset(3), source=DAC),
        broker.ras_visa(sub="alice", permissions=[RasPermission.parse("phs000123.c1")]),
    ]
    token = broker.passport(sub="alice", visas=visas, ttl=ttl)
    return token, int(json.loads(_payload(token))["exp"])


def _payload(token: str) -> bytes:
    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["passport", "inspect", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_no_token_parts(text: str, token: str) -> None:
    for part in token.split("."):
        assert part not in text


# --- valid --------------------------------------------------------------------------------------------------------


def test_text_report_explains_every_visa(ring: KeyRing, issuer: str, config: Path, server: JwksServer,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token, _exp = mixed_passport(ring, issuer)
    (tmp_path / "p.jwt").write_text(token + "\n")
    server.hits.clear()
    code, out, err = run(["--config", str(config), f"@{tmp_path / 'p.jwt'}"], capsys)

    assert code == 0, out + err
    assert out.startswith("Result:       VALID (1 passport, 2 grants)\n")
    assert "Passport #0: valid\n" in out and f"  issuer:   {issuer}\n" in out and "  subject:  alice\n" in out
    assert "visas:    4 distinct (2 accepted, 2 ignored)" in out
    assert "[0] accepted: ControlledAccessGrants" in out
    assert "[1] ignored: rule 13: visa issuer is not trusted" in out
    assert f"unverified: type ControlledAccessGrants, iss {EVIL}" in out
    assert "[2] ignored: rule 20: token has expired" in out and "(1h ago)" in out
    assert f"[3] accepted: {RAS_TYPE}" in out
    assert "dbgap/phs000001/c1  until" in out and "dbgap/phs000123/c1  until" in out
    assert f"source {DAC}" in out and f"source {RAS_SOURCE}" in out
    assert_no_token_parts(out + err, token)
    assert err == ""
    assert EVIL not in " ".join(server.hits) and all(h.startswith("/.well-known/") for h in server.hits)


def test_json_report(ring: KeyRing, issuer: str, config: Path, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    token, exp = mixed_passport(ring, issuer)
    monkeypatch.setattr(sys, "stdin", io.StringIO(token))
    now = exp - 3000
    code, out, _ = run(["--config", str(config), "--json", "--now", str(now), "-"], capsys)

    assert code == 0
    report = json.loads(out)
    assert set(report) == {"version", "now", "valid", "rejection", "passports", "grants", "valid_until"}
    assert report["valid"] is True and report["rejection"] is None and report["now"]["epoch"] == now
    (p,) = report["passports"]
    assert (p["status"], p["verified"], p["iss"], p["sub"]) == ("valid", True, issuer, "alice")
    assert p["exp"] == {"epoch": exp, "iso": p["exp"]["iso"], "relative": "in 50m"}
    visas = p["visas"]
    assert [(v["index"], v["status"], v.get("rule")) for v in visas] == [
        (0, "accepted", None), (1, "ignored", 13), (2, "ignored", 20), (3, "accepted", None)]
    assert (visas[0]["type"], visas[0]["iss"], visas[0]["value"]) == ("ControlledAccessGrants", issuer, dataset(1))
    assert visas[0]["jti"] and visas[0]["exp"]["epoch"] == exp
    assert visas[1]["unverified"]["iss"] == EVIL and "iss" not in visas[1]
    assert visas[2]["unverified"]["exp"]["relative"].endswith("ago")
    assert {g["resource"]: (g["issuer"], g["source"]) for g in report["grants"]} == {
        "dbgap/phs000001/c1": (issuer, DAC), "dbgap/phs000123/c1": (issuer, RAS_SOURCE)}
    # the Visas' and the Passport's ends count until exp + leeway (rule 20), in the report as in the decision
    leeway = 30  # passports.leeway's default
    assert all(g["expires"]["epoch"] == exp + leeway for g in report["grants"])
    assert report["valid_until"]["epoch"] == exp + leeway
    assert_no_token_parts(out, token)


def test_config_from_gateway_config_and_env(ring: KeyRing, issuer: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Loaded as ``gateway serve`` loads it: $GATEWAY_CONFIG, overlaid by GATEWAY_* variables."""
    path = write_config(tmp_path / "no-loopback.yaml", passports_section(issuer, loopback=False))
    token = DevBroker(ring, issuer).passport(sub="alice")
    monkeypatch.setenv("GATEWAY_CONFIG", str(path))
    code, _, err = run([token], capsys)
    assert code == 2 and "allow_insecure_loopback" in err  # http key URLs refused without the flag
    monkeypatch.setenv("GATEWAY_PASSPORTS__ALLOW_INSECURE_LOOPBACK", "true")
    code, out, _ = run([token], capsys)
    assert code == 0 and "VALID (1 passport, 0 grants)" in out


# --- rejected -----------------------------------------------------------------------------------------------------


def test_now_after_expiry_is_rejected(ring: KeyRing, issuer: str, config: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    token, exp = mixed_passport(ring, issuer)
    (tmp_path / "p.jwt").write_text(token)
    code, out, _ = run(["--config", str(config), "--now", str(exp + 120), f"@{tmp_path / 'p.jwt'}"], capsys)
    assert code == 1
    assert "Result:       REJECTED (HTTP 401): rule 20: token has expired" in out
    assert "(claims below are unverified)" in out and "expires:  " in out and "(2m ago)" in out
    assert out.count("not evaluated") == 5  # the summary and four visas

    code, out, _ = run(["--config", str(config), "--json", "--now", str(exp + 120), f"@{tmp_path / 'p.jwt'}"],
                       capsys)
    report = json.loads(out)
    assert code == 1 and report["valid"] is False and report["grants"] == [] and report["valid_until"] is None
    assert report["rejection"] == {"status": 401, "rule": 20, "reason": "token has expired"}
    assert report["passports"][0]["verified"] is False
    assert {v["status"] for v in report["passports"][0]["visas"]} == {"not evaluated"}


def test_several_passports_are_one_request(ring: KeyRing, issuer: str, config: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    good, _ = mixed_passport(ring, issuer)
    untrusted = DevBroker(ring, EVIL).passport(sub="alice")
    (tmp_path / "body.json").write_text(json.dumps({"passports": [good, untrusted]}))
    code, out, _ = run(["--config", str(config), "--json", f"@{tmp_path / 'body.json'}"], capsys)

    assert code == 1
    report = json.loads(out)
    assert report["rejection"]["rule"] == 13 and report["grants"] == []
    first, second = report["passports"]
    assert (first["status"], first["evaluated_alone"], len(first["visas"])) == ("valid", True, 4)
    assert (second["status"], second["iss"], second["rejection"]["rule"]) == ("rejected", EVIL, 13)

    second_broker = DevBroker(ring, issuer).passport(sub="alice", visas=[
        DevBroker(ring, issuer).controlled_access_grant(sub="alice", value=dataset(7), source=DAC)])
    code, out, _ = run(["--config", str(config), good, second_broker], capsys)
    assert code == 0 and "VALID (2 passports, 3 grants)" in out and "dbgap/phs000007/c1" in out


def test_keys_unavailable_exits_3(ring: KeyRing, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a free port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    path = write_config(tmp_path / "dead.yaml", passports_section(dead))
    code, out, _ = run(["--config", str(path), DevBroker(ring, dead).passport(sub="alice")], capsys)
    assert code == 3 and "REJECTED (HTTP 503, keys unavailable): rule 16" in out


# --- usage and configuration errors -------------------------------------------------------------------------------


def test_disabled_passports_exit_2_with_a_hint(ring: KeyRing, issuer: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    token = DevBroker(ring, issuer).passport(sub="alice")
    path = write_config(tmp_path / "off.yaml", {"enabled": False})
    code, out, err = run(["--config", str(path), token], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "passports.enabled: true" in err and "trusted_brokers" in err
    code, _, err = run([token], capsys)  # no config at all: the defaults leave passports off
    assert code == 2 and "disabled" in err


def test_usage_errors_exit_2(issuer: str, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--config", str(config), f"@{tmp_path / 'absent.jwt'}"], capsys)
    assert code == 2 and "cannot read" in err and err.count("\n") == 1
    (tmp_path / "empty").write_text("  \n")
    assert run(["--config", str(config), f"@{tmp_path / 'empty'}"], capsys)[0] == 2
    (tmp_path / "bad.json").write_text("{not json")
    assert run(["--config", str(config), f"@{tmp_path / 'bad.json'}"], capsys)[0] == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("a.b.c"))
    code, _, err = run(["--config", str(config), "-", "-"], capsys)
    assert code == 2 and "only once" in err
    code, _, err = run(["--config", str(tmp_path / "absent.yaml"), "x"], capsys)
    assert code == 2 and "invalid configuration" in err
    with pytest.raises(SystemExit) as exc:
        run(["--config", str(config), "--now", "soon", "x"], capsys)
    assert exc.value.code == 2


def test_subprocess_exit_codes(ring: KeyRing, issuer: str, config: Path, tmp_path: Path) -> None:
    token, exp = mixed_passport(ring, issuer)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(ROOT)

    def inspect(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway", "passport", "inspect", *argv], input=token,
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)

    ok = inspect("--config", str(config), "-")
    assert ok.returncode == 0, ok.stderr
    assert "VALID" in ok.stdout
    assert inspect("--config", str(config), "--now", str(exp + 3600), "-").returncode == 1
    assert inspect("-").returncode == 2  # no configuration: passports are off
