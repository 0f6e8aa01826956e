"""HMAC-signed download URLs: form, tamper and expiry refusal, TTL capping, a secret shared through the store."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.store import open_store
from refcommons.fence.signing import SignatureError, UrlSigner, expiry_for, load_signer

GUID = "dg.TST1/0b6a4b0e-6f1c-4c55-a0f4-3e3d0a3b6c11"
BASE = "http://127.0.0.1:8701"


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def check(signer: UrlSigner, url: str, *, guid: str = GUID, now: int | None = None, **override: str | None) -> int:
    p = {**params(url), **override}
    return signer.verify(guid, p.get("protocol"), p.get("expires"), p.get("user"), p.get("sig"), now=now)


def test_url_form_and_round_trip():
    signer = UrlSigner(b"k" * 32)
    expires = int(time.time()) + 600
    url = signer.sign(BASE, GUID, "s3", expires, "researcher@refcommons.example")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    assert parts.path == f"/storage/{GUID}"  # the prefix's slash stays raw
    p = params(url)
    assert p["protocol"] == "s3" and p["expires"] == str(expires) and p["user"] == "researcher@refcommons.example"
    assert len(p["sig"]) == 64 and int(p["sig"], 16) >= 0
    assert check(signer, url) == expires


def test_anonymous_urls_carry_no_user_and_still_verify():
    signer = UrlSigner(b"k" * 32)
    url = signer.sign(BASE, GUID, "gs", int(time.time()) + 60, None)
    assert "user" not in params(url)
    assert check(signer, url) > time.time()
    with pytest.raises(SignatureError, match="bad signature"):
        check(signer, url, user="admin@refcommons.example")  # claiming a user changes the signed message


@pytest.mark.parametrize(
    "change",
    [
        {"guid": "dg.TST1/00000000-0000-0000-0000-000000000000"},
        {"protocol": "gs"},
        {"user": "admin@refcommons.example"},
        {"expires": "9999999999"},
        {"sig": "0" * 64},
    ],
)
def test_any_tampering_is_refused(change):
    signer = UrlSigner(b"k" * 32)
    url = signer.sign(BASE, GUID, "s3", int(time.time()) + 600, "u@x")
    with pytest.raises(SignatureError, match="bad signature"):
        check(signer, url, **change)


def test_a_flipped_signature_character_is_refused():
    signer = UrlSigner(b"k" * 32)
    url = signer.sign(BASE, GUID, "s3", int(time.time()) + 600, "u@x")
    sig = params(url)["sig"]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    with pytest.raises(SignatureError):
        check(signer, url, sig=flipped)


def test_expired_and_malformed_urls_are_refused():
    signer = UrlSigner(b"k" * 32)
    now = 1_700_000_000
    url = signer.sign(BASE, GUID, "s3", now + 10, None)
    assert check(signer, url, now=now + 9) == now + 10
    with pytest.raises(SignatureError, match="expired"):
        check(signer, url, now=now + 10)
    with pytest.raises(SignatureError, match="required"):
        check(signer, url, sig=None)
    with pytest.raises(SignatureError, match="malformed"):
        check(signer, url, expires="soon")


def test_another_secret_does_not_verify():
    url = UrlSigner(b"a" * 32).sign(BASE, GUID, "s3", int(time.time()) + 60, None)
    with pytest.raises(SignatureError):
        check(UrlSigner(b"b" * 32), url)


def test_expiry_defaults_and_is_capped():
    assert expiry_for(1000, None, default_ttl=300, max_ttl=3600) == 1300
    assert expiry_for(1000, 60, default_ttl=300, max_ttl=3600) == 1060
    assert expiry_for(1000, 10 * 3600, default_ttl=300, max_ttl=3600) == 4600
    for bad in (0, -1):
        with pytest.raises(ValueError):
            expiry_for(1000, bad, default_ttl=300, max_ttl=3600)


async def test_the_secret_is_persisted_and_shared_by_processes_on_one_store(tmp_path):
    path = tmp_path / "commons.sqlite3"
    a, b = await open_store(f"sqlite:///{path}"), await open_store(f"sqlite:///{path}")
    try:
        first, second = await asyncio.gather(load_signer(a), load_signer(b))  # racing creators agree
        assert first.secret == second.secret and len(first.secret) == 32
        url = first.sign(BASE, GUID, "s3", int(time.time()) + 60, "u@x")
        assert check(second, url) > 0
    finally:
        await a.close()
        await b.close()
    reopened = await open_store(f"sqlite:///{path}")
    try:
        assert (await load_signer(reopened)).secret == first.secret
    finally:
        await reopened.close()
    other = await open_store("sqlite:///:memory:")
    try:
        assert (await load_signer(other)).secret != first.secret
    finally:
        await other.close()
