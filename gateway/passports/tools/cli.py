"""``gateway passport …``: inspect Passports, and the development broker (NOT FOR PRODUCTION) on the command line.

``inspect``     decode and validate Passports against the configured trust; explain every Visa and grant
``keys``        print the development broker's public JWKS (creating its keys on first use), for pinning in config
``serve-jwks``  serve that JWKS and OIDC discovery over HTTP, for discovery-based trust
``mint``        print a Passport JWT with ControlledAccessGrants, RAS v1.1 and LinkedIdentities Visas

Every development-broker command says NOT FOR PRODUCTION on stderr; ``mint`` prints only the token on stdout.
``inspect`` runs the real engine (:func:`gateway.passports.build.build_engine`, key fetching included) on the
gateway's own configuration; its report is :mod:`gateway.passports.tools.explain`'s. Exit codes: 0 valid, 1 rejected,
2 usage or configuration error, 3 keys unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gateway.core.egress import EgressPolicy
from gateway.passports.build import build_engine
from gateway.passports.evaluation import Evaluation, PassportRejected
from gateway.passports.jose.jwk import ES256, RS256
from gateway.passports.tools.devbroker import (
    DEFAULT_TTL,
    VISA_FORMATS,
    WARNING,
    DevBroker,
    DevBrokerError,
    KeyRing,
    RasPermission,
    jwks_app,
    set_issuer,
)
from gateway.passports.tools.explain import KEYS_UNAVAILABLE, Outcome, explain, render_text
from gateway.settings.passports import PassportsConfig

if TYPE_CHECKING:
    from pydantic import ValidationError

_NOTE = "NOT FOR PRODUCTION: a development broker that signs whatever it is asked to."


def add_commands(commands: Any) -> None:
    """Register ``passport`` and its sub-commands on the top-level ``gateway`` parser."""
    passport = commands.add_parser(
        "passport", help="inspect Passports; development Passport broker and Visa issuer (NOT FOR PRODUCTION)",
        description=f"GA4GH Passports: `inspect` validates Passports against the configured trust; `keys`, "
                    f"`serve-jwks` and `mint` are a development broker. {_NOTE}",
    )
    sub = passport.add_subparsers(dest="passport_command", required=True, metavar="ACTION")
    _add_inspect(sub)

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


def _fail(exc: Exception | str) -> SystemExit:
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
            value, _at, source = grant.rpartition("@") if "@" in grant else (grant, "", "")
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


# --- inspect ------------------------------------------------------------------------------------------------------

EXIT_VALID, EXIT_REJECTED, EXIT_USAGE, EXIT_KEYS_UNAVAILABLE = 0, 1, 2, 3
_INSPECT = "gateway passport inspect"
_ENABLE_HINT = ("passports are disabled in the configuration: set `passports.enabled: true` with at least one "
                "`passports.trusted_brokers` entry in the --config file (or GATEWAY_PASSPORTS__ENABLED=true)")


class _Usage(Exception):
    """A usage or configuration problem: one line on stderr, exit 2."""


def _add_inspect(sub: Any) -> None:
    inspect = sub.add_parser(
        "inspect", help="decode and validate Passports against the configured trust, explaining every Visa",
        description="Validate one request's Passports with the gateway's own engine and trust configuration (keys "
                    "are fetched as the gateway would), then explain visa by visa what was accepted or ignored "
                    "and why, and which datasets are granted until when. Raw tokens are never printed. Exit "
                    "status: 0 valid (even with no grant), 1 rejected, 2 usage or configuration error, 3 keys "
                    "unavailable.",
    )
    inspect.add_argument("tokens", nargs="+", metavar="TOKEN",
                         help="a Passport JWT, '-' to read stdin, or @FILE; several are evaluated together as one "
                              "request. stdin and files hold whitespace-separated tokens, a JSON array of them, or "
                              "a DRS request body {\"passports\": [...]}")
    inspect.add_argument("--config", type=Path, help="YAML configuration file (default: $GATEWAY_CONFIG); "
                                                     "GATEWAY_* variables override it, as for `gateway serve`")
    inspect.add_argument("--now", type=_moment, metavar="EPOCH",
                         help="evaluate at this time: seconds since the epoch, or +SECONDS from now")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.set_defaults(func=_inspect)


def _moment(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not seconds since the epoch or +SECONDS") from None
    if text.startswith("+"):
        return int(time.time()) + value
    if value < 0:
        raise argparse.ArgumentTypeError("a time before 1970 is not a useful time")
    return value


def _inspect(args: argparse.Namespace) -> int:
    quiet = logging.getLogger("gateway.passports")
    if not quiet.handlers:  # the report explains failures; no bare "key fetch failed" from logging's last resort
        quiet.addHandler(logging.NullHandler())
    try:
        tokens = read_tokens(args.tokens, sys.stdin)
        config, egress = _passports_config(args.config)
        now = args.now if args.now is not None else int(time.time())
        outcome, alone = asyncio.run(_evaluate(config, tokens, now, egress))
    except _Usage as exc:
        print(f"{_INSPECT}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = explain(tokens, outcome, now, alone=alone)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(report))
    if isinstance(outcome, Evaluation):
        return EXIT_VALID
    return EXIT_KEYS_UNAVAILABLE if outcome.status == KEYS_UNAVAILABLE else EXIT_REJECTED


def read_tokens(specs: Sequence[str], stdin: TextIO) -> list[str]:
    """The Passports named on the command line: tokens, ``-`` (stdin, once) and ``@FILE``, in order."""
    tokens: list[str] = []
    stdin_read = False
    for spec in specs:
        if spec == "-":
            if stdin_read:
                raise _Usage("'-' (stdin) may be given only once")
            stdin_read = True
            tokens.extend(_split(stdin.read(), "stdin"))
        elif spec.startswith("@"):
            tokens.extend(_split(_read_file(Path(spec[1:])), spec[1:]))
        else:
            tokens.append(spec.strip())
    return tokens


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _Usage(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _Usage(f"{path} is not UTF-8 text") from None


def _split(text: str, where: str) -> list[str]:
    """Whitespace-separated tokens, a JSON array of them, or a DRS body ``{"passports": [...]}``."""
    text = text.strip()
    if text[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except ValueError:
            raise _Usage(f"{where} looks like JSON but is not valid JSON") from None
        found = doc.get("passports") if isinstance(doc, dict) else doc
        if not isinstance(found, list) or not all(isinstance(t, str) for t in found):
            raise _Usage(f"{where}: expected a JSON array of tokens or an object with a `passports` array")
    else:
        found = text.split()
    if not found:
        raise _Usage(f"{where} holds no token")
    return found


def _passports_config(path: Path | None) -> tuple[PassportsConfig, EgressPolicy]:
    """The ``passports`` section of the gateway's settings, loaded as ``gateway serve`` loads them, and the egress
    policy keys are fetched under (as the gateway's)."""
    from pydantic import ValidationError

    from gateway.settings.gateway import load_settings
    from gateway.settings.yaml_source import ConfigError

    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise _Usage(f"invalid configuration: {exc}") from None
    except ValidationError as exc:
        raise _Usage(f"invalid configuration: {_problems(exc)}") from None
    if not settings.passports.enabled:
        raise _Usage(_ENABLE_HINT)
    egress = EgressPolicy.denying(settings.egress.deny_networks, allow=settings.egress.allow_networks)
    return settings.passports, egress


def _problems(exc: ValidationError) -> str:
    """A pydantic ``ValidationError`` on one line, without the offending input (it may hold secrets)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())


async def _evaluate(config: PassportsConfig, tokens: list[str], now: int,
                    egress: EgressPolicy) -> tuple[Outcome, Mapping[int, Outcome] | None]:
    """The request's outcome from the real engine; when it is rejected and holds several Passports, each one's
    outcome on its own too, so the report can say which Passport failed."""
    try:
        engine = build_engine(config, egress=egress)
    except ValueError as exc:  # TrustConfigError and the like: the gateway would refuse to start
        raise _Usage(f"invalid passports configuration: {exc}") from None
    try:
        outcome = await _outcome(engine.evaluate(tokens, now, use_cache=False))
        alone = None
        if isinstance(outcome, PassportRejected) and _attributable(outcome, tokens, engine.max_passports):
            alone = {i: await _outcome(engine.evaluate([t], now, use_cache=False)) for i, t in enumerate(tokens)}
        return outcome, alone
    finally:
        await engine.aclose()


async def _outcome(evaluation: Awaitable[Evaluation]) -> Outcome:
    try:
        return await evaluation
    except PassportRejected as exc:
        return exc


def _attributable(rejection: PassportRejected, tokens: Sequence[str], max_passports: int) -> bool:
    """Worth evaluating the Passports one by one: several of them, not too many, and not an envelope problem or
    unavailable keys (those concern the request, or would fail again)."""
    return (1 < len(tokens) <= max_passports and rejection.status != KEYS_UNAVAILABLE
            and rejection.rule not in (1, 2))
