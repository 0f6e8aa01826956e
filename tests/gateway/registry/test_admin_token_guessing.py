"""Guessing the admin token, played as the attacker would, over HTTP: each wrong admin token a client presents
(an API bearer token, or the portal's sign-in form) is counted against its address; past
``registry.admin_token_failures`` in the clock hour every admin attempt from that address — the right token
included, else a hit would still tell itself apart — is refused with 429 and ``Retry-After``, on every replica
sharing the cache. Other clients and the routes that need no admin are not affected."""

from __future__ import annotations

import pytest
from registry_kit import ADMIN, ADMIN_TOKEN, BOTH_BACKENDS


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def limited(base_settings: dict, failures: int) -> dict:
    return {**base_settings, "registry": {**base_settings["registry"], "admin_token_failures": failures}}


@pytest.mark.parametrize("backend", BOTH_BACKENDS, indirect=True)
async def test_wrong_admin_tokens_past_the_limit_lock_the_address_out(gateway_at, base_settings, backend):
    settings = limited(base_settings, 3)
    async with gateway_at(**settings) as gw, gateway_at(**settings) as replica:
        assert (await gw.client.get("/registry/v1/admins", headers=ADMIN)).status_code == 200
        shared = "redis" in str(backend.get("cache", {}).get("url", ""))  # else each replica counts its own
        for client in (gw.client, replica.client, gw.client) if shared else (gw.client,) * 3:
            r = await client.get("/registry/v1/admins", headers=bearer("guess"))
            assert r.status_code == 401 and r.json()["error"] == "invalid admin token"
        for client in (gw.client, replica.client) if shared else (gw.client,):
            for headers in (bearer("guess"), ADMIN):  # the right token too: a hit must not stand out
                r = await client.get("/registry/v1/admins", headers=headers)
                assert r.status_code == 429, r.text
                assert r.json()["error"].startswith("too many wrong admin tokens from this address")
                assert 1 <= int(r.headers["Retry-After"]) <= 3601
                assert ADMIN_TOKEN not in r.text
        # routes that need no admin token still answer
        assert (await gw.client.get("/registry/v1/commons")).status_code == 200


async def test_the_right_token_never_counts(gateway_at, base_settings):
    async with gateway_at(**limited(base_settings, 2)) as gw:
        for _ in range(5):
            assert (await gw.client.get("/registry/v1/admins", headers=ADMIN)).status_code == 200
        assert (await gw.client.get("/registry/v1/admins", headers=bearer("guess"))).status_code == 401
        assert (await gw.client.get("/registry/v1/admins", headers=ADMIN)).status_code == 200


async def test_the_portal_sign_in_counts_as_the_api_does(gateway_at, base_settings):
    async with gateway_at(**limited(base_settings, 2)) as gw:
        page = await gw.client.get("/federation")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = {"csrf_token": token, "token": "guess"}
        assert (await gw.client.post("/federation/sign-in", data=form)).status_code == 401
        assert (await gw.client.get("/registry/v1/admins", headers=bearer("guess"))).status_code == 401
        r = await gw.client.post("/federation/sign-in", data={**form, "token": ADMIN_TOKEN})
        assert r.status_code == 429 and "Too many wrong admin tokens" in r.text and ADMIN_TOKEN not in r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 3601
        assert "gw_admin" not in r.headers.get("Set-Cookie", "")
        assert (await gw.client.get("/registry/v1/admins", headers=ADMIN)).status_code == 429
