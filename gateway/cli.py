"""The ``gateway`` command line.

``gateway serve``                 run the gateway (in-process reference commons by default)
``gateway config show``           print the effective configuration (secrets hidden)
``gateway config docs``           print the reference table of every configuration key
``gateway refcommons serve``      run a standalone reference commons
``gateway refcommons api-key …``  create, list and revoke a reference commons' API keys
``gateway registry …``            list, join, approve, suspend, remove member commons
``gateway resolve ID…``           which member commons holds each id
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from refcommons import cli as refcommons_cli
from gateway.resolver import cli as resolver_cli
from registry import cli as registry_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="YAML configuration file (default: $GATEWAY_CONFIG)")
    serve.add_argument("--host", help="override the configured host")
    serve.add_argument("--port", type=int, help="override the configured port")
    serve.set_defaults(func=_serve)

    config = commands.add_parser("config", help="inspect configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_commands.add_parser("show", help="print the effective configuration as JSON")
    show.add_argument("--config", type=Path, help="YAML configuration file (default: $GATEWAY_CONFIG)")
    show.set_defaults(func=_config_show)
    docs = config_commands.add_parser("docs", help="print the Markdown reference table of every key")
    docs.set_defaults(func=_config_docs)

    refcommons_cli.add_commands(commands)
    registry_cli.add_commands(commands)
    resolver_cli.add_commands(commands)
    return parser


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from gateway.config import ConfigError, load_settings
    from pydantic import ValidationError

    try:
        settings = load_settings(args.config)
    except (ConfigError, ValidationError) as exc:
        raise SystemExit(f"gateway: invalid configuration: {exc}") from None
    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    return settings.model_copy(update=overrides) if overrides else settings


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from gateway.app import create_app
    from gateway.logs import configure_logging

    settings = _load(args)
    configure_logging(settings.log.level, fmt=settings.log.format, access=settings.log.access)
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            access_log=None,
            print=lambda msg: print(f"gateway listening on {settings.base_url} (Ctrl-C to stop)", file=sys.stderr),
        )
    except OSError as exc:  # typically the port is taken: say so in one line, not a traceback
        raise SystemExit(f"gateway: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    return 0


def _config_show(args: argparse.Namespace) -> int:
    settings = _load(args)
    sys.stdout.write(orjson.dumps(settings.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _config_docs(args: argparse.Namespace) -> int:
    from gateway.config import config_reference_table

    sys.stdout.write(config_reference_table())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
