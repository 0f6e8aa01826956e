"""The ``gateway`` command line.

``gateway serve``                 run the gateway (in-process reference commons by default; HTTPS too with --tls-*)
``gateway config show``           print the effective configuration (secrets hidden)
``gateway config docs``           print the reference table of every configuration key
``gateway refcommons serve``      run a standalone reference commons
``gateway refcommons api-key …``  create, list and revoke a reference commons' API keys
``gateway registry …``            list, join, preview, approve, suspend, remove member commons
``gateway admin add|list|revoke``  named admin credentials, in the gateway's store (a token is shown once)
``gateway db migrate``            apply the store schema's pending migrations (PostgreSQL)
``gateway resolve ID…``           which member commons holds each id
``gateway search``                federated cohort counts (total, facets, per-member status) through a running gateway
``gateway export``                stream a PFB file or a file manifest of accessible data from a running gateway
``gateway tls self-signed``       write a self-signed certificate and key for 127.0.0.1 / localhost
``gateway passport keys|serve-jwks|mint``  development Passport broker: JWKS, discovery, Passports (NOT FOR PRODUCTION)
``gateway passport inspect TOKEN``  validate Passports against the configured trust and explain every Visa and grant
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from gateway.cli import admin as admin_cli
from gateway.cli import db as db_cli
from gateway.cli import registry as registry_cli
from gateway.cli import resolve as resolver_cli
from gateway.cli import search as aggregate_cli
from gateway.cli.target import gateway_url
from gateway.passports.tools import cli as passport_cli
from refcommons import cli as refcommons_cli

if TYPE_CHECKING:  # annotations only: the settings and the app load when a command needs them
    import ssl

    from aiohttp import web

    from gateway.settings.gateway import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="YAML configuration file (default: $GATEWAY_CONFIG)")
    serve.add_argument("--host", help="override the configured host")
    serve.add_argument("--port", type=int, help="override the configured port")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate (chain): also serve HTTPS (tls.cert)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert (tls.key)")
    serve.add_argument("--tls-port", type=int, help="port of the HTTPS listener (tls.port, default 8443)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (workers; default: the "
                       "machine's cores; 1: one process, no supervisor)")
    serve.set_defaults(func=_serve)

    config = commands.add_parser("config", help="inspect configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_commands.add_parser("show", help="print the effective configuration as JSON")
    show.add_argument("--config", type=Path, help="YAML configuration file (default: $GATEWAY_CONFIG)")
    show.set_defaults(func=_config_show)
    docs = config_commands.add_parser("docs", help="print the Markdown reference table of every key")
    docs.set_defaults(func=_config_docs)

    tls = commands.add_parser("tls", help="TLS helpers")
    tls_commands = tls.add_subparsers(dest="tls_command", required=True, metavar="ACTION")
    self_signed = tls_commands.add_parser(
        "self-signed", help="write DIR/cert.pem and DIR/key.pem: a self-signed certificate for local HTTPS"
    )
    self_signed.add_argument("--out", type=Path, required=True, help="directory to write cert.pem and key.pem to")
    self_signed.add_argument("--hostname", action="append", help="DNS name in the certificate (repeatable; "
                             "default: localhost)")
    self_signed.add_argument("--ip", action="append", help="IP address in the certificate (repeatable; "
                             "default: 127.0.0.1)")
    self_signed.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    self_signed.set_defaults(func=_tls_self_signed)

    refcommons_cli.add_commands(commands)
    registry_cli.add_commands(commands)
    admin_cli.add_commands(commands)
    db_cli.add_commands(commands)
    resolver_cli.add_commands(commands)
    passport_cli.add_commands(commands)
    aggregate_cli.add_commands(commands)
    return parser


def _load(args: argparse.Namespace) -> Settings:
    from pydantic import ValidationError

    from gateway.settings.gateway import load_settings
    from gateway.settings.yaml_source import ConfigError

    try:
        settings = load_settings(args.config)
        _check_mappings(settings)
    except (ConfigError, ValidationError) as exc:
        raise SystemExit(f"gateway: invalid configuration: {exc}") from None
    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    tls = {k: v for k in ("cert", "key", "port") if (v := getattr(args, f"tls_{k}", None)) is not None}
    if tls:
        try:
            overrides["tls"] = type(settings.tls).model_validate({**settings.tls.model_dump(), **tls})
        except ValidationError as exc:
            raise SystemExit(f"gateway: invalid --tls-* option: {exc}") from None
    return settings.model_copy(update=overrides) if overrides else settings


def _check_mappings(settings: Settings) -> None:
    """Compile the study and cohort mappings as the app will (their meaning is checked there, not while the
    settings load: :mod:`gateway.settings` is a leaf), so ``config show`` refuses what ``serve`` would."""
    from gateway.discovery.mapping.compiler import compile_mappings
    from gateway.search.mapping.model import compile_cohort_mappings

    compile_mappings(settings.aggregate.mappings)
    compile_cohort_mappings(settings.aggregate.mappings.cohort)


class _ListenError(Exception):
    def __init__(self, host: str, port: int, exc: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _serve(args: argparse.Namespace) -> int:
    from gateway.app.tls import TlsError, server_context
    from gateway.core.logs import configure_logging

    settings = _load(args)
    ssl_context = None
    if settings.tls.cert or settings.tls.key:  # checked before anything is opened: a bad file is one line
        if not (settings.tls.cert and settings.tls.key):
            raise SystemExit("gateway: HTTPS needs both a certificate and a key (--tls-cert and --tls-key, "
                             "or tls.cert and tls.key)")
        try:
            ssl_context = server_context(settings.tls.cert, settings.tls.key)
        except TlsError as exc:
            raise SystemExit(f"gateway: {exc}") from None
    workers = args.workers if args.workers is not None else settings.workers or os.cpu_count() or 1
    if workers < 1:
        raise SystemExit("gateway: --workers must be at least 1")
    configure_logging(settings.log.level, fmt=settings.log.format, access=settings.log.access,
                      access_sample_rate=settings.log.access_sample_rate, access_slow_ms=settings.log.access_slow_ms)
    if workers > 1:
        return _serve_workers(settings, ssl_context, workers)
    return _serve_one(settings, ssl_context, None)


def _serve_one(settings: Settings, ssl_context: ssl.SSLContext | None, sockets: list[socket.socket] | None) -> int:
    """Serve in this process (on ``sockets`` when given, else bound here) until SIGINT/SIGTERM; errors one line."""
    from gateway.settings.yaml_source import ConfigError
    from gateway.store import StoreError

    try:
        asyncio.run(_run(settings, ssl_context, sockets))
    except _ListenError as exc:  # typically the port is taken: say so in one line, not a traceback
        raise SystemExit(f"gateway: {exc}") from None
    except ConfigError as exc:  # a section refused as the gateway starts (e.g. a field mapping)
        raise SystemExit(f"gateway: invalid configuration: {exc}") from None
    except StoreError as exc:  # no store server answers, or its schema is too new or not migrated: one line
        raise SystemExit(f"gateway: cannot open the store: {exc}") from None
    return 0


def _serve_workers(settings: Settings, ssl_context: ssl.SSLContext | None, workers: int) -> int:
    """``--workers N`` (N > 1): bind once here, then run N supervised workers on the sockets
    (:mod:`gateway.cli.workers`). Without ``PROMETHEUS_MULTIPROC_DIR``, a private temporary one for this run, so
    ``/metrics`` sums every worker; removed at exit."""
    import shutil
    import tempfile

    from gateway.cli.workers import Supervisor
    from gateway.core.metrics import multiprocess_dir, use_multiprocess_dir
    from gateway.store import StoreError

    ports = [settings.port] + ([settings.tls.port] if ssl_context is not None else [])
    slots: list[list[socket.socket]] = []  # per worker slot, one socket per listener (gateway.cli.workers)
    try:
        for _ in range(workers):
            slot = [_bind(settings.host, port, reuse_port=True) for port in ports]
            ports = [sock.getsockname()[1] for sock in slot]  # port 0: every slot on the port the first one got
            slots.append(slot)
    except _ListenError as exc:
        for sock in (s for slot in slots for s in slot):
            sock.close()
        raise SystemExit(f"gateway: {exc}") from None
    if settings.store.url.startswith("sqlite"):
        try:
            asyncio.run(_create_sqlite_store(settings))
        except StoreError as exc:
            raise SystemExit(f"gateway: cannot open the store: {exc}") from None
    made = None
    if multiprocess_dir() is None:
        made = tempfile.mkdtemp(prefix="gateway-metrics-")
        use_multiprocess_dir(made)
    print(f"gateway: starting {workers} workers", file=sys.stderr, flush=True)

    def worker(slot: int) -> int:
        for other, sockets in enumerate(slots):  # only its own slot's: the kernel must not queue on copies
            if other != slot:                     # a worker holds but never accepts from
                for sock in sockets:
                    sock.close()
        try:
            return _serve_one(settings, ssl_context, slots[slot])
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr, flush=True)
                return 1
            return int(exc.code or 0)

    try:
        return Supervisor(workers, worker, settings.shutdown_timeout).run()
    finally:
        for sock in (s for slot in slots for s in slot):
            sock.close()
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


async def _create_sqlite_store(settings: Settings) -> None:
    """Create the SQLite file (WAL mode, tables) once, before the workers start: N workers creating a fresh file
    at once can find it locked while another switches it to WAL (seen: one worker exiting at start)."""
    from gateway.store import open_store

    store = await open_store(settings.store.url, migrate_on_start=settings.store.migrate_on_start)
    await store.close()


async def _run(settings: Settings, ssl_context: ssl.SSLContext | None,
               inherited: list[socket.socket] | None = None) -> None:
    """Serve HTTP (and HTTPS when ``ssl_context`` is given) until SIGINT or SIGTERM, then shut down gracefully:
    stop accepting, let in-flight requests finish (up to ``shutdown_timeout``), run the app's shutdown and cleanup
    hooks. ``inherited``: the listening sockets a ``--workers`` parent bound (one per listener), served as they
    are; each response then names the worker (``X-Gateway-Worker: <pid>``)."""
    from aiohttp import web

    from gateway.app import create_app, serve_runner

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    listeners: list[tuple[str, int, ssl.SSLContext | None]] = [("http", settings.port, None)]
    if ssl_context is not None:
        listeners.append(("https", settings.tls.port, ssl_context))
    sockets: list[socket.socket] = []
    try:
        if inherited is not None:
            sockets = list(inherited)
        else:
            for _, port, _ in listeners:  # bind first: an instance that cannot serve writes nothing to shared state
                sockets.append(_bind(settings.host, port))
        app = await create_app(settings)
        if inherited is not None:
            app.on_response_prepare.append(_name_worker)
        runner = serve_runner(app, settings)
        try:
            await runner.setup()
            urls = []
            for (scheme, port, context), sock in zip(listeners, sockets, strict=True):
                await web.SockSite(runner, sock, ssl_context=context).start()
                bound = sock.getsockname()[1] if port == 0 else port
                urls.append(settings.base_url if scheme == "http" and port != 0 else
                            f"{scheme}://{settings.host}:{bound}")
            worker = f" [worker {os.getpid()}]" if inherited is not None else ""
            print(f"gateway listening on {' and '.join(urls)} (Ctrl-C to stop){worker}", file=sys.stderr, flush=True)
            settle_heap(settings.gc_threshold)
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        for sock in sockets:
            sock.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def settle_heap(gc_threshold: int) -> None:
    """Once start-up is done: what it built lives as long as the process, so it is kept out of every collection
    (``gc.freeze``), and the youngest generation is collected every ``gc_threshold`` allocations (0: Python's
    default), the older ones as Python does (see the setting ``gc_threshold``)."""
    gc.freeze()
    if gc_threshold:
        gc.set_threshold(gc_threshold, *gc.get_threshold()[1:])


async def _name_worker(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Gateway-Worker"] = str(os.getpid())


def _bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on ``host:port`` (what ``web.TCPSite`` would open), or :class:`_ListenError`.
    ``reuse_port``: one of several on the same port (``SO_REUSEPORT``), the kernel spreading connections over them."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise _ListenError(host, port, exc) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise _ListenError(host, port, exc) from None
    sock.setblocking(False)
    return sock


def _tls_self_signed(args: argparse.Namespace) -> int:
    from gateway.app.tls import write_self_signed

    hostnames = args.hostname or ["localhost"]
    ips = args.ip or ["127.0.0.1"]
    try:
        cert, key = write_self_signed(args.out, hostnames, ips, days=args.days)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"gateway tls self-signed: {exc}") from None
    print(f"wrote {cert} and {key} (valid for {', '.join([*hostnames, *ips])}, {args.days} days)", file=sys.stderr)
    return 0


def _config_show(args: argparse.Namespace) -> int:
    settings = _load(args)
    sys.stdout.write(orjson.dumps(settings.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _config_docs(args: argparse.Namespace) -> int:
    from gateway.settings.reference import config_reference_table

    sys.stdout.write(config_reference_table())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "gateway_client", False):  # a command that talks to a running gateway: which one
        args.url = gateway_url(args)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
