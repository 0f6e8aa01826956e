"""The container and compose files against the code they run (issue 15, item 6), without a Docker engine.

``docker-compose.yml``, the ``Dockerfile`` and ``deploy/nginx.conf`` are parsed and checked against the real CLI
parser, the real settings and the real route tables: every command is a command of ours, every ``GATEWAY_*``
key a setting (and the values load), every port published, exposed, health-checked, proxied to or named in a
URL is the one its service listens on, every ``depends_on`` condition can be met, the image runs unprivileged on
0.0.0.0 with a health check that really fails when the gateway does, and ``requirements.lock`` pins every runtime
dependency of ``pyproject.toml`` at a version its specifier allows.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp import web
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gateway.cli.main import build_parser
from gateway.settings.gateway import CONFIG_ENV, Settings
from gateway.settings.reference import env_name, iter_keys
from gateway.web.routes import status
from refcommons.cli import settings_from_args
from refcommons.layout import GEN3, server_of
from refcommons.routes import indexd

ROOT = Path(__file__).resolve().parents[1]
OUR_IMAGE = "gateway:local"
# environment variables our programs read that are not settings keys
NON_SETTING_ENV = {CONFIG_ENV}
# the well-known ports of the third-party images the compose file runs (their documented defaults)
THIRD_PARTY_PORTS = {"postgres": 5432, "redis": 6379}


# --- parsing ------------------------------------------------------------------------------------------------


def _interpolate(value: str) -> str:
    """Compose's variable substitution with the environment empty: ``${X:-default}``/``${X-default}`` → the
    default, ``$$`` → ``$``; a bare ``${X}`` (no default) would be empty, so it is refused."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group(2) is None:
            raise AssertionError(f"${{{m.group(1)}}} has no default: the file does not run as it is")
        return m.group(3)
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*?))?\}", sub, value)


def _resolve(node: Any) -> Any:
    if isinstance(node, str):
        return _interpolate(node)
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    if isinstance(node, dict):
        return {k: _resolve(v) for k, v in node.items()}
    return node


@cache
def _compose() -> dict[str, Any]:
    return _resolve(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every logical line of the Dockerfile."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, rest in _dockerfile():
        if instruction == "ENV":
            for word in shlex.split(rest):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def _image_cmd() -> list[str]:
    return json.loads(next(rest for instruction, rest in _dockerfile() if instruction == "CMD"))


def _is_ours(service: dict[str, Any]) -> bool:
    return "build" in service or service.get("image") == OUR_IMAGE


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or (_image_cmd() if _is_ours(service) else [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """What the process sees: the image's ENV (for our image) overlaid by the service's environment."""
    env = _image_env() if _is_ours(service) else {}
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    env.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in raw.items()})
    return env


@contextmanager
def _only_env(env: dict[str, str]) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("GATEWAY_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("GATEWAY_")})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("GATEWAY_")]:
            del os.environ[key]
        os.environ.update(saved)


def _settings(service: dict[str, Any]) -> Settings:
    with _only_env(_environment(service)):
        return Settings()


def _nginx() -> str:
    return re.sub(r"#[^\n]*", "", (ROOT / "deploy" / "nginx.conf").read_text())


def _published(service: dict[str, Any]) -> dict[int, int]:
    """host port → container port of ``ports:`` (short syntax ``[IP:]HOST:CONTAINER``)."""
    out = {}
    for entry in service.get("ports", []):
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) >= 2, f"{entry}: publish with an explicit host port (the public URLs name it)"
        out[int(parts[-2])] = int(parts[-1])
    return out


# --- what each service listens on ---------------------------------------------------------------------------


def _listen(name: str) -> tuple[str, int]:
    """(host, port) the service's process listens on, from its command, environment and configuration."""
    service = _services()[name]
    command = _command(service)
    if _is_ours(service):
        assert command[0] == "gateway", f"{name}: our image runs the `gateway` CLI, not {command}"
        args = build_parser().parse_args(command[1:])
        if command[1:3] == ["refcommons", "serve"]:
            return args.host, args.port
        assert command[1] == "serve", f"{name}: {command} serves nothing"
        settings = _settings(service)
        return args.host or settings.host, args.port or settings.port
    if name == "nginx" or "nginx" in service.get("image", ""):
        ports = {int(p) for p in re.findall(r"^\s*listen\s+(?:[\d.]+:)?(\d+)", _nginx(), re.M)}
        assert len(ports) == 1, ports
        return "0.0.0.0", ports.pop()
    if "--port" in command:
        return "0.0.0.0", int(command[command.index("--port") + 1])
    kind = service["image"].split(":")[0].rsplit("/", 1)[-1]
    return "0.0.0.0", THIRD_PARTY_PORTS[kind]


def _service_at(url: str) -> tuple[str, int]:
    """The compose service and port a URL inside the network names; fails unless the service listens there."""
    parts = urlsplit(url)
    assert parts.hostname in _services(), f"{url}: {parts.hostname} is not a compose service"
    default = {"http": 80, "https": 443, "redis": 6379, "postgresql": 5432, "postgres": 5432}[parts.scheme]
    port = parts.port or default
    assert _listen(parts.hostname)[1] == port, f"{url}: {parts.hostname} listens on {_listen(parts.hostname)[1]}"
    return parts.hostname, port


def _route_paths(*modules: Any) -> set[str]:
    return {r.path for m in modules for r in m.routes if isinstance(r, web.RouteDef)}


# --- the compose file ---------------------------------------------------------------------------------------


def _names(predicate: Any) -> list[str]:
    return [n for n, s in _services().items() if predicate(n, s)]


def _gateways() -> list[str]:
    return _names(lambda n, s: _is_ours(s) and _command(s)[1] == "serve")


def _commons() -> list[str]:
    return _names(lambda n, s: _is_ours(s) and _command(s)[1:3] == ["refcommons", "serve"])


def test_compose_runs_the_whole_deployment():
    """PostgreSQL, Redis, two gateway replicas, a load balancer and two commons with distinct prefixes."""
    services = _services()
    assert len(_gateways()) == 2
    assert len(_commons()) == 2
    prefixes = {_command(services[c])[_command(services[c]).index("--prefix") + 1] for c in _commons()}
    assert len(prefixes) == 2
    assert {s["image"].split(":")[0] for s in services.values() if not _is_ours(s)} >= {"postgres", "redis", "nginx"}


@pytest.mark.parametrize("name", [n for n, s in yaml.safe_load((ROOT / "docker-compose.yml").read_text())[
    "services"].items() if _is_ours(s)])
def test_every_command_of_our_image_is_a_real_cli_command(name):
    service = _services()[name]
    command = _command(service)
    assert command[0] == "gateway"
    try:
        args = build_parser().parse_args(command[1:])
    except SystemExit as exc:
        raise AssertionError(f"{name}: `{shlex.join(command)}` is not a command of ours") from exc
    assert callable(args.func)


def test_the_image_default_command_is_a_real_cli_command():
    command = _image_cmd()
    assert command[0] == "gateway"
    assert callable(build_parser().parse_args(command[1:]).func)


def test_every_gateway_environment_key_is_a_setting_and_loads():
    """Keys of the settings reference (docs/configuration.md), values that validate, in the image and in
    every service of ours."""
    known = {env_name(key) for key, _, _ in iter_keys(Settings)} | NON_SETTING_ENV
    sources = {"Dockerfile": _image_env()} | {n: _environment(s) for n, s in _services().items() if _is_ours(s)}
    for where, env in sources.items():
        unknown = {k for k in env if k.startswith("GATEWAY_")} - known
        assert not unknown, f"{where}: {sorted(unknown)} are not settings (gateway config docs lists them)"
    for name in _gateways():
        _settings(_services()[name])  # raises on a value the settings reject


def test_third_party_services_get_no_gateway_keys():
    for name, service in _services().items():
        if not _is_ours(service):
            assert not [k for k in _environment(service) if k.startswith("GATEWAY_")], name


def test_every_server_listens_on_all_interfaces_of_its_container():
    for name in _gateways() + _commons():
        assert _listen(name)[0] == "0.0.0.0", f"{name} listens on {_listen(name)[0]}: unreachable from outside"


def test_published_and_exposed_ports_are_the_ones_listened_on():
    for name, service in _services().items():
        port = _listen(name)[1]
        for host_port, container_port in _published(service).items():
            assert container_port == port, f"{name} publishes {host_port}:{container_port}, listens on {port}"
        for exposed in service.get("expose", []):
            assert int(str(exposed).split("/")[0]) == port, f"{name} exposes {exposed}, listens on {port}"


def test_replicas_share_one_configuration_on_postgresql_and_redis():
    settings = [_settings(_services()[g]) for g in _gateways()]
    a, b = (s.model_dump(mode="json") for s in settings)
    assert a == b, "the replicas behind one load balancer must be configured alike"
    config = settings[0]
    assert urlsplit(config.store.url).scheme == "postgresql"
    assert _service_at(config.store.url)[0] == "postgres"
    assert urlsplit(config.cache.url).scheme == "redis"
    assert _service_at(config.cache.url)[0] == "redis"
    # the store's credentials are PostgreSQL's own
    pg = _environment(_services()["postgres"])
    url = urlsplit(config.store.url)
    assert (url.username, url.password, url.path.lstrip("/")) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])
    # each replica would run its own in-process commons with its own keys: the federation is the standalone two
    assert not config.refcommons.enabled


def test_postgres_and_redis_keep_their_data_on_volumes():
    volumes = set(_compose()["volumes"])
    pg = _services()["postgres"]
    assert any(v.split(":")[0] in volumes and v.split(":")[1] == "/var/lib/postgresql/data" for v in pg["volumes"])
    redis = _services()["redis"]
    command = _command(redis)
    assert command[command.index("--appendonly") + 1] == "yes"
    data_dir = command[command.index("--dir") + 1]
    assert any(v.split(":")[0] in volumes and v.split(":")[1] == data_dir for v in redis["volumes"])


def test_members_are_the_compose_commons_at_the_ports_they_listen_on():
    settings = _settings(_services()[_gateways()[0]])
    declared = {_service_at(m.base_url)[0]: m.prefixes for m in settings.registry.members}
    assert set(declared) == set(_commons())
    for name in _commons():
        command = _command(_services()[name])
        assert declared[name] == [command[command.index("--prefix") + 1]]
    # the compose network is private address space: the egress policy must allow it for these members
    subnets = [ipaddress.ip_network(c["subnet"]) for c in _compose()["networks"]["default"]["ipam"]["config"]]
    allowed = [ipaddress.ip_network(n) for n in settings.egress.allow_networks]
    for subnet in subnets:
        assert any(subnet.subnet_of(a) for a in allowed if a.version == subnet.version), subnet


def test_signed_urls_name_an_address_the_host_can_follow():
    """A commons signs URLs under its public URL: localhost and a port published to the one it listens on."""
    for name in _commons():
        service = _services()[name]
        command = _command(service)
        url = urlsplit(command[command.index("--public-url") + 1])
        assert url.hostname in ("localhost", "127.0.0.1"), f"{name}: {url.hostname} is not reachable from the host"
        assert _published(service).get(url.port or 80) == _listen(name)[1], f"{name}: {url.port} is not published"
        settings = settings_from_args(build_parser().parse_args(command[1:]))
        assert settings.base_url == f"http://localhost:{url.port}"
    # and the gateway's own public URL is the load balancer's published port
    public = urlsplit(_settings(_services()[_gateways()[0]]).base_url)
    assert public.hostname == "localhost"
    assert _published(_services()["nginx"]).get(public.port or 80) == _listen("nginx")[1]


def test_depends_on_conditions_can_be_met():
    for name, service in _services().items():
        depends = service.get("depends_on", {})
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        for dep, spec in depends.items():
            assert dep in _services(), f"{name} depends on {dep}, not a service"
            if spec["condition"] == "service_healthy":
                target = _services()[dep]
                assert "healthcheck" in target or _is_ours(target), f"{dep} has no health check to wait for"
    # each replica waits for everything its configuration names
    for name in _gateways():
        settings = _settings(_services()[name])
        needed = {_service_at(settings.store.url)[0], _service_at(settings.cache.url)[0]}
        needed |= {_service_at(m.base_url)[0] for m in settings.registry.members}
        assert needed <= set(_services()[name]["depends_on"]), name


def _health_targets(test: list[str]) -> list[tuple[int, str | None]]:
    text = " ".join(test)
    hits = [(int(p), path) for p, path in re.findall(r"//(?:127\.0\.0\.1|localhost):(\d+)(/[^'\" ]*)?", text)]
    hits += [(int(p), None) for p in re.findall(r"/dev/tcp/127\.0\.0\.1/(\d+)", text)]
    hits += [(int(p), None) for p in re.findall(r"-p[ =](\d+)", text)]
    return hits


def test_health_checks_probe_the_port_and_a_route_the_service_serves():
    gen3_indexd = server_of(GEN3, "indexd")  # the compose commons run the default layout: indexd under /index
    assert gen3_indexd is not None
    served = {"gateway": _route_paths(status), "commons": {gen3_indexd[1].path(p) for p in _route_paths(indexd)},
              "nginx": set(re.findall(r"location\s+=?\s*(/\S*)", _nginx()))}
    for name, service in _services().items():
        if "healthcheck" not in service:
            assert _is_ours(service), f"{name} has no health check"
            # the image's: /_status on $GATEWAY_PORT, which must be the port `serve` listens on
            assert _environment(service).get("GATEWAY_PORT", "8080") == str(_listen(name)[1]), name
            continue
        hits = _health_targets(service["healthcheck"]["test"])
        assert hits, f"{name}: the health check names no port"
        kind = "commons" if name in _commons() else "gateway" if name in _gateways() else name
        for port, path in hits:
            assert port == _listen(name)[1], f"{name}: health check on {port}, listens on {_listen(name)[1]}"
            if path is not None:
                assert path.split("?")[0] in served[kind], f"{name}: {path} is not a route it serves"
        if name == "nginx":
            assert "/_lb" in " ".join(service["healthcheck"]["test"])


# --- nginx --------------------------------------------------------------------------------------------------


def test_nginx_upstreams_are_the_replicas_at_their_ports():
    conf = _nginx()
    upstreams = dict(re.findall(r"upstream\s+(\S+)\s*\{(.*?)\}", conf, re.S))
    assert upstreams, "no upstream"
    for body in upstreams.values():
        servers = re.findall(r"^\s*server\s+([^:\s;]+):(\d+)", body, re.M)
        assert {host for host, _ in servers} == set(_gateways()), servers
        for host, port in servers:
            assert _listen(host)[1] == int(port), f"{host}:{port}: {host} listens on {_listen(host)[1]}"
    for target in re.findall(r"proxy_pass\s+http://([^/;\s]+)", conf):
        assert target in upstreams, f"proxy_pass to {target}, not an upstream"
    nginx = _services()["nginx"]
    mounts = [v.split(":") for v in nginx["volumes"]]
    assert ["./deploy/nginx.conf", "/etc/nginx/nginx.conf", "ro"] in mounts
    assert set(nginx["depends_on"]) >= set(_gateways())


# --- the image ----------------------------------------------------------------------------------------------


def test_every_build_arg_is_declared_and_every_copied_path_exists():
    declared = {rest.split("=")[0] for instruction, rest in _dockerfile() if instruction == "ARG"}
    for name, service in _services().items():
        build = service.get("build")
        if isinstance(build, dict):
            assert not set(build.get("args", {})) - declared, f"{name}: build args the Dockerfile does not declare"
            assert (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).exists()
        elif build is not None:
            assert (ROOT / build / "Dockerfile").exists()
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for instruction, rest in _dockerfile():
        if instruction == "COPY":
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such path (the build would fail)"
                hit = [p for p in ignored if fnmatch(source, p) or fnmatch(source.split("/")[0], p)]
                assert not hit, f"COPY {source}: excluded from the build context by .dockerignore {hit}"


def test_the_image_runs_unprivileged_on_all_interfaces_from_the_lock():
    steps = _dockerfile()
    users = [rest for instruction, rest in steps if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    with _only_env(_image_env()):
        settings = Settings()
    args = build_parser().parse_args(_image_cmd()[1:])
    assert (args.host or settings.host) == "0.0.0.0"
    assert str(args.port or settings.port) in [rest for instruction, rest in steps if instruction == "EXPOSE"]
    runs = [rest for instruction, rest in steps if instruction == "RUN"]
    lock = next(i for i, r in enumerate(runs) if "-r requirements.lock" in r)
    project = next(i for i, r in enumerate(runs) if re.search(r"pip install --no-deps \.(\s|$)", r))
    assert lock < project and "--no-deps" in runs[lock]
    # the lock is frozen for CPython 3.11 (its header): the base image must be that interpreter
    base = next(rest for instruction, rest in steps if instruction == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert base.split("=", 1)[1].startswith("python:3.11"), base
    assert "CPython 3.11" in (ROOT / "requirements.lock").read_text()


def _healthcheck_command() -> list[str]:
    rest = next(rest for instruction, rest in _dockerfile() if instruction == "HEALTHCHECK")
    return json.loads(rest[rest.index("CMD") + 3:].strip())


class _Status(BaseHTTPRequestHandler):
    code = 200

    def do_GET(self) -> None:
        code = self.code if self.path == "/_status" else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("code", "healthy"), [(200, True), (503, False), (None, False)])
def test_the_image_healthcheck_fails_when_the_gateway_does(code, healthy):
    """The HEALTHCHECK command itself, run against a server on 127.0.0.1 answering /_status with ``code`` (or
    nothing listening): healthy exactly on a 2xx, using the port of $GATEWAY_PORT."""
    command = _healthcheck_command()
    assert command[0] == "python"
    handler = type("Handler", (_Status,), {"code": code or 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    if code is None:
        server.server_close()
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "GATEWAY_PORT": str(port)}
        done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=20)
    finally:
        if code is not None:
            server.shutdown()
            server.server_close()
    assert (done.returncode == 0) is healthy, done.stderr.decode()
    assert "/_status" in _route_paths(status)


# --- the lock file ------------------------------------------------------------------------------------------


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version and " " not in line, f"{line!r} is not an exact pin"
        key = canonicalize_name(name)
        assert key not in pins, f"{name} pinned twice"
        pins[key] = version
    return pins


def test_the_lock_pins_every_runtime_dependency_at_an_allowed_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _lock()
    assert canonicalize_name(project["name"]) not in pins, "the project itself is installed from the source"
    for spec in project["dependencies"]:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.11", "sys_platform": "linux"}):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, pyproject.toml wants {req.specifier}: run `make lock`")


def test_make_lock_is_documented_and_refreshes_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    target = makefile[makefile.index("\nlock:"):]
    target = target[: target.index("\n\n")]
    assert "pip install" in target and "pip freeze" in target and "requirements.lock" in target
    assert "make lock" in (ROOT / "docs" / "deployment.md").read_text()
