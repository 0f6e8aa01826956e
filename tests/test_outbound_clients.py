"""Architecture guard: every outbound connection of the gateway goes through the one egress policy.

The gateway reaches the network only through :func:`gateway.core.http_client.build_client` and the members' client
:class:`gateway.core.http1.Http1Session`, which enforce the egress policy they are handed at connect time; so no
other module may build an HTTP client, a transport, a connector, a socket or an event loop connection of its own,
and nothing in the gateway may fall back to the open policy (``OPEN``): the composition root hands every client the
policy built from ``egress.*``. ``gateway/cli/`` is exempt from the first rule: its commands are an operator's HTTP
clients of a running gateway's API, not the gateway's own egress.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THE_FACTORIES = (Path("gateway/core/http_client.py"), Path("gateway/core/http1.py"))
EXEMPT = (Path("gateway/cli"),)
OUTBOUND = {
    "httpx.AsyncClient", "httpx.Client", "httpx.AsyncHTTPTransport", "httpx.HTTPTransport",
    "httpx.get", "httpx.post", "httpx.put", "httpx.patch", "httpx.delete", "httpx.head", "httpx.options",
    "httpx.request", "httpx.stream",
    "aiohttp.ClientSession", "aiohttp.TCPConnector", "aiohttp.request", "aiohttp.client.ClientSession",
    "httpx_aiohttp.AiohttpTransport", "httpx_aiohttp.HttpxAiohttpClient", "httpcore.AsyncConnectionPool",
    "httpcore.ConnectionPool", "httpcore.AnyIOBackend",
    "socket.socket", "socket.create_connection", "asyncio.open_connection", "urllib.request.urlopen",
    "http.client.HTTPConnection", "http.client.HTTPSConnection",
}
LOOP_CONNECTS = {"create_connection", "open_connection", "sock_connect", "create_unix_connection"}
"""Methods of an event loop (or of asyncio) that open a connection, whatever the object they are called on."""


def sources() -> list[Path]:
    return sorted(p.relative_to(ROOT) for package in ("gateway", "refcommons") for p in (ROOT / package).rglob("*.py"))


def imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name → the dotted name it stands for, from the module's imports."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                names[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def dotted(node: ast.expr, names: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([names.get(node.id, node.id), *reversed(parts)])


def outbound_calls(path: Path) -> list[str]:
    tree = ast.parse((ROOT / path).read_text(), str(path))
    names = imported_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func, names)
            if name in OUTBOUND:
                found.append(f"{path}:{node.lineno}: {name}")
            elif isinstance(node.func, ast.Attribute) and node.func.attr in LOOP_CONNECTS:
                found.append(f"{path}:{node.lineno}: .{node.func.attr}")
    return found


def test_the_guard_sees_what_it_guards():
    for factory in THE_FACTORIES:
        assert outbound_calls(factory), f"{factory} builds clients: the scan must see them"
    assert len(sources()) > 100


def test_no_module_builds_an_outbound_client_but_the_factory():
    checked = [p for p in sources() if p not in THE_FACTORIES and not any(p.is_relative_to(e) for e in EXEMPT)]
    assert [call for path in checked for call in outbound_calls(path)] == []


def test_nothing_in_the_gateway_falls_back_to_the_open_policy():
    users = []
    for path in sources():
        if not path.is_relative_to("gateway") or path == Path("gateway/core/egress.py"):
            continue
        tree = ast.parse((ROOT / path).read_text(), str(path))
        users += [f"{path}:{node.lineno}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  and node.module == "gateway.core.egress" and any(a.name == "OPEN" for a in node.names)]
    assert users == []
