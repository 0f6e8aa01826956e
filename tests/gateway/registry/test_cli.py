"""``gateway registry …`` against a running gateway (``main`` runs in a thread; the gateway in the loop)."""

from __future__ import annotations

import asyncio
import json

from registry_kit import ADMIN_TOKEN, free_port

from gateway.cli.main import main


async def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["registry", *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def test_registry_commands(gateway_at, base_settings, commons, capsys, monkeypatch):
    monkeypatch.delenv("GATEWAY_ADMIN_TOKEN", raising=False)
    async with gateway_at(**base_settings) as gw:
        url = ("--url", gw.base_url)
        code, out, _ = await run(capsys, "list", *url)
        assert (code, out) == (0, "(no members)\n")

        code, out, err = await run(capsys, "join", *url, "--name", "CLI Commons", "--base-url", commons.base_url,
                                   "--kind", "gen3", "--prefix", "dg.CLI1", "--prefix", "dg.cli2",
                                   "--hostname", "cli.example.org", "--contact", "ops@example.org")
        assert code == 0, err
        assert out.splitlines()[0] == (f"joined: cli-commons  pending  gen3  dg.cli1,dg.cli2  {commons.base_url} "
                                       "(checked /index/_status)")
        assert f"  indexd: {commons.base_url}/index" in out.splitlines()
        assert "  offers: records, bulk, signed_urls, cohort_search, study_discovery, authz_mapping, dictionary" in out

        code, _, err = await run(capsys, "approve", *url, "cli-commons")
        assert code == 1 and err == "gateway registry: an admin token is needed: --token or $GATEWAY_ADMIN_TOKEN\n"
        code, _, err = await run(capsys, "approve", *url, "--token", "wrong", "cli-commons")
        assert code == 1 and err == "gateway registry: HTTP 401: invalid admin token\n"

        monkeypatch.setenv("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        code, out, _ = await run(capsys, "approve", *url, "cli-commons")
        assert code == 0 and out.startswith("approved: cli-commons  active  gen3")
        code, out, _ = await run(capsys, "list", *url, "--status", "active", "--json")
        listed = json.loads(out)
        assert code == 0 and [m["id"] for m in listed["commons"]] == ["cli-commons"]
        assert listed["commons"][0]["hostnames"] == ["cli.example.org"]
        code, out, _ = await run(capsys, "suspend", *url, "cli-commons")
        assert code == 0 and out.startswith("suspended: cli-commons  suspended")

        code, _, err = await run(capsys, "join", *url, "--name", "Again", "--base-url", commons.base_url,
                                 "--prefix", "dg.cli1")
        assert code == 1
        assert err == "gateway registry: HTTP 409: prefix dg.cli1 is already owned by member 'cli-commons'\n"

        code, out, _ = await run(capsys, "remove", *url, "cli-commons", "--json")
        assert code == 0 and json.loads(out) == {"deleted": "cli-commons"}
        code, _, err = await run(capsys, "remove", *url, "cli-commons")
        assert code == 1 and err == "gateway registry: HTTP 404: no member commons 'cli-commons'\n"

    code, _, err = await run(capsys, "list", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 1 and err.startswith("gateway registry: cannot reach http://127.0.0.1:")


async def test_approve_shows_what_the_member_receives(gateway_at, base_settings, commons, capsys, monkeypatch):
    monkeypatch.setenv("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
    async with gateway_at(**base_settings) as gw:
        url = ("--url", gw.base_url)
        body = {"name": "Passer", "base_url": commons.base_url, "kind": "gen3", "prefixes": ["dg.pass"],
                "hostnames": ["drs.example.org"], "auth": {"type": "passthrough"}}
        assert (await gw.client.post("/registry/v1/commons", json=body)).status_code == 201
        rival = {**body, "name": "Rival", "auth": {"type": "none"}, "hostnames": ["rival.example.org"]}
        assert (await gw.client.post("/registry/v1/commons", json=rival)).status_code == 201

        code, out, err = await run(capsys, "preview", *url, "passer")
        assert code == 0, err
        assert out.splitlines() == [
            f"approving: passer  pending  gen3  dg.pass  {commons.base_url}",
            "  auth: passthrough: callers' bearer tokens will be sent to this member (only tokens its own fence "
            f"issued, at {commons.base_url}/user)",  # its fence endpoint, named
            "  claims prefixes: dg.pass",
            "  claims hostnames: drs.example.org",
            "  conflict: prefix dg.pass is also asked for by 'rival' (pending): first approved wins",
            "  approving needs --accept-passthrough",
        ]
        code, _, err = await run(capsys, "approve", *url, "passer")
        assert code == 1 and err.startswith("gateway registry: HTTP 422: approving member 'passer' needs")
        assert "--accept-passthrough" in err
        code, out, err = await run(capsys, "approve", *url, "passer", "--accept-passthrough")
        assert code == 0, err
        assert out.startswith("approved: passer  active  gen3  dg.pass")
        assert "  auth: passthrough: callers' bearer tokens will be sent to this member" in out
        code, out, _ = await run(capsys, "preview", *url, "rival")
        assert "  conflict: prefix dg.pass is owned by 'passer' (active): approval will be refused" in out
        code, _, err = await run(capsys, "approve", *url, "rival")
        assert code == 1 and err == "gateway registry: HTTP 409: prefix dg.pass is already owned by member 'passer'\n"


async def test_join_with_endpoints_and_show(gateway_at, base_settings, commons, capsys, monkeypatch):
    from member_layouts import start_bare_indexd

    monkeypatch.setenv("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
    bare = await start_bare_indexd(commons.base_url)
    try:
        async with gateway_at(**base_settings) as gw:
            url = ("--url", gw.base_url)
            code, out, err = await run(capsys, "join", *url, "--name", "Bare", "--base-url", bare.base_url,
                                       "--prefix", "dg.TST1", "--endpoint", f"indexd={bare.base_url}",
                                       "--endpoint", "fence=none", "--endpoint", "guppy=null")
            assert code == 0, err
            code, out, err = await run(capsys, "show", *url, "bare")
            assert code == 0, err
            lines = out.splitlines()
            assert lines[0] == f"bare  pending  gen3  dg.tst1  {bare.base_url}"
            assert f"  indexd: {bare.base_url}" in lines and "  fence: -" in lines and "  guppy: -" in lines
            assert "  offers: records, bulk" in lines
            assert "  not offered: signed_urls: it has no fence service" in lines
            code, _, err = await run(capsys, "join", *url, "--name", "X", "--base-url", bare.base_url,
                                     "--prefix", "dg.x", "--endpoint", "fence")
            assert code == 1 and "--endpoint takes SERVICE=URL" in err
    finally:
        await bare.stop()
