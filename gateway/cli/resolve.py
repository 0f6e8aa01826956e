"""``gateway resolve ID...``: ask a running gateway which member commons holds each id.

Prints one line per id (``<id>  →  <member>  <normalised id>  <file name, size>``), or with ``--json``
the gateway's answers as a JSON array. Exit status 0 when every id resolved, 1 otherwise, 2 when the
gateway could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from gateway.cli.target import add_url_options


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser("resolve", help="resolve GUIDs, UUIDs or drs:// URIs through a running gateway")
    parser.add_argument("ids", nargs="+", metavar="ID")
    add_url_options(parser)
    parser.add_argument("--json", action="store_true", help="print the gateway's answers as JSON")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.set_defaults(func=_run)


def describe(result: dict[str, Any]) -> str:
    """One human line for one result of ``POST /resolver/v1/resolve`` (pure)."""
    if result.get("status") != 200:
        return f"{result['id']}  ✗  {result.get('status')}: {result.get('error', '')}"
    record = result.get("record", {})
    name = record.get("file_name") or record.get("name") or ""
    size = record.get("size")
    detail = f"{name} ({size} bytes)" if size is not None else name
    return f"{result['id']}  →  {result['member']['id']}  {result['normalized']}  {detail}".rstrip()


def _run(args: argparse.Namespace) -> int:
    import httpx  # loaded when a command runs, never in `gateway serve`

    try:
        response = httpx.post(
            args.url.rstrip("/") + "/resolver/v1/resolve", json={"ids": args.ids}, timeout=args.timeout
        )
    except httpx.HTTPError as exc:
        print(f"gateway resolve: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        print(f"gateway resolve: HTTP {response.status_code}: {response.text[:300]}", file=sys.stderr)
        return 2
    results = response.json()["results"]
    if args.json:
        sys.stdout.write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for result in results:
            print(describe(result))
    return 0 if all(r.get("status") == 200 for r in results) else 1
