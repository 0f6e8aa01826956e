"""``gateway admin add|list|revoke``: named admin credentials, written straight to the gateway's store.

These commands read the configuration (``--config`` or ``$GATEWAY_CONFIG``, then ``GATEWAY_*``) for the store's URL
and open it as the gateway does, so they work without a running gateway and without any admin token: whoever may
read the configuration and reach the store is the operator. A running gateway (every replica) sees an addition or a
revocation on its next admin request, no restart. ``add NAME`` prints the new token on stdout, once (only its
SHA-256 is stored); the audit log records these as the actor ``cli``. A running gateway offers the same over HTTP to
an admin: ``GET|POST /registry/v1/admins``, ``DELETE /registry/v1/admins/{name}``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

if TYPE_CHECKING:  # the registry and the store load when a command runs
    from gateway.registry.admins import AdminCredentials

T = TypeVar("T")
ACTOR = "cli"


class _Refused(Exception):
    """A failure to report in one line."""


def add_commands(subparsers: Any) -> None:
    """Register ``admin`` and its actions on the ``gateway`` command's subparsers."""
    admin = subparsers.add_parser("admin", help="add, list or revoke named admin credentials (in the store)")
    actions = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        parser.add_argument("--config", type=Path, help="YAML configuration file (default: $GATEWAY_CONFIG)")
        parser.set_defaults(func=_run)
        return parser

    action("add", "add a named admin and print its token (shown once)").add_argument("name", metavar="NAME")
    action("list", "list the named admins").add_argument("--json", action="store_true", help="print JSON")
    action("revoke", "revoke a named admin: its token is refused at once").add_argument("name", metavar="NAME")


async def _with_admins(config: Path | None, act: Callable[[AdminCredentials], Awaitable[T]]) -> T:
    from pydantic import ValidationError

    from gateway.registry.admins import AdminCredentials
    from gateway.registry.repository import RegistryRepository
    from gateway.settings.gateway import load_settings
    from gateway.settings.yaml_source import ConfigError
    from gateway.store import StoreError, open_store
    from gateway.store.factory import redacted

    try:
        settings = load_settings(config)
    except (ConfigError, ValidationError) as exc:
        raise _Refused(f"invalid configuration: {exc}") from None
    url = settings.store.url
    if url in ("sqlite://:memory:", "sqlite:///:memory:"):
        raise _Refused(f"the store {url} is private to each process: admins must live in a shared store")
    try:
        store = await open_store(url, key_prefix=settings.store.key_prefix)
    except (StoreError, ValueError, OSError) as exc:
        raise _Refused(f"cannot open the store {redacted(url)}: {exc}") from None
    try:
        return await act(AdminCredentials(RegistryRepository(store)))
    finally:
        await store.close()


def _act(args: argparse.Namespace) -> str:
    """The command's stdout (a failure raises :class:`_Refused`)."""
    from gateway.registry.admins import AdminError

    command = args.admin_command
    try:
        if command == "add":
            _, token = asyncio.run(_with_admins(args.config, lambda a: a.add(args.name, by=ACTOR)))
            print(f"admin {args.name!r} added; its token follows, shown once (only its SHA-256 is stored)",
                  file=sys.stderr)
            return token + "\n"
        if command == "revoke":
            asyncio.run(_with_admins(args.config, lambda a: a.revoke(args.name, by=ACTOR)))
            return f"revoked: {args.name}\n"
        admins = asyncio.run(_with_admins(args.config, lambda a: a.admins()))
    except (AdminError, ValueError) as exc:
        raise _Refused(str(exc)) from None
    if args.json:
        return orjson.dumps([a.public() for a in admins], option=orjson.OPT_INDENT_2).decode() + "\n"
    return "".join(f"{a.name}  {a.created}  {a.created_by}\n" for a in admins) or "(no named admins)\n"


def _run(args: argparse.Namespace) -> int:
    try:
        out = _act(args)
    except _Refused as exc:
        print(f"gateway admin: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 0
