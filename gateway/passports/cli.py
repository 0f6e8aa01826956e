"""``gateway passport …``: the development broker (NOT FOR PRODUCTION) on the command line.

``keys``        print the development broker's public JWKS (creating its keys on first use), for pinning in config
``serve-jwks``  serve that JWKS and OIDC discovery over HTTP, for discovery-based trust
``mint``        print a Passport JWT with ControlledAccessGrants, RAS v1.1 and LinkedIdentities Visas

Every command says NOT FOR PRODUCTION on stderr; ``mint`` prints only the token on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from gateway.passports.devbroker import (
    DEFAULT_TTL, VISA_FORMATS, WARNING, DevBroker, DevBrokerError, KeyRing, RasPermission, jwks_app, set_issuer,
)
from gateway.passports.jws import ES256, RS256

_NOTE = "NOT FOR PRODUCTION: a development broker that signs whatever it is asked to."


def add_commands(commands: Any) -> None:
    """Register ``passport`` and its sub-commands on the top-level ``gateway`` parser."""
    passport = commands.add_parser(
        "passport", help="development Passport broker and Visa issuer (NOT FOR PRODUCTION)",
        description=f"GA4GH Passport development broker. {_NOTE}",
    )
    sub = passport.add_subparsers(dest="passport_command", required=True, metavar="ACTION")

    keys = sub.add_parser("keys", help="print the development broker's public JWKS (NOT FOR PRODUCTION)",
                          description=f"Print the public JWKS of the keys in --keys, creating an RS256 key on first "
                                      f"use. Pin it in the trust configuration. {_NOTE}")
    _keys_option(keys)
    keys.add_argument("--alg", action="append", choices=(RS256, ES256),
                      help="make sure a key for this algorithm exists (repeatable; default RS256)")
    keys.set_defaults(func=_keys)

    serve = sub.add_parser("serve-jwks", help="serve the JWKS and OIDC discovery (NOT FOR PRODUCTION)",
                           description=f"Serve /.well-known/jwks.json and /.well-known/openid-configuration. {_NOTE}")
    _keys_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, required=True, help="port to listen on (0: any free port)")
    serve.add_argument("--issuer", help="issuer URL named in discovery (default: http://HOST:PORT)")
    serve.add_argument("--alg", action="append", choices=(RS256, ES256),
                       help="make sure a key for this algorithm exists (repeatable; default RS256)")
    serve.set_defaults(func=_serve_jwks)

    mint = sub.add_parser("mint", help="print a Passport JWT (NOT FOR PRODUCTION)",
                          description=f"Print a Passport JWT on stdout. {_NOTE}")
    _keys_option(mint)
    mint.add_argument("--issuer", required=True, help="Passport issuer URL (the broker's `iss`)")
    mint.add_argument("--sub", required=True, help="the subject of the Passport and of its Visas")
    mint.add_argument("--grant", action="append", default=[], metavar="VALUE[@SOURCE]",
                      help="a ControlledAccessGrants Visa (repeatable); SOURCE defaults to the Visa issuer")
    mint.add_argument("--ras", action="append", default=[], metavar="phs000123.c1[:EXPIRES]",
                      help="a RAS v1.1 dbGaP permission (repeatable; all go into one RAS Visa, an access-token "
                           "Visa as RAS emits them); EXPIRES is epoch seconds or YYYY-MM-DD")
    mint.add_argument("--linked", action="append", default=[], nargs=2, metavar=("ISS", "SUB"),
                      help="a LinkedIdentities Visa entry linking this subject to ISS/SUB (repeatable)")
    mint.add_argument("--visa-issuer", help="Visa issuer URL (default: --issuer)")
    mint.add_argument("--aud", action="append", help="Passport audience (repeatable; default: none)")
    mint.add_argument("--ttl", type=int, default=DEFAULT_TTL, help=f"seconds of validity (default {DEFAULT_TTL})")
    mint.add_argument("--visa-format", choices=VISA_FORMATS, default="document",
                      help="document: Visa Document Tokens with jku (default); access: Visa Access Tokens")
    mint.add_argument("--alg", choices=(RS256, ES256), default=RS256, help="signing algorithm (default RS256)")
    mint.set_defaults(func=_mint)


def _keys_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", type=Path, required=True,
                        help="directory of the development broker's keys (created on first use)")


def _warn() -> None:
    print(f"gateway passport: {WARNING}", file=sys.stderr, flush=True)


def _fail(exc: Exception) -> SystemExit:
    return SystemExit(f"gateway passport: {exc}")


def _ring(args: argparse.Namespace, algorithms: list[str] | None) -> KeyRing:
    try:
        return KeyRing.open(args.keys, algorithms or [RS256])
    except (DevBrokerError, OSError) as exc:
        raise _fail(exc) from None


def _keys(args: argparse.Namespace) -> int:
    ring = _ring(args, args.alg)
    _warn()
    sys.stdout.write(json.dumps(ring.jwks(), indent=2) + "\n")
    return 0


def _mint(args: argparse.Namespace) -> int:
    if args.ttl <= 0:
        raise _fail("--ttl must be a positive number of seconds")
    ring = _ring(args, [args.alg])
    try:
        broker = DevBroker(ring, args.issuer, visa_issuer=args.visa_issuer, alg=args.alg,
                           visa_format=args.visa_format)
        visas = []
        for grant in args.grant:
            value, at, source = grant.rpartition("@") if "@" in grant else (grant, "", "")
            if not value:
                raise DevBrokerError(f"--grant {grant!r} has an empty value")
            visas.append(broker.controlled_access_grant(sub=args.sub, value=value, source=source or None,
                                                        ttl=args.ttl))
        if args.ras:
            permissions = [RasPermission.parse(spec) for spec in args.ras]
            visas.append(broker.ras_visa(sub=args.sub, permissions=permissions, ttl=args.ttl))
        if args.linked:
            visas.append(broker.linked_identities(sub=args.sub, identities=[tuple(p) for p in args.linked],
                                                  ttl=args.ttl))
        token = broker.passport(sub=args.sub, visas=visas, aud=args.aud, ttl=args.ttl)
    except DevBrokerError as exc:
        raise _fail(exc) from None
    _warn()
    sys.stdout.write(token + "\n")
    return 0


def _serve_jwks(args: argparse.Namespace) -> int:
    ring = _ring(args, args.alg)
    _warn()
    try:
        asyncio.run(_run_jwks(ring, args.host, args.port, args.issuer))
    except OSError as exc:
        raise SystemExit(f"gateway passport serve-jwks: cannot listen on {args.host}:{args.port}: "
                         f"{exc.strerror or exc}") from None
    return 0


async def _run_jwks(ring: KeyRing, host: str, port: int, issuer: str | None) -> None:
    from aiohttp import web

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = jwks_app(ring, issuer)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[-1][1]
        if issuer is None:
            name = f"[{host}]" if ":" in host else host
            issuer = f"http://{name}:{bound}"
            set_issuer(app, issuer)
        print(issuer, flush=True)
        print(f"gateway passport serve-jwks: development broker keys for {issuer} on {host}:{bound} "
              f"(NOT FOR PRODUCTION; Ctrl-C to stop)", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
