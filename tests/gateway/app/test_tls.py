"""HTTPS next to HTTP: ``gateway serve --tls-cert F --tls-key F [--tls-port P]`` (or ``tls.*`` settings), the
self-signed certificate of ``gateway tls self-signed``, and one-line errors for unusable certificates."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from gateway.app.tls import TlsError, self_signed, server_context, write_self_signed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_REFCOMMONS__ENABLED="false", **extra)
    return env


def _trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture
def certs(tmp_path) -> tuple[Path, Path]:
    return write_self_signed(tmp_path / "tls")


# ------------------------------------------------------------------------------------ the module


def test_self_signed_certificate_names_loopback_and_localhost(certs):
    cert_path, key_path = certs
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca  # trusted as its own CA
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    assert server_context(cert_path, key_path).minimum_version >= ssl.TLSVersion.TLSv1_2


def test_server_context_refuses_unusable_files_in_one_line(tmp_path, certs):
    cert, key = certs
    other_cert, other_key = (tmp_path / "other-cert.pem", tmp_path / "other-key.pem")
    pem_cert, pem_key = self_signed()
    other_cert.write_bytes(pem_cert)
    other_key.write_bytes(pem_key)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        (tmp_path / "missing.pem", key, "does not exist"),
        (cert, tmp_path / "missing-key.pem", "does not exist"),
        (tmp_path, key, "is a directory"),
        (garbage, key, "cannot use TLS certificate"),
        (cert, other_key, "cannot use TLS certificate"),  # a key that is not the certificate's
    ]
    for c, k, message in cases:
        with pytest.raises(TlsError, match=message) as exc:
            server_context(c, k)
        assert "\n" not in str(exc.value)


# ---------------------------------------------------------------------------- gateway serve (CLI)


def _wait_up(url: str, proc: subprocess.Popen, verify: ssl.SSLContext | bool = True) -> httpx.Response:
    deadline = time.time() + 30
    while True:
        try:
            return httpx.get(url, verify=verify, timeout=2)
        except httpx.TransportError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise AssertionError(f"gateway did not come up at {url}: {proc.communicate()[1]}") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen, signum: int) -> str:
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("gateway did not stop") from None
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    return stderr


@pytest.mark.parametrize("how", ["flags", "environment"])
def test_serve_https_next_to_http_then_stop(tmp_path, certs, how):
    cert, key = certs
    port, tls_port = _free_port(), _free_port()
    args = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    if how == "flags":
        env = _env()
        args += ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-port", str(tls_port)]
    else:
        env = _env(GATEWAY_TLS__CERT=str(cert), GATEWAY_TLS__KEY=str(key), GATEWAY_TLS__PORT=str(tls_port))
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        r = _wait_up(f"https://127.0.0.1:{tls_port}/_status", proc, verify=_trusting(cert))
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert httpx.get(f"https://localhost:{tls_port}/_status", verify=_trusting(cert)).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/_status").status_code == 200  # plain HTTP still served
        with pytest.raises(httpx.ConnectError):  # real TLS: the system's CAs do not trust a self-signed cert
            httpx.get(f"https://127.0.0.1:{tls_port}/_status", verify=True)
        with pytest.raises(httpx.TransportError):  # and no plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{tls_port}/_status")
    finally:
        stderr = _stop(proc, signal.SIGTERM if how == "flags" else signal.SIGINT)
    assert f"gateway listening on http://127.0.0.1:{port} and https://127.0.0.1:{tls_port}" in stderr


def test_serve_without_tls_serves_http_only(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], cwd=tmp_path,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_up(f"http://127.0.0.1:{port}/_status", proc).status_code == 200
    finally:
        stderr = _stop(proc, signal.SIGINT)
    assert f"gateway listening on http://127.0.0.1:{port} (Ctrl-C" in stderr and "https" not in stderr


def test_unusable_certificate_is_one_clear_line(tmp_path, certs):
    cert, key = certs
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    cases = [
        (["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key)], "does not exist"),
        (["--tls-cert", str(cert), "--tls-key", str(tmp_path / "nope.pem")], "does not exist"),
        (["--tls-cert", str(garbage), "--tls-key", str(key)], "cannot use TLS certificate"),
        (["--tls-cert", str(cert)], "needs both a certificate and a key"),
    ]
    for args, message in cases:
        done = subprocess.run([sys.executable, "-m", "gateway", "serve", "--port", str(_free_port()), *args],
                              cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("gateway: ") and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "var").exists()  # refused before anything was opened


def test_a_busy_tls_port_is_one_clear_line(tmp_path, certs):
    cert, key = certs
    port = _free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        tls_port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--tls-cert", str(cert),
             "--tls-key", str(key), "--tls-port", str(tls_port)],
            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 1, done.stderr
    assert f"gateway: cannot listen on 127.0.0.1:{tls_port}" in done.stderr and "Traceback" not in done.stderr
    with socket.socket() as again:  # the HTTP listener opened first was closed again
        again.bind(("127.0.0.1", port))


def test_tls_self_signed_cli(tmp_path):
    out = tmp_path / "certs"
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "tls", "self-signed", "--out", str(out), "--hostname", "gw.example",
         "--hostname", "localhost", "--ip", "127.0.0.1", "--ip", "::1", "--days", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    cert = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["gw.example", "localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 2
    server_context(out / "cert.pem", out / "key.pem")
