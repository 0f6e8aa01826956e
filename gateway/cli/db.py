"""``gateway db migrate``: bring the store's schema to the version this gateway needs.

It reads the configuration as ``gateway serve`` does (``--config`` or ``$GATEWAY_CONFIG``, then ``GATEWAY_*``) and,
for a PostgreSQL store (``store.url: postgresql://…``), applies the pending migrations of
:mod:`gateway.store.migrations` under their advisory lock (safe while gateways run: one migrator at a time, each
step in its own transaction), then prints the schema's version. SQLite and Redis stores have no versioned schema:
the command says so and succeeds. A schema newer than this gateway, a server that does not answer, or a bad
configuration: one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


class _Refused(Exception):
    """A failure to report in one line."""


def add_commands(subparsers: Any) -> None:
    """Register ``db`` and its actions on the ``gateway`` command's subparsers."""
    db = subparsers.add_parser("db", help="the store's schema (PostgreSQL): migrate")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    migrate = actions.add_parser("migrate", help="apply the store schema's pending migrations (PostgreSQL)")
    migrate.add_argument("--config", type=Path, help="YAML configuration file (default: $GATEWAY_CONFIG)")
    migrate.set_defaults(func=_run)


async def _migrate(config: Path | None) -> str:
    from pydantic import ValidationError

    from gateway.settings.gateway import load_settings
    from gateway.settings.yaml_source import ConfigError
    from gateway.store import StoreError
    from gateway.store.factory import redacted
    from gateway.store.migrations import LATEST
    from gateway.store.postgres import PostgresStore

    try:
        settings = load_settings(config)
    except (ConfigError, ValidationError) as exc:
        raise _Refused(f"invalid configuration: {exc}") from None
    url = settings.store.url
    if url.partition(":")[0].lower() not in ("postgresql", "postgres"):
        return f"nothing to migrate: the store {redacted(url)} has no versioned schema (PostgreSQL stores do)\n"
    try:
        store = await PostgresStore.open(url, timeout=settings.store.timeout, pool_size=1, migrate_on_start=True)
    except StoreError as exc:
        raise _Refused(f"cannot migrate the store {redacted(url)}: {exc}") from None
    await store.close()
    if store.migrated:
        return f"store schema migrated to version {LATEST} (applied: {', '.join(map(str, store.migrated))})\n"
    return f"store schema already at version {LATEST}\n"


def _run(args: argparse.Namespace) -> int:
    try:
        out = asyncio.run(_migrate(args.config))
    except _Refused as exc:
        print(f"gateway db: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 0
