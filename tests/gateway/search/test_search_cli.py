"""``gateway search`` and ``gateway export``: the pure rendering and streaming helpers without network, ``search``
end to end against a real gateway with its in-process reference commons, ``export`` against a small aiohttp
server that streams bytes (with and without a length, errors, a download that breaks off)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from rich.console import Console
from servers import free_port, running, start_gateway

from gateway.cli import search as cli
from gateway.cli.main import main


def text(renderable: Any) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


ANSWER = {
    "index": "subject", "accessibility": "all", "tier": {"level": "regular", "limit": 50},
    "total": {"count": 1234, "hidden": False},
    "facets": {"race": [{"key": "White", "count": 93, "hidden": False},
                        {"key": "Asian", "count": None, "hidden": True, "below": True},
                        {"key": "Other", "count": None, "hidden": True, "below": False}], "empty": []},
    "sources": [{"commons": "aaa", "status": "ok", "took_ms": 12, "count": 1000, "hidden": False, "error": None},
                {"commons": "bbb", "status": "timeout", "took_ms": 1500, "count": None, "hidden": False,
                 "error": "no answer before the deadline"},
                {"commons": "ccc", "status": "partial", "took_ms": 8, "count": None, "hidden": True, "error": None}],
}


# --- pure helpers ---------------------------------------------------------------------------------------------------

def test_counts_are_numbers_hidden_with_the_limit_or_a_dash():
    assert cli.count_text({"count": 1234, "hidden": False}, 50) == "1,234"
    assert cli.count_text({"count": None, "hidden": True, "below": True}, 50) == "hidden (< 50)"
    assert cli.count_text({"count": None, "hidden": True, "below": True}, None) == "hidden"
    assert cli.count_text({"count": None, "hidden": True, "below": False}, 50) == "hidden"  # no bound is known
    assert cli.count_text({"count": None, "hidden": True}, 50) == "hidden"
    assert cli.count_text({"count": None, "hidden": False}, 50) == "—"


def test_the_rendered_answer_has_the_total_one_table_per_facet_and_the_sources():
    out = text(cli.render_search(ANSWER))
    assert "total: 1,234" in out and "tier regular, limit 50" in out
    assert "facet: race" in out and "facet: empty" in out and "(no values)" in out
    lines = out.splitlines()
    assert any("White" in line and "93" in line for line in lines)
    assert any("Asian" in line and "hidden (< 50)" in line for line in lines)
    assert any("Other" in line and "hidden" in line and "<" not in line for line in lines)
    assert "sources" in out
    assert any("bbb" in line and "timeout" in line and "1500" in line and "no answer before the deadline" in line
               for line in lines)
    assert any("ccc" in line and "partial" in line and "hidden" in line and "<" not in line for line in lines)


def test_an_unanswered_search_says_why():
    doc = {**ANSWER, "total": {"count": None, "hidden": False}, "facets": {}, "msg": "no member answered the search",
           "status_code": 503}
    out = text(cli.render_search(doc))
    assert "no member answered the search" in out and "total: —" in out


def test_exit_codes_and_error_messages():
    assert [cli.exit_code(s) for s in (200, 503, 504, 400, 403, 404, 500)] == [0, 1, 1, 2, 2, 2, 2]
    assert cli.error_message(400, b'{"error": "invalid facet name", "status_code": 400}') == \
        "HTTP 400: invalid facet name"
    assert cli.error_message(503, b'{"msg": "no member answered", "total": {}}') == "HTTP 503: no member answered"
    assert cli.error_message(502, b"<html>bad gateway</html>") == "HTTP 502: <html>bad gateway</html>"


def test_filters_inline_or_from_a_file(tmp_path):
    assert cli.parse_filter(None) is None
    assert cli.parse_filter('{"=": {"sex": "female"}}') == {"=": {"sex": "female"}}
    f = tmp_path / "f.json"
    f.write_text('{"in": {"project_id": ["A"]}}')
    assert cli.parse_filter(f"@{f}") == {"in": {"project_id": ["A"]}}
    for bad in ("{not json", "[1, 2]", f"@{tmp_path / 'missing.json'}"):
        with pytest.raises(cli.UsageError):
            cli.parse_filter(bad)


def test_tokens_inline_or_from_a_file(tmp_path):
    assert cli.read_token(None, None) is None and cli.headers(None) == {}
    t = tmp_path / "token"
    t.write_text("abc.def.ghi\n")
    assert cli.read_token(None, t) == "abc.def.ghi"
    assert cli.headers("abc") == {"Authorization": "Bearer abc"}
    t.write_text("  \n")
    with pytest.raises(cli.UsageError):
        cli.read_token(None, t)


def test_a_stream_is_written_through_a_part_file_and_renamed(tmp_path):
    out = tmp_path / "cohort.pfb"
    seen: list[int] = []
    assert cli.save_stream(iter([b"ab", b"", b"cde"]), out, seen.append) == 5
    assert out.read_bytes() == b"abcde" and seen == [2, 0, 3]
    assert not (tmp_path / "cohort.pfb.part").exists()


def test_a_broken_stream_leaves_neither_the_part_file_nor_the_output(tmp_path):
    out = tmp_path / "cohort.pfb"

    def chunks():
        yield b"abc"
        assert (tmp_path / "cohort.pfb.part").exists()
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        cli.save_stream(chunks(), out)
    assert list(tmp_path.iterdir()) == []


def test_the_commands_are_registered_with_their_options():
    from gateway.cli.main import build_parser

    args = build_parser().parse_args(["search", "--facet", "sex", "--facet", "race", "--index", "file"])
    assert args.func is cli._search and args.facet == ["sex", "race"] and args.accessibility == "all"
    args = build_parser().parse_args(["export", "--format", "pfb", "--out", "x.pfb"])
    assert args.func is cli._export and args.format == "pfb" and args.out == Path("x.pfb")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--token", "a", "--token-file", "b"])


# --- gateway search against a real gateway --------------------------------------------------------------------------

async def test_search_against_a_running_gateway(tmp_path, capsys, gateway_settings):
    settings = {**gateway_settings, "refcommons": {**gateway_settings["refcommons"], "subjects": 200}}
    async with running(start_gateway(**settings)) as gateway:
        url = gateway.base_url
        code = await asyncio.to_thread(main, ["search", "--url", url, "--facet", "sex", "--facet", "race"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "total: 200" in out and "facet: sex" in out and "facet: race" in out
        assert "hidden (< 50)" in out  # the reference commons has small race buckets
        assert any("refcommons" in line and "ok" in line for line in out.splitlines())

        flt = tmp_path / "female.json"
        flt.write_text('{"=": {"sex": "female"}}')
        code = await asyncio.to_thread(main, ["search", "--url", url, "--filter", f"@{flt}", "--accessibility",
                                              "accessible", "--facet", "sex", "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert code == 0 and doc["accessibility"] == "accessible" and not doc["total"]["hidden"]
        assert [b["key"] for b in doc["facets"]["sex"]] == ["female"]
        assert doc["total"]["count"] == doc["facets"]["sex"][0]["count"] > 0
        assert doc["sources"][0]["commons"] == "refcommons"

        code = await asyncio.to_thread(main, ["search", "--url", url, "--facet", "bad-name"])
        assert code == 2 and "HTTP 400: invalid facet name" in capsys.readouterr().err
        code = await asyncio.to_thread(main, ["search", "--url", url, "--filter", "{nope"])
        assert code == 2 and "--filter: not JSON" in capsys.readouterr().err
    code = await asyncio.to_thread(main, ["search", "--url", f"http://127.0.0.1:{free_port()}"])
    assert code == 2 and "cannot reach" in capsys.readouterr().err


async def test_search_exits_1_when_no_member_answers(tmp_path, capsys):
    dead = f"http://127.0.0.1:{free_port()}"
    member = {"id": "gone", "name": "gone", "base_url": dead, "kind": "gen3", "prefixes": ["dg.GONE"]}
    async with running(start_gateway(store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
                                     registry={"members": [member]}, health={"interval": 3600.0},
                                     upstream={"retries": 0, "backoff": 0.01})) as gateway:
        code = await asyncio.to_thread(main, ["search", "--url", gateway.base_url])
        captured = capsys.readouterr()
        assert code == 1
        assert "HTTP 503" in captured.err or "HTTP 504" in captured.err
        assert any("gone" in line and ("error" in line or "timeout" in line) for line in captured.out.splitlines())


# --- gateway export against a streaming test server -----------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@asynccontextmanager
async def export_server(mode: str) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def export(request: web.Request) -> web.StreamResponse:
        seen.append({"body": await request.json(), "authorization": request.headers.get("Authorization")})
        if mode == "400":
            return web.json_response({"error": "accessibility must be accessible", "status_code": 400}, status=400)
        if mode == "503":
            return web.json_response({"msg": "no member answered the export", "status_code": 503}, status=503)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if mode == "sized":
            response.content_length = len(PAYLOAD)
        await response.prepare(request)
        for i in range(0, len(PAYLOAD), 65536):
            await response.write(PAYLOAD[i:i + 65536])
            if mode == "broken" and i >= 65536 * 3:
                request.transport.close()  # type: ignore[union-attr]  # mid-stream: no final chunk
                return response
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post(cli.EXPORT_PATH, export)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("mode", ["chunked", "sized"])
async def test_export_streams_to_the_file_through_a_part_file(tmp_path, capsys, mode):
    out = tmp_path / "cohort.pfb"
    token = tmp_path / "token"
    token.write_text("tok\n")
    async with export_server(mode) as (url, seen):
        code = await asyncio.to_thread(main, ["export", "--url", url, "--format", "pfb", "--out", str(out),
                                              "--index", "file", "--filter", '{"=": {"sex": "female"}}',
                                              "--token-file", str(token)])
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes() == PAYLOAD and not (tmp_path / "cohort.pfb.part").exists()
    assert seen == [{"body": {"index": "file", "filter": {"=": {"sex": "female"}}, "format": "pfb",
                              "accessibility": "accessible"}, "authorization": "Bearer tok"}]
    assert f"wrote {len(PAYLOAD):,} bytes" in capsys.readouterr().err


@pytest.mark.parametrize(("mode", "code", "message"), [
    ("400", 2, "HTTP 400: accessibility must be accessible"),
    ("503", 1, "HTTP 503: no member answered the export"),
    ("broken", 1, "download failed"),
])
async def test_export_failures_leave_no_file(tmp_path, capsys, mode, code, message):
    out = tmp_path / "manifest.json"
    async with export_server(mode) as (url, _):
        got = await asyncio.to_thread(main, ["export", "--url", url, "--format", "manifest", "--out", str(out)])
    assert got == code and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


async def test_export_to_an_unreachable_gateway_or_a_directory_is_a_usage_error(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["export", "--url", url, "--format", "pfb", "--out", str(tmp_path / "x.pfb")]) == 2
    assert "cannot reach" in capsys.readouterr().err
    assert main(["export", "--url", url, "--format", "pfb", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
