"""The one outbound client factory against real servers on 127.0.0.1, on both engines: the capped read, cookies
never kept, no redirect followed by httpx, and the egress policy enforced at connect time (IPv4-mapped IPv6
literals included), on the addresses each connection actually resolved to (DNS rebinding)."""

from __future__ import annotations

import faults
import httpx
import pytest
from faults import RebindingDns, serve

from gateway.core.egress import OPEN, EgressDenied, EgressPolicy
from gateway.core.http_client import BodyEncoded, BodyTooLarge, Engine, build_client, read_capped

ENGINES: list[Engine] = ["aiohttp", "httpcore"]
TIMEOUT = httpx.Timeout(5.0)
LOOPBACK_DENIED = EgressPolicy.denying(["127.0.0.0/8", "::1/128"])


def client(engine: Engine, egress: EgressPolicy = OPEN) -> httpx.AsyncClient:
    return build_client(egress=egress, timeout=TIMEOUT, engine=engine)


async def fetch(http: httpx.AsyncClient, url: str, limit: int, **kw: bool) -> bytes:
    async with http, http.stream("GET", url) as response:
        return await read_capped(response, limit, **kw)


# --- the capped read ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_body_within_the_cap_is_read_whole(engine):
    async with serve(faults.huge(300_000)) as server:
        body = await fetch(client(engine), server.url, 300_000)
    assert body == b" " * 300_000


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_streamed_body_stops_past_the_cap(engine):
    async with serve(faults.huge(8 * faults.MiB)) as server:
        with pytest.raises(BodyTooLarge) as err:
            await fetch(client(engine), server.url, faults.MiB)
    assert err.value.limit == faults.MiB and err.value.declared is None
    assert server.app[faults.STATE]["sent"] < 8 * faults.MiB, "the read stopped; the server could not finish"


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_declared_length_past_the_cap_is_refused_before_reading(engine):
    async with serve(faults.huge(2 * faults.MiB, declare_length=True)) as server:
        with pytest.raises(BodyTooLarge) as err:
            await fetch(client(engine), server.url, faults.MiB)
    assert err.value.declared == 2 * faults.MiB


@pytest.mark.parametrize("engine", ENGINES)
async def test_the_cap_counts_decoded_bytes(engine):
    """A small compressed body cannot expand past the cap."""
    async with serve(faults.compressed(2 * faults.MiB)) as server:
        assert len(await fetch(client(engine), server.url, 2 * faults.MiB)) == 2 * faults.MiB
        with pytest.raises(BodyTooLarge):
            await fetch(client(engine), server.url, faults.MiB)


@pytest.mark.parametrize("engine", ENGINES)
async def test_identity_only_refuses_a_compressed_body(engine):
    async with serve(faults.compressed(1000)) as server:
        with pytest.raises(BodyEncoded) as err:
            await fetch(client(engine), server.url, faults.MiB, identity_only=True)
    assert err.value.encoding == "gzip"


# --- cookies and redirects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
async def test_cookies_are_never_kept(engine):
    """A cookie one call brought back must not ride along on the next call, which may be another caller's."""
    async with serve(faults.cookie_setting()) as server, client(engine) as http:
        answers = [(await http.get(server.url + "/x")).json() for _ in range(3)]
        assert not http.cookies
    assert answers == [{"cookie": None}] * 3


@pytest.mark.parametrize("engine", ENGINES)
async def test_httpx_follows_no_redirect(engine):
    async with serve(faults.redirecting(lambda r: "/landing")) as server, client(engine) as http:
        response = await http.get(server.url + "/r/x")
    assert response.status_code == 302 and response.headers["location"] == "/landing"
    assert server.count("/landing") == 0


# --- the egress policy at connect time ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
async def test_an_allowed_address_is_reached(engine):
    async with serve(faults.flaky(0)) as server, client(engine, EgressPolicy.denying(["10.0.0.0/8"])) as http:
        assert (await http.get(server.url + "/x")).json() == {"ok": True}
    assert server.count() == 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("host", [
    "127.0.0.1",
    "localhost",  # a name: checked on the addresses it resolves to
    "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6: a dual-stack socket reaches 127.0.0.1
    "[::ffff:7f00:1]",  # the same address, spelt in hex
])
async def test_a_denied_address_is_never_connected_to(engine, host):
    async with serve(faults.flaky(0)) as server:
        port = server.url.rsplit(":", 1)[1]
        async with client(engine, LOOPBACK_DENIED) as http:
            with pytest.raises(EgressDenied) as err:
                await http.get(f"http://{host}:{port}/x")
            with pytest.raises(EgressDenied):  # and again: nothing about it was cached as allowed
                await http.get(f"http://{host}:{port}/x")
    assert server.hits == []
    assert LOOPBACK_DENIED.denies(err.value.address)


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_policy_that_denies_nothing_reaches_loopback(engine):
    async with serve(faults.flaky(0)) as server, client(engine, OPEN) as http:
        port = server.url.rsplit(":", 1)[1]
        assert (await http.get(f"http://localhost:{port}/x")).status_code == 200


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("host", [
    "[::127.0.0.1]",  # IPv4-compatible
    "[2002:7f00:1::]",  # 6to4
    "[64:ff9b::7f00:1]",  # NAT64, well-known prefix
    "[64:ff9b:1:7f00:0:100::]",  # NAT64, local-use prefix
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1
    "2130706433", "0x7f.1", "017700000001", "127.1",  # IPv4 spelt as the resolver reads numbers
    "0.0.0.0", "[::]",  # unspecified: the kernel connects them to this host
])
async def test_every_form_that_reaches_a_denied_host_is_refused_before_connecting(engine, host):
    async with serve(faults.flaky(0)) as server:
        port = server.url.rsplit(":", 1)[1]
        async with client(engine, LOOPBACK_DENIED) as http:
            with pytest.raises(EgressDenied) as err:
                await http.get(f"http://{host}:{port}/x")
    assert server.hits == []
    assert "inside a denied network" in str(err.value)


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_name_rebound_into_a_denied_network_is_refused_on_the_next_resolution(engine, monkeypatch):
    """The attacker's name first resolves to an allowed host, then to one inside the gateway's network
    (127.0.0.2 plays it, same port). Every connection is checked on the addresses it resolved to: httpcore
    resolves each new connection and refuses; aiohttp keeps the checked answer for its DNS cache's lifetime, so it
    goes on reaching the allowed host. The internal host is never reached either way."""
    inside = EgressPolicy.denying(["127.0.0.2/32"])
    async with serve(faults.flaky(0)) as honest:
        port = int(honest.url.rsplit(":", 1)[1])
        async with serve(faults.flaky(0), host="127.0.0.2", port=port) as internal:
            dns = RebindingDns("rebind.test", "127.0.0.1").install(monkeypatch)
            url = f"http://rebind.test:{port}/x"
            async with client(engine, inside) as http:
                assert (await http.get(url, headers={"Connection": "close"})).status_code == 200
                dns.answer = "127.0.0.2"
                if engine == "httpcore":
                    with pytest.raises(EgressDenied) as err:
                        await http.get(url)
                    assert err.value.address == "127.0.0.2"
                else:
                    assert (await http.get(url)).status_code == 200
            async with client(engine, inside) as http:  # a new client resolves afresh: refused
                with pytest.raises(EgressDenied):
                    await http.get(url)
            assert internal.hits == [] and honest.count() == (1 if engine == "httpcore" else 2)
            assert dns.asked >= 2


# --- aiohttp's own replay -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("replay", [False, True])
async def test_aiohttp_replays_a_dropped_request_only_when_asked(replay):
    """aiohttp would resend an idempotent request whose pooled connection was dropped; build_client turns that off
    unless ``replay_dropped`` (its switch is private to aiohttp: this notices if it stops working)."""
    async with (serve(faults.dropping_reused()) as server,
                build_client(egress=OPEN, timeout=TIMEOUT, engine="aiohttp", replay_dropped=replay) as http):
        assert (await http.get(server.url + "/thing")).status_code == 200
        if replay:
            assert (await http.get(server.url + "/thing")).status_code == 200
        else:
            with pytest.raises(httpx.TransportError):
                await http.get(server.url + "/thing")
    assert server.count() == (3 if replay else 2)
