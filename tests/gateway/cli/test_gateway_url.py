"""Every client command finds its gateway the same way: ``--url``, then ``$GATEWAY_URL``, then the configured host and
port (``GATEWAY_PORT``, ``GATEWAY_HOST``, the config file). Checked against a real server that records what reached
it, with decoys on the other sources that would be reached if the order were wrong."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from faults import recording_app, serve

from gateway.cli.main import main
from gateway.cli.target import choose_url, configured_url

COMMANDS = {
    "resolve": ["resolve", "dg.X/1"],
    "search": ["search"],
    "export": ["export", "--format", "manifest", "--out", "{tmp}/m.json"],
    "registry list": ["registry", "list"],
    "registry preview": ["registry", "preview", "m1", "--token", "t"],
}
SOURCES = ("GATEWAY_URL", "GATEWAY_PORT", "GATEWAY_HOST", "GATEWAY_CONFIG")


def test_the_order_is_flag_then_environment_then_configuration():
    asked = []

    def configured() -> tuple[str, int]:
        asked.append(1)
        return "0.0.0.0", 9000

    assert choose_url("http://a:1/", {"GATEWAY_URL": "http://b:2"}, configured) == "http://a:1"
    assert choose_url(None, {"GATEWAY_URL": " http://b:2/ "}, configured) == "http://b:2"
    assert asked == []  # the configuration is not even read when a URL was given
    assert choose_url(None, {"GATEWAY_URL": ""}, configured) == "http://127.0.0.1:9000"
    assert choose_url("", {}, configured) == "http://127.0.0.1:9000"


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8080"), ("0.0.0.0", "http://127.0.0.1:8080"), ("", "http://127.0.0.1:8080"),
    ("::", "http://[::1]:8080"), ("::1", "http://[::1]:8080"), ("gw.example", "http://gw.example:8080"),
])
def test_a_configured_listener_is_reached_from_this_machine(host, url):
    assert configured_url(host, 8080) == url


@pytest.fixture
def clean_env(monkeypatch):
    for name in SOURCES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _gateway() -> web.Application:
    async def anything(request: web.Request) -> web.Response:
        return web.json_response({"msg": "recorded", "status_code": 418}, status=418)

    return recording_app([web.route("*", "/{tail:.*}", anything)])


async def run(command: str, tmp_path, *extra: str) -> int:
    argv = [part.replace("{tmp}", str(tmp_path)) for part in COMMANDS[command]] + list(extra)
    return await asyncio.to_thread(main, argv)


@pytest.mark.parametrize("command", COMMANDS)
async def test_gateway_port_names_the_gateway(command, clean_env, tmp_path):
    async with serve(_gateway()) as gateway:
        clean_env.setenv("GATEWAY_PORT", gateway.url.rsplit(":", 1)[1])
        await run(command, tmp_path)
    assert gateway.hits, f"{command} did not reach the gateway on GATEWAY_PORT"


@pytest.mark.parametrize("command", COMMANDS)
async def test_gateway_url_beats_the_configured_port(command, clean_env, tmp_path):
    async with serve(_gateway()) as gateway, serve(_gateway()) as decoy:
        clean_env.setenv("GATEWAY_URL", gateway.url)
        clean_env.setenv("GATEWAY_PORT", decoy.url.rsplit(":", 1)[1])
        await run(command, tmp_path)
    assert gateway.hits and not decoy.hits, command


@pytest.mark.parametrize("command", COMMANDS)
async def test_the_url_flag_beats_everything(command, clean_env, tmp_path):
    async with serve(_gateway()) as gateway, serve(_gateway()) as decoy:
        clean_env.setenv("GATEWAY_URL", decoy.url)
        clean_env.setenv("GATEWAY_PORT", decoy.url.rsplit(":", 1)[1])
        await run(command, tmp_path, "--url", gateway.url)
    assert gateway.hits and not decoy.hits, command


@pytest.mark.parametrize("flag", [True, False])
async def test_the_config_file_names_the_gateway(flag, clean_env, tmp_path):
    async with serve(_gateway()) as gateway:
        config = tmp_path / "gateway.yaml"
        config.write_text(f"host: 0.0.0.0\nport: {gateway.url.rsplit(':', 1)[1]}\n")
        if flag:
            await run("registry list", tmp_path, "--config", str(config))
        else:
            clean_env.setenv("GATEWAY_CONFIG", str(config))
            await run("registry list", tmp_path)
    assert gateway.hits


async def test_an_unreadable_configuration_says_so_and_how_to_avoid_it(clean_env, tmp_path, capsys):
    clean_env.setenv("GATEWAY_PORT", "not-a-port")
    with pytest.raises(SystemExit) as exc:
        await run("resolve", tmp_path)
    assert "GATEWAY_URL" in str(exc.value) and "--url" in str(exc.value)
