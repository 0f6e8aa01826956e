"""``gateway search`` and ``gateway export``: federated cohort search and export through a running gateway.

``search``  ``POST /search/v1/cohort``: the total, one table per facet and the per-member ``sources`` table
            (``--json``: the gateway's answer as is)
``export``  ``POST /search/v1/export``: stream a PFB file or a file manifest of accessible data to ``--out``
            (written to ``OUT.part`` with a progress bar, renamed when complete, removed on failure). When the
            gateway makes it a background job (202; ``--job`` asks for one), poll its status URL with a progress
            bar of entities, then download the file; Ctrl-C while it runs cancels the job (``DELETE``).

Exit codes: 0 the gateway answered 200 (or the job's file was saved); 1 no member answered (503/504), the
download broke off, or the job failed, was cancelled or expired; 2 usage errors, an unreachable gateway or a 4xx
answer (the gateway's message on stderr); 130 interrupted (Ctrl-C).

The rendering helpers (:func:`render_search`, :func:`count_text`, …) are pure (answer → ``rich`` renderables) and
:func:`save_stream` writes any iterable of byte chunks to a file; only ``_search`` and ``_export`` do I/O.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import orjson

from gateway.cli.target import add_url_options

if TYPE_CHECKING:  # annotations only: httpx and rich load when a command runs, never in `gateway serve`
    import httpx
    from rich.console import Console, Group
    from rich.progress import Progress
    from rich.table import Table

SEARCH_PATH = "/search/v1/cohort"
EXPORT_PATH = "/search/v1/export"
OK, UNANSWERED, USAGE, INTERRUPTED = 0, 1, 2, 130
ACTIVE = ("queued", "running")


class UsageError(Exception):
    """A bad option value (exit 2)."""


def add_commands(commands: Any) -> None:
    """Register ``search`` and ``export`` on the top-level ``gateway`` parser."""
    search = commands.add_parser(
        "search", help="federated cohort counts through a running gateway (POST /search/v1/cohort)",
        description="Ask every member of a running gateway one cohort question; print the (tiered) total, one "
                    "table per facet and each member's status. Exit 0 when answered, 1 when no member answered, "
                    "2 on usage or request errors.")
    _common(search)
    search.add_argument("--facet", action="append", default=[], metavar="FIELD",
                        help="histogram this field (repeatable)")
    search.add_argument("--accessibility", choices=("all", "accessible", "unaccessible"), default="all",
                        help="which data to count (default all)")
    search.add_argument("--json", action="store_true", help="print the gateway's answer as JSON")
    search.set_defaults(func=_search)

    export = commands.add_parser(
        "export", help="export accessible data as PFB or a file manifest (POST /search/v1/export)",
        description="Stream a PFB file or a file manifest (for `gen3 drs-pull`) of the accessible data matching "
                    "the filter to --out. Exit 0 when complete, 1 when no member answered or the download broke "
                    "off, 2 on usage or request errors.")
    _common(export)
    export.add_argument("--format", choices=("pfb", "manifest"), required=True, help="pfb or manifest (JSON)")
    export.add_argument("--out", type=Path, required=True, help="file to write (via OUT.part)")
    export.add_argument("--job", action="store_true",
                        help="run the export as a background job (polled, then downloaded) whatever its size")
    export.add_argument("--poll", type=float, default=1.0, metavar="SECONDS",
                        help="seconds between job status checks (default 1)")
    export.set_defaults(func=_export)


def _common(parser: argparse.ArgumentParser) -> None:
    add_url_options(parser)
    parser.add_argument("--index", choices=("subject", "file"), default="subject", help="default subject")
    parser.add_argument("--filter", metavar="JSON|@FILE", help="a Guppy JSON filter, inline or @file")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token", help="bearer token (a Passport or access token) sent as Authorization")
    token.add_argument("--token-file", type=Path, help="file holding the bearer token")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")


# --- pure helpers -------------------------------------------------------------------------------------------------

def parse_filter(value: str | None) -> dict[str, Any] | None:
    """``--filter``: inline JSON or ``@path`` to a JSON file; ``UsageError`` when it is not a JSON object."""
    if value is None:
        return None
    source = value
    if value.startswith("@"):
        try:
            source = Path(value[1:]).read_text()
        except OSError as exc:
            raise UsageError(f"--filter: cannot read {value[1:]}: {exc.strerror or exc}") from None
    try:
        parsed = orjson.loads(source)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"--filter: not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise UsageError("--filter: must be a JSON object")
    return parsed


def read_token(token: str | None, token_file: Path | None) -> str | None:
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise UsageError(f"--token-file: cannot read {token_file}: {exc.strerror or exc}") from None
        if not token:
            raise UsageError(f"--token-file: {token_file} is empty")
    return token or None


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def count_text(count: Mapping[str, Any], limit: int | None) -> str:
    """A count as printed: the number; ``hidden (< limit)`` when the gateway says it is below the limit
    (``below``), else ``hidden``: of a count hidden to protect others, or by its member, no bound may be said; ``—``
    when nobody answered."""
    if count.get("hidden"):
        return f"hidden (< {limit})" if limit is not None and count.get("below") else "hidden"
    value = count.get("count")
    return "—" if value is None else f"{value:,}"


def exit_code(status: int) -> int:
    """0 for 200, 1 when no member answered (503/504), 2 for any other answer."""
    if status == 200:
        return OK
    return UNANSWERED if status in (503, 504) else USAGE


def error_message(status: int, body: bytes) -> str:
    """The gateway's message in an error answer (``msg``, ``error`` or ``detail``), or the start of the body."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        for key in ("msg", "error", "detail", "message"):
            if isinstance(doc.get(key), str):
                return f"HTTP {status}: {doc[key]}"
    return f"HTTP {status}: {body[:300].decode(errors='replace')}".rstrip()


def facet_table(name: str, buckets: list[Mapping[str, Any]], limit: int | None) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"facet: {name}", title_justify="left")
    table.add_column("key")
    table.add_column("count", justify="right")
    for bucket in buckets:
        table.add_row(str(bucket.get("key")), count_text(bucket, limit))
    if not buckets:
        table.add_row(Text("(no values)", style="dim"), "")
    return table


STATUS_STYLE = {"ok": "green", "partial": "yellow", "stale": "yellow", "timeout": "red", "error": "red",
                "unsupported": "dim"}


def sources_table(sources: list[Mapping[str, Any]], limit: int | None) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="sources", title_justify="left")
    for column, justify in (("commons", "left"), ("status", "left"), ("took_ms", "right"), ("count", "right"),
                            ("error", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for s in sources:
        status = str(s.get("status"))
        table.add_row(str(s.get("commons")), Text(status, style=STATUS_STYLE.get(status, "")),
                      str(s.get("took_ms", "")), count_text(s, limit), s.get("error") or "")
    return table


def render_search(doc: Mapping[str, Any]) -> Group:
    """The answer of ``POST /search/v1/cohort`` (200, 503 or 504) as rich renderables: summary, facets, sources."""
    from rich.console import Group
    from rich.text import Text

    tier = doc.get("tier") or {}
    limit = tier.get("limit")
    summary = Text()
    if doc.get("msg"):
        summary.append(f"{doc['msg']}\n", style="bold red")
    summary.append("total: ", style="bold")
    summary.append(count_text(doc.get("total") or {}, limit))
    summary.append(f"  ({doc.get('index')}, accessibility {doc.get('accessibility')}, "
                   f"tier {tier.get('level')}, limit {limit})", style="dim")
    parts: list[Any] = [summary]
    parts += [facet_table(name, buckets, limit) for name, buckets in (doc.get("facets") or {}).items()]
    parts.append(sources_table(doc.get("sources") or [], limit))
    return Group(*parts)


def save_stream(chunks: Iterable[bytes], out: Path, on_chunk: Callable[[int], None] | None = None) -> int:
    """Write ``chunks`` to ``out`` through ``out.part``: renamed to ``out`` once every chunk is written, removed
    when anything fails (the exception propagates). Returns the number of bytes written."""
    part = out.with_name(out.name + ".part")
    written = 0
    try:
        with part.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                written += len(chunk)
                if on_chunk is not None:
                    on_chunk(len(chunk))
        part.replace(out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return written


def progress_bar(total: int | None, console: Console) -> Progress:
    """A byte progress bar; a spinner with bytes and rate when the size is unknown."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    if total:
        columns: tuple[Any, ...] = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                    TransferSpeedColumn(), TimeElapsedColumn())
    else:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), DownloadColumn(), TransferSpeedColumn(),
                   TimeElapsedColumn())
    return Progress(*columns, console=console, transient=False)


def job_progress(doc: Mapping[str, Any]) -> tuple[int, int]:
    """A job document's ``(entities, total)`` for a progress bar (the total never below what is done: the
    expected count is a lower bound when a member hid its total)."""
    progress = doc.get("progress") or {}
    done = int(progress.get("entities") or 0)
    return done, max(done, int(progress.get("expected") or 0))


def job_failure(doc: Mapping[str, Any]) -> str:
    """Why a job that is not ``done`` gave no file."""
    reason = f": {doc['error']}" if doc.get("error") else ""
    return f"export job {doc.get('status')}{reason}"


def job_bar(console: Console) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("entities"), TimeElapsedColumn(), console=console, transient=False)


# --- I/O ------------------------------------------------------------------------------------------------------------

def _fail(command: str, message: str) -> None:
    print(f"gateway {command}: {message}", file=sys.stderr)


def _request(args: argparse.Namespace) -> tuple[dict[str, Any] | None, dict[str, str]]:
    flt = parse_filter(args.filter)
    return flt, headers(read_token(args.token, args.token_file))


def _search(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console

    try:
        flt, hdrs = _request(args)
    except UsageError as exc:
        _fail("search", str(exc))
        return USAGE
    body = {"index": args.index, "filter": flt, "facets": args.facet, "accessibility": args.accessibility}
    try:
        response = httpx.post(args.url.rstrip("/") + SEARCH_PATH, json=body, headers=hdrs, timeout=args.timeout)
    except httpx.HTTPError as exc:
        _fail("search", f"cannot reach {args.url}: {exc}")
        return USAGE
    code = exit_code(response.status_code)
    doc = None
    if response.status_code in (200, 503, 504):
        try:
            doc = response.json()
        except ValueError:
            doc = None
    if doc is None or not isinstance(doc, dict):
        _fail("search", error_message(response.status_code, response.content))
        return code if code != OK else USAGE
    if args.json:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        Console(soft_wrap=False).print(render_search(doc))
    if code != OK:
        _fail("search", error_message(response.status_code, response.content))
    return code


def _export(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console

    try:
        flt, hdrs = _request(args)
    except UsageError as exc:
        _fail("export", str(exc))
        return USAGE
    if args.out.is_dir():
        _fail("export", f"--out: {args.out} is a directory")
        return USAGE
    body = {"index": args.index, "filter": flt, "format": args.format, "accessibility": "accessible"}
    if args.job:
        body["delivery"] = "job"
    console = Console(stderr=True)
    try:
        with httpx.stream("POST", args.url.rstrip("/") + EXPORT_PATH, json=body, headers=hdrs,
                          timeout=args.timeout) as response:
            if response.status_code == 202:
                return _follow_job(args, orjson.loads(response.read()), console)
            if response.status_code != 200:
                _fail("export", error_message(response.status_code, response.read()))
                return exit_code(response.status_code)
            written = _download(response, args.out, console)
    except httpx.ConnectError as exc:
        _fail("export", f"cannot reach {args.url}: {exc}")
        return USAGE
    except httpx.HTTPError as exc:
        _fail("export", f"download failed: {exc}")
        return UNANSWERED
    except OSError as exc:
        _fail("export", f"cannot write {args.out}: {exc.strerror or exc}")
        return USAGE
    except KeyboardInterrupt:  # a job being polled was cancelled in _follow_job; a download just stops
        _fail("export", "interrupted")
        return INTERRUPTED
    console.print(f"wrote {written:,} bytes to {args.out}")
    return OK


def _download(response: httpx.Response, out: Path, console: Console) -> int:
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    with progress_bar(total, console) as progress:
        task = progress.add_task(out.name, total=total)
        return save_stream(response.iter_bytes(), out, lambda n: progress.advance(task, n))


def _follow_job(args: argparse.Namespace, doc: dict[str, Any], console: Console) -> int:
    """Poll an export job until it ends, then download its file; Ctrl-C before it is done cancels it."""
    import httpx

    status_url = urljoin(args.url.rstrip("/") + "/", str(doc["status_url"]))
    try:
        console.print(f"export job {doc.get('status')}: {status_url}", soft_wrap=True, markup=False)
        ended = _poll(status_url, doc, args, console)
    except KeyboardInterrupt:
        httpx.delete(status_url, timeout=args.timeout)
        _fail("export", "interrupted: the export job was cancelled")
        return INTERRUPTED
    if ended is None:
        return UNANSWERED
    if ended.get("status") != "done":
        _fail("export", job_failure(ended))
        return UNANSWERED
    with httpx.stream("GET", urljoin(status_url, str(ended["file"]["url"])), timeout=args.timeout) as response:
        if response.status_code != 200:
            _fail("export", error_message(response.status_code, response.read()))
            return UNANSWERED
        written = _download(response, args.out, console)
    console.print(f"wrote {written:,} bytes to {args.out}")
    return OK


def _poll(status_url: str, doc: dict[str, Any], args: argparse.Namespace, console: Console) -> dict[str, Any] | None:
    """The job document once the job ended (``None`` when the status URL stops answering 200). The job id is the
    capability: no token is sent."""
    import httpx

    with httpx.Client(timeout=args.timeout) as client, job_bar(console) as progress:
        done, total = job_progress(doc)
        task = progress.add_task(args.out.name, completed=done, total=total or None)
        while doc.get("status") in ACTIVE:
            time.sleep(args.poll)
            answer = client.get(status_url)
            if answer.status_code != 200:
                _fail("export", error_message(answer.status_code, answer.content))
                return None
            doc = answer.json()
            done, total = job_progress(doc)
            progress.update(task, completed=done, total=total or None)
    return doc
