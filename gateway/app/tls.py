"""HTTPS for the gateway: the server's ``ssl.SSLContext`` and a self-signed certificate for local use.

``gateway serve --tls-cert F --tls-key F`` (or ``tls.cert``/``tls.key``) serves HTTPS on ``tls.port`` next to
plain HTTP; clients that hard-code ``https://`` (``gen3 drs-pull``, ``ga4gh-drs-client``) need it.
``gateway tls self-signed --out DIR`` writes ``cert.pem`` and ``key.pem`` valid for ``127.0.0.1`` and
``localhost``; point clients at the certificate (``REQUESTS_CA_BUNDLE=DIR/cert.pem``, ``httpx`` ``verify=``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"


class TlsError(Exception):
    """The certificate or key cannot be used; the message is one line saying which file and why."""


def _check_readable(kind: str, path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except FileNotFoundError:
        raise TlsError(f"TLS {kind} {path} does not exist") from None
    except IsADirectoryError:
        raise TlsError(f"TLS {kind} {path} is a directory, not a PEM file") from None
    except OSError as exc:
        raise TlsError(f"cannot read TLS {kind} {path}: {exc.strerror or exc}") from None


def server_context(cert: Path | str, key: Path | str) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2+) for the PEM certificate chain ``cert`` and its private key ``key``.

    Raises :class:`TlsError` when either file is missing, unreadable, not PEM, or the two do not match."""
    cert, key = Path(cert), Path(key)
    _check_readable("certificate", cert)
    _check_readable("key", key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except ssl.SSLError as exc:
        reason = exc.reason or exc.strerror or str(exc)
        raise TlsError(f"cannot use TLS certificate {cert} with key {key}: {reason}") from None
    except OSError as exc:  # e.g. an encrypted key (a password prompt is not possible here)
        raise TlsError(f"cannot use TLS certificate {cert} with key {key}: {exc.strerror or exc}") from None
    return context


def self_signed(
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    *,
    days: int = 365,
) -> tuple[bytes, bytes]:
    """A self-signed certificate and its EC P-256 key, as PEM ``(cert, key)``, valid for ``hostnames``
    (DNS SANs) and ``ips`` (IP SANs). It is its own CA (``basicConstraints CA:TRUE``), so clients can trust
    it directly (``REQUESTS_CA_BUNDLE``, ``verify=``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0] if hostnames else ips[0]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gateway self-signed"),
    ])
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        # Python 3.13+ verifies with VERIFY_X509_STRICT, which wants both key identifiers
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(
    out_dir: Path | str,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    *,
    days: int = 365,
) -> tuple[Path, Path]:
    """Write ``out_dir/cert.pem`` and ``out_dir/key.pem`` (the key mode 0600); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = self_signed(hostnames, ips, days=days)
    cert_path, key_path = out / CERT_FILE, out / KEY_FILE
    cert_path.write_bytes(cert_pem)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    os.chmod(key_path, 0o600)  # an existing file keeps its mode through O_CREAT
    return cert_path, key_path


__all__ = ["CERT_FILE", "KEY_FILE", "TlsError", "self_signed", "server_context", "write_self_signed"]
