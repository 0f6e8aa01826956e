"""Which gateway a client command talks to: one rule for ``registry``, ``resolve``, ``search`` and ``export``.

In this order, the first that is set wins:

1. ``--url`` on the command line;
2. ``$GATEWAY_URL``;
3. the configured host and port, as ``gateway serve`` would read them (``--config`` or ``$GATEWAY_CONFIG``, overlaid
   by ``GATEWAY_HOST`` / ``GATEWAY_PORT``), over plain HTTP. A wildcard host (``0.0.0.0``, ``::``, empty) means
   this machine (``127.0.0.1``, ``::1``); an IPv6 host is bracketed. With nothing configured: ``http://127.0.0.1:8080``.

:func:`choose_url` is the rule (pure); :func:`add_url_options` declares the options and :func:`gateway_url` applies
the rule to parsed arguments, reading the configuration only when neither ``--url`` nor ``$GATEWAY_URL`` is set.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path

URL_ENV = "GATEWAY_URL"
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def configured_url(host: str, port: int) -> str:
    """``http://host:port`` of a configured listener, as a client on this machine reaches it (pure)."""
    host = _WILDCARDS.get(host.strip(), host.strip())
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def choose_url(flag: str | None, env: Mapping[str, str], configured: Callable[[], tuple[str, int]]) -> str:
    """The gateway's base URL (no trailing ``/``): ``flag``, else ``env[GATEWAY_URL]``, else the ``configured``
    host and port (called only then)."""
    for given in (flag, env.get(URL_ENV)):
        if given and given.strip():
            return given.strip().rstrip("/")
    return configured_url(*configured())


def add_url_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--config`` of a client command, whose ``args.url`` :func:`gateway.cli.main.main` then sets
    with :func:`gateway_url` before the command runs."""
    parser.set_defaults(gateway_client=True)
    parser.add_argument("--url", default=None, help=f"gateway base URL (default: ${URL_ENV}, else the configured "
                        "host and port: GATEWAY_HOST, GATEWAY_PORT, the config file; else http://127.0.0.1:8080)")
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML configuration file whose host and port name the gateway (default: $GATEWAY_CONFIG)")


def _configured(config: Path | None) -> Callable[[], tuple[str, int]]:
    def read() -> tuple[str, int]:
        from pydantic import ValidationError

        from gateway.settings.gateway import load_settings
        from gateway.settings.yaml_source import ConfigError

        try:
            settings = load_settings(config)
        except (ConfigError, ValidationError) as exc:
            raise SystemExit(f"gateway: cannot read the configured host and port ({exc}); "
                             f"pass --url or set ${URL_ENV}") from None
        return settings.host, settings.port

    return read


def gateway_url(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> str:
    """The base URL the command of ``args`` talks to (:func:`choose_url` over its ``--url`` and ``--config``)."""
    return choose_url(getattr(args, "url", None), os.environ if env is None else env,
                      _configured(getattr(args, "config", None)))
