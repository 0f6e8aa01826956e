"""``gateway registry list|show|join|preview|approve|suspend|remove``: the registry API of a running gateway, by hand.

Every command takes ``--url`` (else ``$GATEWAY_URL``, else the configured host and port: :mod:`gateway.cli.target`),
``--token`` (default ``$GATEWAY_ADMIN_TOKEN``: the bootstrap token or a named admin's; needed by preview, approve,
suspend and remove) and ``--json`` (print the raw answer). Failures print one line to stderr (``gateway registry:
HTTP 409: prefix dg.abcd is already owned by …``) and exit non-zero.

``preview ID`` shows what approving would do: the auth the member asked for in plain words (whether callers'
credentials will be sent to it), the prefixes and hostnames it claims, and every conflict (``blocks`` when an
admitted member owns the key: the approval would be refused). ``approve ID`` prints the same for the approved
member; a member that will be sent callers' credentials needs ``--accept-passthrough``.

``show ID`` prints one member with where each of its services is (its endpoints) and what it was found to offer
(its capabilities, and why each other one is missing); ``join`` takes ``--endpoint SERVICE=URL`` (repeatable;
``SERVICE=none``: it has no such service; docs/members.md) and prints the same.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson

from gateway.cli.target import add_url_options

TOKEN_ENV = "GATEWAY_ADMIN_TOKEN"
TIMEOUT = 30.0
API = "/registry/v1/commons"


class CliError(Exception):
    """A failure to report in one line."""


def add_commands(subparsers: Any) -> None:
    """Register ``registry`` and its actions on the ``gateway`` command's subparsers."""
    registry = subparsers.add_parser("registry", help="list, join, approve, suspend or remove member commons")
    actions = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        add_url_options(parser)
        parser.add_argument("--token", default=None, help=f"admin token (default ${TOKEN_ENV})")
        parser.add_argument("--json", action="store_true", help="print the gateway's JSON answer")
        parser.set_defaults(func=_run)
        return parser

    listing = action("list", "list member commons")
    listing.add_argument("--status", choices=("pending", "active", "suspended"), help="only members in this status")
    join = action("join", "ask the gateway to register a commons (pending until approved)")
    join.add_argument("--name", required=True)
    join.add_argument("--base-url", required=True)
    join.add_argument("--kind", choices=("gen3", "drs"), default="gen3")
    join.add_argument("--prefix", action="append", default=[], help="GUID prefix it owns (repeatable)")
    join.add_argument("--hostname", action="append", default=None, help="DRS hostname (repeatable)")
    join.add_argument("--contact", default="")
    join.add_argument("--id", dest="member_id", default=None, help="member id (default: derived from the name)")
    join.add_argument("--endpoint", action="append", default=[], metavar="SERVICE=URL",
                      help="where a service is when not at the kind's default (indexd, drs, fence, guppy, mds, authz, "
                           "dictionary); SERVICE=none: it has none (repeatable; docs/members.md)")
    action("show", "one member: its endpoints and what it offers").add_argument("member_id", metavar="ID")
    action("preview", "what approving a member would do: auth, claims, conflicts").add_argument(
        "member_id", metavar="ID")
    approve = action("approve", "make a member active (it claims its prefixes and hostnames)")
    approve.add_argument("member_id", metavar="ID")
    approve.add_argument("--accept-passthrough", action="store_true",
                         help="accept that the member will be sent callers' credentials (auth passthrough/passport)")
    for name, text in (("suspend", "suspend a member"), ("remove", "remove a member and free its prefixes")):
        action(name, text).add_argument("member_id", metavar="ID")


def _request(args: argparse.Namespace, method: str, path: str, *, admin: bool = False, **kw: Any) -> Any:
    import httpx  # loaded when a command runs, never in `gateway serve`

    headers = {}
    if admin:
        token = args.token or os.environ.get(TOKEN_ENV, "")
        if not token:
            raise CliError(f"an admin token is needed: --token or ${TOKEN_ENV}")
        headers["Authorization"] = f"Bearer {token}"
    url = args.url.rstrip("/") + path
    try:
        response = httpx.request(method, url, headers=headers, timeout=TIMEOUT, trust_env=False, **kw)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {args.url}: {exc or type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        message = body.get("error") or body.get("msg") if isinstance(body, dict) else None
        raise CliError(f"HTTP {response.status_code}: {message or response.text[:200] or response.reason_phrase}")
    return body


def _line(member: dict[str, Any]) -> str:
    return "  ".join([member["id"], member["status"], member["kind"], ",".join(member["prefixes"]) or "-",
                      member["base_url"]])


def details_text(member: dict[str, Any]) -> str:
    """Where a member's services are and what it offers, as lines for a human."""
    endpoints = member.get("endpoints") or {}
    capabilities = member.get("capabilities") or {}
    lines = [f"  {service}: {url or '-'}" for service, url in endpoints.items()]
    lines.append(f"  offers: {', '.join(capabilities.get('offers') or []) or '-'}"
                 + ("" if capabilities.get("checked") else " (by its endpoints; not checked yet)"))
    lines += [f"  not offered: {name}: {why}" for name, why in (capabilities.get("missing") or {}).items()]
    return "\n".join(lines)


def parse_endpoints(given: list[str]) -> dict[str, str | None]:
    """``["fence=https://auth.example.org/user", "guppy=none"]`` → ``{"fence": "https://…", "guppy": None}``."""
    out: dict[str, str | None] = {}
    for item in given:
        service, sep, url = item.partition("=")
        if not sep or not service.strip() or not url.strip():
            raise CliError(f"--endpoint takes SERVICE=URL (or SERVICE=none), not {item!r}")
        out[service.strip()] = None if url.strip().lower() in ("none", "null") else url.strip()
    return out


def _conflict_line(c: dict[str, Any]) -> str:
    if c["blocking"]:
        return f"{c['kind']} {c['value']} is owned by {c['member']!r} ({c['status']}): approval will be refused"
    return f"{c['kind']} {c['value']} is also asked for by {c['member']!r} ({c['status']}): first approved wins"


def preview_text(approval: dict[str, Any]) -> str:
    """An approval preview (``GET …/approval``, or the approve answer's ``approval``) as lines for a human."""
    claims = approval["claims"]
    lines = [f"  auth: {approval['auth']['summary']}",
             f"  claims prefixes: {', '.join(claims['prefixes']) or '-'}",
             f"  claims hostnames: {', '.join(claims['hostnames']) or '-'}"]
    lines += [f"  conflict: {_conflict_line(c)}" for c in approval["conflicts"]] or ["  conflicts: none"]
    if approval.get("acknowledgement"):
        lines.append("  approving needs --accept-passthrough")
    return "\n".join(lines)


def _act(args: argparse.Namespace) -> tuple[Any, str]:
    """(the JSON answer, its one-line human form) for the chosen action."""
    command = args.registry_command
    if command == "list":
        params = {"status": args.status} if args.status else None
        body = _request(args, "GET", API, params=params)
        return body, "\n".join(_line(m) for m in body["commons"]) or "(no members)"
    if command == "join":
        payload: dict[str, Any] = {"name": args.name, "base_url": args.base_url, "kind": args.kind,
                                   "prefixes": args.prefix, "contact": args.contact}
        if args.hostname is not None:
            payload["hostnames"] = args.hostname
        if args.member_id:
            payload["id"] = args.member_id
        if args.endpoint:
            payload["endpoints"] = parse_endpoints(args.endpoint)
        body = _request(args, "POST", API, json=payload)
        return body, f"joined: {_line(body)} (checked {body['check']['path']})\n{details_text(body)}"
    if command == "show":
        body = _request(args, "GET", f"{API}/{args.member_id}")
        return body, f"{_line(body)}\n{details_text(body)}"
    if command == "remove":
        body = _request(args, "DELETE", f"{API}/{args.member_id}", admin=True)
        return body, f"removed: {body['deleted']}"
    if command == "preview":
        body = _request(args, "GET", f"{API}/{args.member_id}/approval", admin=True)
        return body, f"approving: {_line(body['member'])}\n{preview_text(body)}"
    if command == "approve":
        acknowledged = {"accept_passthrough": True} if args.accept_passthrough else None
        try:
            body = _request(args, "POST", f"{API}/{args.member_id}/approve", admin=True, json=acknowledged)
        except CliError as exc:
            if "accept_passthrough" in str(exc):
                raise CliError(f"{exc} (read `gateway registry preview {args.member_id}`, then approve with "
                               "--accept-passthrough)") from None
            raise
        return body, f"approved: {_line(body)}\n{preview_text(body['approval'])}"
    body = _request(args, "POST", f"{API}/{args.member_id}/suspend", admin=True)
    return body, f"suspended: {_line(body)}"


def _run(args: argparse.Namespace) -> int:
    try:
        body, text = _act(args)
    except CliError as exc:
        print(f"gateway registry: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(text)
    return 0
