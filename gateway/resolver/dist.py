"""dataguids-style distribution lists (``/index/_dist``): parse them, match a prefix to an entry, and
render the registry as one (pure).

A list is ``[{"name", "host": "https://x/index/", "hints": [".*dg\\\\.4503.*"], "type": "indexd"}]``.
Hints are regular expressions in the wild, but an upstream's regex is never executed here: as gen3's
own resolver does, a hint is reduced to the literal prefix it names (``.*dg\\.4503.*`` → ``dg.4503``)
and compared case-insensitively, which also rules out pathological patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.core.member import Member
from gateway.resolver.endpoints import drs_endpoint, indexd_endpoint

_LITERAL = re.compile(r"^[a-z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class DistEntry:
    name: str
    host: str
    """Base URL of the indexd service, ending in ``/`` (e.g. ``https://commons.example.org/index/``)."""
    prefixes: tuple[str, ...]
    """Lower-case literal prefixes the hints name."""
    type: str = "indexd"

    @property
    def root_url(self) -> str:
        """The commons root: ``host`` without its trailing ``index/``."""
        host = self.host.rstrip("/")
        return host[: -len("/index")] if host.endswith("/index") else host


def hint_prefix(hint: str) -> str | None:
    """``.*dg\\.4503.*`` → ``dg.4503``; ``None`` for hints that do not reduce to a plain literal."""
    literal = hint.replace("\\.", ".").replace(".*", "").replace("^", "").replace("$", "").strip().lower()
    return literal if literal and _LITERAL.match(literal) else None


def parse_dist(data: Any, *, source: str) -> list[DistEntry]:
    """Entries of a dist list; malformed entries are skipped, a non-list is a ValueError."""
    if not isinstance(data, list):
        raise ValueError(f"{source}: a dist list must be a JSON array")
    out: list[DistEntry] = []
    for item in data:
        if not isinstance(item, dict):
            continue
        host, hints = item.get("host"), item.get("hints")
        if not isinstance(host, str) or not isinstance(hints, list):
            continue
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            continue
        prefixes = tuple(p for h in hints if isinstance(h, str) and (p := hint_prefix(h)))
        if prefixes:
            given = item.get("name")
            name = given if isinstance(given, str) else parts.netloc
            out.append(DistEntry(name, host if host.endswith("/") else host + "/", prefixes,
                                 str(item.get("type") or "indexd")))
    return out


def match(entries: Iterable[DistEntry], prefix: str) -> DistEntry | None:
    """The first entry naming ``prefix`` (case-insensitive)."""
    wanted = prefix.lower()
    return next((e for e in entries if wanted in e.prefixes), None)


def spellings(prefix: str) -> list[str]:
    """How clients may spell a (lower-case) prefix: as stored and with an upper-case name (``dg.TST1``).
    gen3's drs-pull looks hints up case-sensitively, so the list carries both."""
    scheme, _, name = prefix.partition(".")
    conventional = f"{scheme}.{name.upper()}"
    return [prefix] if conventional == prefix else [prefix, conventional]


def dist_endpoint(member: Member) -> tuple[str, str]:
    """A member's ``(type, host)`` in a dist list: what service its records are read from, and where
    (:mod:`gateway.resolver.endpoints`). A member with an indexd is an ``indexd`` entry at its indexd root; a
    ``drs`` member is a ``drs`` entry at its DRS root (not an indexd: gen3's drs-pull, which reads only ``indexd``
    entries, skips it rather than ask an indexd route it does not have)."""
    indexd = indexd_endpoint(member)
    if indexd is None:
        return "drs", drs_endpoint(member) + "/"
    return "indexd", indexd


def render_dist(members: Iterable[Member]) -> list[dict[str, Any]]:
    """The gateway's ``/index/_dist``: one entry per member that owns prefixes, typed and located by
    :func:`dist_endpoint`, as dataguids.org lists the commons it knows."""
    out: list[dict[str, Any]] = []
    for member in members:
        if not member.prefixes:
            continue
        kind, host = dist_endpoint(member)
        out.append({"name": member.name, "host": host, "type": kind, "member": member.id,
                    "hints": [".*" + re.escape(s) + ".*" for p in member.prefixes for s in spellings(p)]})
    return out
