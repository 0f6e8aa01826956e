"""``gateway refcommons …``: run a standalone reference commons and manage its API keys.

``serve`` writes ``commons.json`` (prefix, seed, subjects, public URL) into ``--data-dir`` so the
``api-key`` commands, run later against the same directory, mint keys the running server accepts.

GA4GH Passports and gateway tokens: ``--passports-config FILE`` (YAML or JSON holding the ``passports``
section, the gateway's own format, either bare or under a ``passports`` key), ``--trust-gateway
ISSUER=JWKS_URL`` (repeatable) and ``--allow-insecure-loopback`` (gateway JWKS over http to a loopback host,
for development). A bad value is a one-line error and exit status 2. The descriptor records where these
came from (file path, issuers and JWKS URLs: nothing secret); the ``api-key`` commands do not load them.

Guppy's tiered access: ``--tier-access-level private|regular|libre`` (default ``regular``) and
``--tier-access-limit N`` (default 50, not Guppy's 1000).

Layouts (:mod:`refcommons.layout`): ``--layout gen3`` (default; Gen3's reverse-proxy layout on ``--port``),
``indexd`` (indexd alone at its root on ``--port``, no fence) or ``split`` (each service on its own port: ``--port``
is indexd's and the others follow in order, fence, guppy, mds, arborist, sheepdog, unless ``--service-port
SERVER=PORT`` says otherwise; ``--service-url SERVER=URL`` sets a server's public URL). On start it prints which URL
serves what.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from pydantic import ValidationError

from refcommons.layout import GEN3, LAYOUTS, SPLIT, Layout, check_layout, servers, service_urls
from refcommons.settings import DEFAULT_TIER_LEVEL, DEFAULT_TIER_LIMIT, TIER_LEVELS, CommonsSettings, TrustedGateway

if TYPE_CHECKING:
    from gateway.settings.passports import PassportsConfig

DESCRIPTOR = "commons.json"
USAGE_ERROR = 2


def add_commands(commands: Any) -> None:
    """Register ``refcommons`` and its sub-commands on the top-level ``gateway`` parser."""
    rc = commands.add_parser("refcommons", help="the bundled reference commons")
    sub = rc.add_subparsers(dest="refcommons_command", required=True, metavar="ACTION")

    serve = sub.add_parser("serve", help="run a standalone reference commons")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8701, help="the port (split: indexd's; the others follow it)")
    serve.add_argument("--layout", choices=LAYOUTS, default=GEN3,
                       help="gen3: Gen3's reverse-proxy layout under one host; indexd: indexd alone at its root "
                            "(no fence); split: each service on its own port")
    serve.add_argument("--service-port", action="append", default=[], type=_server_value, metavar="SERVER=PORT",
                       help="split: the port of one server (indexd, fence, guppy, mds, arborist, sheepdog)")
    serve.add_argument("--service-url", action="append", default=[], type=_server_value, metavar="SERVER=URL",
                       help="split: the public URL of one server (default http://HOST:PORT)")
    serve.add_argument("--prefix", default="dg.TST1", help="GUID prefix, e.g. dg.TST1")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--subjects", type=int, default=500)
    serve.add_argument("--data-dir", type=Path, help="persist keys, API keys and writes here (default: memory)")
    serve.add_argument("--public-url", help="base URL clients use (default: http://HOST:PORT)")
    serve.add_argument("--user-yaml", type=Path, help="Gen3 user.yaml policy (default: built-in users)")
    serve.add_argument("--drs-profile", choices=("1.5", "1.2"), default="1.5")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    serve.add_argument("--passports-config", type=Path, metavar="FILE",
                       help="accept GA4GH Passports: YAML or JSON file holding the `passports` section")
    serve.add_argument("--trust-gateway", action="append", default=[], type=_trusted_gateway,
                       metavar="ISSUER=JWKS_URL", help="accept this federation gateway's tokens (repeatable)")
    serve.add_argument("--allow-insecure-loopback", action="store_true",
                       help="DEVELOPMENT ONLY: fetch gateway JWKS over http from 127.0.0.1, ::1 or localhost")
    serve.add_argument("--tier-access-level", choices=TIER_LEVELS, default=DEFAULT_TIER_LEVEL,
                       help="Guppy tiered access: private (only the caller's data), regular (summary counts of "
                            "everything, small ones hidden) or libre (everything)")
    serve.add_argument("--tier-access-limit", type=_tier_limit, default=DEFAULT_TIER_LIMIT, metavar="N",
                       help="under regular, hide counts whose inaccessible part is in (0, N)")
    serve.set_defaults(func=_serve)

    keys = sub.add_parser("api-key", help="manage API keys of a commons (by its --data-dir)")
    key_sub = keys.add_subparsers(dest="api_key_command", required=True, metavar="ACTION")
    create = key_sub.add_parser("create", help="mint an API key; prints Gen3 credentials JSON")
    create.add_argument("--data-dir", type=Path, required=True)
    create.add_argument("--user", required=True, help="user name, as in the policy (e.g. admin@refcommons.example)")
    create.add_argument("--expires-in-days", type=float, default=30.0)
    create.add_argument("--out", type=Path, help="write the credentials file here (mode 0600) instead of stdout")
    create.set_defaults(func=_api_key_create)
    listing = key_sub.add_parser("list", help="list a user's API keys")
    listing.add_argument("--data-dir", type=Path, required=True)
    listing.add_argument("--user", required=True)
    listing.set_defaults(func=_api_key_list)
    revoke = key_sub.add_parser("revoke", help="revoke an API key by its key_id")
    revoke.add_argument("--data-dir", type=Path, required=True)
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_api_key_revoke)


def _tier_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _server_value(spec: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected SERVER=VALUE, got {spec!r}")
    return name.strip(), value.strip()


def server_ports(layout: Layout, port: int, overrides: list[tuple[str, str]]) -> dict[str, int]:
    """Each server's port: ``port`` then the next ones, in the layout's order, unless ``overrides`` names it;
    :class:`ValueError` for an unknown server, a port that is not one, or two servers on one port."""
    names = servers(layout)
    ports = {name: port + i for i, name in enumerate(names)}
    for name, value in overrides:
        if name not in ports:
            raise ValueError(f"--service-port: layout {layout} has no server {name!r} "
                             f"(its servers: {', '.join(names)})")
        try:
            ports[name] = int(value)
        except ValueError:
            raise ValueError(f"--service-port {name}: not a port: {value!r}") from None
    if any(not 0 < p < 65536 for p in ports.values()) or len(set(ports.values())) != len(ports):
        raise ValueError(f"each server needs its own port in 1..65535, got {ports}")
    return ports


def _trusted_gateway(spec: str) -> TrustedGateway:
    try:
        return TrustedGateway.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def load_passports_config(path: Path) -> PassportsConfig:
    """The ``passports`` section in ``path`` (JSON for ``.json``, else YAML; bare or under ``passports``),
    validated, with its trust configuration and grant mapping built once; :class:`ValueError` saying what is
    wrong otherwise."""
    from gateway.passports import build_trust, grant_config
    from gateway.settings.passports import PassportsConfig

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read passports config {path}: {exc.strerror or exc}") from None
    try:
        doc = orjson.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"passports config {path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}"
                         f": {_parse_problem(exc)}") from None
    if isinstance(doc, dict) and set(doc) == {"passports"}:
        doc = doc["passports"]
    if not isinstance(doc, dict):
        raise ValueError(f"passports config {path} must hold a mapping (the `passports` section)")
    try:
        config = PassportsConfig.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'passports'}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise ValueError(f"passports config {path} is invalid: {problems}") from None
    if config.enabled:
        try:
            build_trust(config)
            grant_config(config.grants)
        except ValueError as exc:
            raise ValueError(f"passports config {path} is unusable: {exc}") from None
    return config


def _parse_problem(exc: Exception) -> str:
    """One line saying what is wrong where, from a JSON or YAML parser error."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{exc.problem}{where}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _usage_error(message: str) -> SystemExit:
    print(f"gateway refcommons serve: {message}", file=sys.stderr)
    return SystemExit(USAGE_ERROR)


def settings_from_args(args: argparse.Namespace) -> CommonsSettings:
    """The settings ``serve`` runs with; a bad ``--passports-config`` or ``--trust-gateway`` prints one line and
    exits with status 2."""
    from refcommons.fence.gateway_trust import gateway_map

    passports = None
    if getattr(args, "passports_config", None) is not None:
        try:
            passports = load_passports_config(args.passports_config)
        except ValueError as exc:
            raise _usage_error(str(exc)) from None
    gateways = tuple(getattr(args, "trust_gateway", None) or ())
    loopback = bool(getattr(args, "allow_insecure_loopback", False))
    try:
        gateway_map(gateways, allow_insecure_loopback=loopback)
    except ValueError as exc:
        raise _usage_error(f"--trust-gateway: {exc}") from None
    layout, server_urls = _layout_urls(args)
    first = servers(layout)[0]
    return CommonsSettings(
        prefix=args.prefix,
        seed=args.seed,
        subjects=args.subjects,
        base_url=(args.public_url or server_urls[first]).rstrip("/"),
        layout=layout,
        server_urls=server_urls if layout == SPLIT else {},
        data_dir=args.data_dir,
        user_yaml=args.user_yaml,
        drs_profile=args.drs_profile,
        passports=passports,
        trusted_gateways=gateways,
        allow_insecure_loopback=loopback,
        tier_access_level=getattr(args, "tier_access_level", DEFAULT_TIER_LEVEL),
        tier_access_limit=getattr(args, "tier_access_limit", DEFAULT_TIER_LIMIT),
    )


def _layout_urls(args: argparse.Namespace) -> tuple[Layout, dict[str, str]]:
    """The layout and each server's public URL (``http://HOST:PORT`` unless ``--service-url`` says otherwise)."""
    layout = check_layout(getattr(args, "layout", GEN3))
    service_ports = list(getattr(args, "service_port", None) or ())
    service_url = list(getattr(args, "service_url", None) or ())
    if layout != SPLIT and (service_ports or service_url):
        raise _usage_error("--service-port and --service-url need --layout split (use --port and --public-url)")
    if layout == SPLIT and args.public_url:
        raise _usage_error("--layout split: give each server's public URL with --service-url SERVER=URL")
    try:
        ports = server_ports(layout, args.port, service_ports)
    except ValueError as exc:
        raise _usage_error(str(exc)) from None
    urls = {name: f"http://{args.host}:{port}" for name, port in ports.items()}
    for name, url in service_url:
        if name not in urls:
            raise _usage_error(f"--service-url: layout {layout} has no server {name!r}")
        urls[name] = url.rstrip("/")
    return layout, urls


def write_descriptor(settings: CommonsSettings, *, passports_config: Path | None = None) -> None:
    """``commons.json`` in the data dir: what ``api-key`` commands need, plus where Passport and gateway trust
    came from (a file path, issuers and JWKS URLs; no secrets)."""
    if settings.data_dir is None:
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "prefix": settings.prefix,
        "seed": settings.seed,
        "subjects": settings.subjects,
        "base_url": settings.base_url,
        "layout": settings.layout,
        "server_urls": dict(settings.server_urls),
        "user_yaml": str(settings.user_yaml) if settings.user_yaml else None,
        "passports_config": str(passports_config.resolve()) if passports_config else None,
        "passports_enabled": settings.passports_enabled,
        "trusted_gateways": [{"issuer": g.issuer, "jwks_uri": g.jwks_uri} for g in settings.trusted_gateways],
        "allow_insecure_loopback": settings.allow_insecure_loopback,
    }
    (settings.data_dir / DESCRIPTOR).write_text(json.dumps(info, indent=2) + "\n")


def read_descriptor(data_dir: Path) -> CommonsSettings:
    path = data_dir / DESCRIPTOR
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"no {DESCRIPTOR} in {data_dir}: start the commons once with --data-dir {data_dir}") from None
    user_yaml = Path(info["user_yaml"]) if info.get("user_yaml") else None
    return CommonsSettings(
        prefix=info["prefix"], seed=info["seed"], subjects=info["subjects"], base_url=info["base_url"],
        layout=info.get("layout", GEN3), server_urls=info.get("server_urls") or {}, data_dir=data_dir,
        user_yaml=user_yaml,
    )


def _serve(args: argparse.Namespace) -> int:
    from gateway.core.logs import configure_logging

    settings = settings_from_args(args)
    configure_logging(args.log_level)
    write_descriptor(settings, passports_config=args.passports_config)
    ports = server_ports(settings.layout, args.port, list(getattr(args, "service_port", None) or ()))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C before the commons is up
        asyncio.run(_run(settings, args.host, ports))
    return 0


def served_lines(settings: CommonsSettings, ports: dict[str, int], host: str) -> list[str]:
    """What ``serve`` prints on start: each server's address and public URL, then each service's public URL."""
    lines = [f"reference commons {settings.prefix} ({settings.layout} layout) listening on "
             f"{settings.urls[name]}" + (f" [{name}, {host}:{port}]" if len(ports) > 1 else "")
             for name, port in ports.items()]
    lines += [f"  {service:<9} {url}" for service, url in service_urls(settings.layout, settings.urls).items()]
    if not settings.serves_fence:
        lines.append("  (no fence: no tokens, signed URLs or DRS access, as indexd alone)")
    return [*lines, "(Ctrl-C to stop)"]


async def _run(settings: CommonsSettings, host: str, ports: dict[str, int]) -> None:
    """Serve every server of the commons' layout until SIGINT or SIGTERM; one line, exit status 1, when a port
    cannot be listened on."""
    import signal

    from aiohttp import web

    from refcommons.app import build_apps
    from refcommons.commons import ReferenceCommons

    commons = await ReferenceCommons.open(settings)
    runners: list[web.AppRunner] = []
    try:
        for name, app in build_apps(commons).items():
            runner = web.AppRunner(app, access_log=None, keepalive_timeout=75.0)  # web.run_app's keep-alive
            await runner.setup()
            runners.append(runner)
            try:
                await web.TCPSite(runner, host, ports[name]).start()
            except OSError as exc:  # typically the port is taken: say so in one line, not a traceback
                where = f"{host}:{ports[name]}"
                raise SystemExit(f"gateway refcommons: cannot listen on {where}: {exc.strerror or exc}") from None
        print("\n".join(served_lines(settings, ports, host)), file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        await commons.close()


async def _with_commons(data_dir: Path, action: Any) -> Any:
    from refcommons.commons import ReferenceCommons

    commons = await ReferenceCommons.open(read_descriptor(data_dir))
    try:
        return await action(commons)
    finally:
        await commons.close()


def _api_key_create(args: argparse.Namespace) -> int:
    ttl = int(args.expires_in_days * 86400)
    creds = asyncio.run(_with_commons(args.data_dir, lambda c: c.fence.create_api_key(args.user, ttl_seconds=ttl)))
    text = json.dumps(creds) + "\n"
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        print(f"wrote credentials for {args.user} (key_id {creds['key_id']}) to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _api_key_list(args: argparse.Namespace) -> int:
    keys = asyncio.run(_with_commons(args.data_dir, lambda c: c.fence.list_api_keys(args.user)))
    sys.stdout.write(json.dumps(keys, indent=2, default=str) + "\n")
    return 0


def _api_key_revoke(args: argparse.Namespace) -> int:
    done = asyncio.run(_with_commons(args.data_dir, lambda c: c.fence.revoke_api_key(args.key_id)))
    if not done:
        print(f"no API key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}", file=sys.stderr)
    return 0
