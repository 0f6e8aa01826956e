r"""Parse every identifier form users send for a data object into one :class:`Identifier` (pure, no I/O).

Accepted forms (scheme and prefix case-insensitive, surrounding whitespace stripped)::

    6f1c0e2a-9b1d-4c3e-8f00-0123456789ab  uuid      canonical 8-4-4-4-12 hex only (any case); 32 bare
                                                    hex digits, ``{...}`` or ``urn:uuid:...`` are opaque
    dg.4503/<acc>   dg.4503%2F<acc>       prefixed  Gen3 GUID (encoded slash in any case)
    dg.4503:<acc>                         prefixed  compact form without a scheme
    drs://dg.4503:<acc>                   prefixed  compact URI, split on the first ``:``
    drs://dg.4503/<acc>                   prefixed  a first segment matching PREFIX_RE is a prefix
    drs://<provider>/dg.4503:<acc>        prefixed  provider code kept in ``provider``
    drs://<host>[:port]/<id>              hostname  ``id`` percent-decoded once (may hold ``/``)
    dos://...                             as ``drs://``
    anything else without a scheme        opaque    e.g. a DRS server's own ids

Rules for the ambiguous cases:

1. A *prefix* is a token matching the registry's ``PREFIX_RE`` (``dg.X``/``drs.X``) compared
   lower-case. ``prefix`` is lower-case (routing); ``prefix_as_given`` keeps the user's spelling for
   the id sent upstream, because indexd GUIDs are case-sensitive (``dg.ANV0/...`` stays so).
2. ``drs://T:R``: T a prefix → compact; else T a host and R = digits + ``/<id>`` → ``host:port``;
   anything else is rejected (compact prefixes other than ``dg.``/``drs.`` are not routable).
   A prefix wins over a host of the same spelling (``drs://drs.local:8443/x`` is compact).
3. ``drs://T/R``: T a prefix → prefixed (what users mean, though ``dg.4503`` could be a host);
   else R = ``<prefix>:<acc>`` with a raw ``:`` → provider form (hostname ids may not hold a raw
   ``:``, DRS spec); else hostname form, where a raw ``/`` in the id is tolerated.
4. Right after ``drs://`` (or at the start of a scheme-less id) a prefix may be followed by an
   encoded delimiter: ``%2F``/``%3A`` act like ``/``/``:``. Elsewhere an encoded delimiter is data.
5. Percent-encoding in the id part (accession, hostname id, uuid/opaque id) is decoded exactly
   once; a ``%`` without two hex digits, non-UTF-8 bytes or decoded control characters are errors.
6. A duplicated prefix is collapsed once: ``drs://dg.4503:dg.4503/<u>`` → ``dg.4503/<u>`` (the
   inner spelling is kept, as it is the stored GUID). Only the *same* prefix is collapsed.
7. Hostnames are lower-cased, a trailing dot dropped, ``:443`` dropped (DRS is https on 443) and
   other ports kept as ``host:port`` (1-65535). IPv6 literals are not accepted.
8. Rejected with :class:`InvalidIdentifier`: non-strings, empty text, more than ``MAX_LENGTH``
   characters, whitespace or control characters inside, other schemes (``http://``), ``drs:``
   without ``//``, an empty host (``drs:///x``), a query or fragment in a DRS URI, a missing id or
   accession (``dg.4503/``, ``dg.4503``, ``drs://host/``).
9. **Text that cannot be an id** is rejected too (:func:`cannot_be_an_id`), so that a stray request answers
   locally instead of becoming a call to every member (``/index/index/_stats`` would otherwise be a "GUID" asked of
   all of them). The id sent to members (:attr:`Identifier.object_id`, split on ``/``) cannot hold:

   - an empty, ``.`` or ``..`` segment (``a//b``, ``./x``: a URL parser would collapse them);
   - a character no identifier holds (:data:`NEVER_IN_IDS`): anything outside printable ASCII and
     ``" # % < > ? [ \\ ] ^ ` |``;
   - when it has neither a prefix nor a host (an ``opaque`` id: the kind asked of every member), a segment that is
     one of indexd's or DRS's own path words (:data:`RESERVED_SEGMENTS`: ``index``, ``urls``, ``bulk``,
     ``versions``, ``access``, ``service-info``…, in any case) or that starts with ``_`` (``_stats``,
     ``_version``, ``_dist``, ``_query``, ``_status``: indexd's service routes all do). Behind a prefix or a host
     such a word is left to the one member it routes to (a DRS member may well name an object ``dg.X/bundle``).

   Why this is safe for real ids: indexd's own schema requires a GUID to *end* in a UUID (``did`` matches
   ``^.*<8-4-4-4-12 hex>$``; minted ones are ``<prefix><uuid4>``, e.g. ``dg.4503/<uuid>``, whose ``/`` is kept
   and whose segments are a prefix and a UUID), and DRS ids (hostname-based or compact) are RFC 3986 unreserved
   characters; neither is ever a bare route word. The rule is not "must end in a UUID": DRS members serve opaque
   ids (``obj-1``, ``v2_<uuid>_<uuid>``), and legacy indexd records need not follow today's schema.

The regular expressions here are linear; the registry's ``HOSTNAME_RE`` is bounded by its 253-char
lookahead, and input is capped at ``MAX_LENGTH`` before any matching.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from gateway.core.member import PREFIX_RE, normalize_hostname

Kind = Literal["uuid", "prefixed", "hostname", "opaque"]

MAX_LENGTH = 2048
EXPECTED = "expected a GUID like dg.XXXX/<uuid>, a UUID, drs://<prefix>:<accession> or drs://<host>/<id>"

_UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31})://")
_LEAD_DELIM_RE = re.compile(r"[/:]|%2[Ff]|%3[Aa]")
_RAW_DELIM_RE = re.compile(r"[/:]")
_SPACE_RE = re.compile(r"\s")
"""Any character ``str.isspace`` calls whitespace (the same Unicode set), found without a Python loop."""
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PROVIDER_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_PORT_RE = re.compile(r"[0-9]{1,5}")

RESERVED_SEGMENTS = frozenset({
    # indexd's routes (uc-cdis/indexd: index, alias, bulk and DRS blueprints), as a Gen3 commons serves them
    "index", "urls", "bulk", "documents", "blank", "aliases", "alias", "versions", "latest", "bundle", "ga4gh",
    # the DRS API's own words under /objects
    "objects", "access", "service-info",
})
"""Path words of indexd and DRS that no GUID segment is (compared lower-case); segments starting with ``_`` are
reserved too (rule 9)."""
NEVER_IN_IDS = '"#%<>?[\\]^`|'
"""Printable ASCII characters no identifier holds (rule 9); nothing outside printable ASCII is held either."""
_NOT_IN_IDS_RE = re.compile(r'[^\x21-\x7e]|["#%<>?\[\\\]^`|]')


def _preview(value: object) -> str:
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    return repr(value if len(value) <= 80 else value[:80] + "…")


class InvalidIdentifier(ValueError):
    """An identifier in none of the accepted forms; ``reason`` says what is wrong with it."""

    def __init__(self, raw: object, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(f"{reason}; {EXPECTED}; got {_preview(raw)}")

    def __reduce__(self) -> tuple[type[InvalidIdentifier], tuple[object, str]]:
        return (type(self), (self.raw, self.reason))


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier:
    """One parsed identifier. Build it with :func:`parse_identifier`."""

    raw: str
    """The text exactly as given."""
    kind: Kind
    accession: str
    """The (decoded) part after the prefix; for the other kinds the whole (decoded) id."""
    prefix: str | None = None
    """Lower-case prefix for routing (``prefixed`` only)."""
    prefix_as_given: str | None = None
    """The prefix in the user's spelling (``prefixed`` only)."""
    hostname: str | None = None
    """Lower-case ``host[:port]`` (``hostname`` only)."""
    provider: str | None = None
    """Lower-case provider code of ``drs://<provider>/<prefix>:<accession>``."""

    @property
    def gen3_id(self) -> str | None:
        """``<prefix_as_given>/<accession>`` (the indexd GUID), or None without a prefix."""
        return f"{self.prefix_as_given}/{self.accession}" if self.prefix_as_given is not None else None

    @property
    def object_id(self) -> str:
        """The id to send to a member: the Gen3 GUID when prefixed, else the decoded id."""
        gen3_id = self.gen3_id  # made once: a bulk reads every id's object_id several times
        return gen3_id if gen3_id is not None else self.accession


def _is_prefix(token: str) -> bool:
    return token.isascii() and len(token) <= 40 and PREFIX_RE.match(token.lower()) is not None


def _decode(raw: str, text: str) -> str:
    if "%" in text:
        if _BAD_PERCENT_RE.search(text):
            raise InvalidIdentifier(raw, "invalid percent-encoding (a '%' must be followed by two hex digits)")
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise InvalidIdentifier(raw, "percent-encoded bytes are not UTF-8") from None
    if not text.isprintable():
        raise InvalidIdentifier(raw, "the decoded id contains control characters")
    return text


def _split_prefix(text: str) -> tuple[str, str] | None:
    """``(prefix, rest)`` when ``text`` starts with a prefix and a raw or encoded ``/`` or ``:``."""
    m = _LEAD_DELIM_RE.search(text)
    if m is None or not _is_prefix(text[: m.start()]):
        return None
    return text[: m.start()], text[m.end():]


def _prefixed(raw: str, given: str, rest: str, provider: str | None = None) -> Identifier:
    accession = _decode(raw, rest)
    n = len(given)
    if accession[n : n + 1] in ("/", ":") and _is_prefix(accession[:n]) and accession[:n].lower() == given.lower():
        given, accession = accession[:n], accession[n + 1 :]
    if not accession:
        raise InvalidIdentifier(raw, f"nothing after the prefix {given!r}")
    return Identifier(raw=raw, kind="prefixed", prefix=given.lower(), prefix_as_given=given,
                      accession=accession, provider=provider)


def _host(raw: str, text: str) -> str:
    try:
        if not text.isascii():
            raise ValueError(text)
        host = normalize_hostname(text)
    except ValueError:
        raise InvalidIdentifier(raw, f"{_preview(text)} is not a host name (optionally with :port)") from None
    name, _, port = host.partition(":")
    if not port:
        return host
    if not 0 < int(port) <= 65535:
        raise InvalidIdentifier(raw, f"port {port} is out of range")
    return name if int(port) == 443 else f"{name}:{int(port)}"


def _hostname(raw: str, host: str, rest: str) -> Identifier:
    ident = _decode(raw, rest)
    if not ident:
        raise InvalidIdentifier(raw, f"nothing after drs://{host}/")
    return Identifier(raw=raw, kind="hostname", hostname=host, accession=ident)


def _parse_uri(raw: str, rest: str) -> Identifier:
    if not rest:
        raise InvalidIdentifier(raw, "nothing after drs://")
    if "?" in rest or "#" in rest:
        raise InvalidIdentifier(raw, "a DRS URI has no query or fragment")
    m = _LEAD_DELIM_RE.search(rest)
    if m is None:
        raise InvalidIdentifier(raw, "no '/<id>' or ':<accession>' after drs://<host or prefix>")
    token, tail = rest[: m.start()], rest[m.end():]
    if _is_prefix(token):
        return _prefixed(raw, token, tail)
    if not token:
        raise InvalidIdentifier(raw, "empty host after drs://")
    if len(m.group()) == 3:
        raise InvalidIdentifier(raw, f"{_preview(token)} is not a dg.XXXX/drs.XXXX prefix, so the '/' or ':'"
                                     " after it must not be percent-encoded")
    if m.group() == ":":
        port, slash, tail = tail.partition("/")
        if not (_PORT_RE.fullmatch(port) and slash):
            raise InvalidIdentifier(raw, f"{_preview(token)} before ':' is neither a dg.XXXX/drs.XXXX prefix"
                                         " nor a host:port followed by /<id>")
        return _hostname(raw, _host(raw, f"{token}:{port}"), tail)
    inner = _RAW_DELIM_RE.search(tail)
    if inner is not None and inner.group() == ":" and _is_prefix(tail[: inner.start()]):
        provider = token.lower()
        if not (token.isascii() and _PROVIDER_RE.fullmatch(provider)):
            raise InvalidIdentifier(raw, f"{_preview(token)} is not a provider code")
        return _prefixed(raw, tail[: inner.start()], tail[inner.end():], provider)
    return _hostname(raw, _host(raw, token), tail)


def parse_identifier(value: object) -> Identifier:
    """Parse one identifier (see the module docstring); raise :class:`InvalidIdentifier` otherwise, also for text
    that parses but cannot be an id (rule 9). Text parsed lately is remembered (:data:`PARSED`): a hot id (a cached
    hit asked again and again) is not parsed again; what is not an id is never remembered."""
    if isinstance(value, str):
        return _parse_text(value)
    return _checked(_parse(value))


PARSED = 4096
"""How many recently parsed texts are remembered (an :class:`Identifier` is immutable: sharing it is safe)."""


@functools.lru_cache(maxsize=PARSED)
def _parse_text(value: str) -> Identifier:
    return _checked(_parse(value))


def _parse(value: object) -> Identifier:
    if not isinstance(value, str):
        raise InvalidIdentifier(value, "an identifier must be a string")
    text = value.strip()
    if not text:
        raise InvalidIdentifier(value, "the identifier is empty")
    if len(text) > MAX_LENGTH:
        raise InvalidIdentifier(value, f"the identifier is longer than {MAX_LENGTH} characters")
    if not text.isprintable() or _SPACE_RE.search(text):
        raise InvalidIdentifier(value, "the identifier contains whitespace or control characters")
    scheme = _SCHEME_RE.match(text)
    if scheme is not None:
        if scheme.group(1).lower() not in ("drs", "dos"):
            raise InvalidIdentifier(value, f"unsupported scheme {scheme.group(1).lower()}://")
        return _parse_uri(value, text[scheme.end():])
    if text[:4].lower() in ("drs:", "dos:"):
        raise InvalidIdentifier(value, "a DRS URI starts with drs:// (missing '//')")
    head = _split_prefix(text)
    if head is not None:
        return _prefixed(value, *head)
    ident = _decode(value, text)
    if _is_prefix(ident):
        raise InvalidIdentifier(value, f"nothing after the prefix {ident!r}")
    kind: Kind = "uuid" if _UUID_RE.fullmatch(ident) else "opaque"
    return Identifier(raw=value, kind=kind, accession=ident)


def cannot_be_an_id(object_id: str, kind: Kind = "opaque") -> str | None:
    """Why ``object_id`` (an id of ``kind`` as sent to members) cannot name an object, or ``None`` when it can
    (rule 9: path words count only in ``opaque`` ids, the ones asked of every member)."""
    bad = _NOT_IN_IDS_RE.search(object_id)
    if bad is not None:
        return f"{bad.group()!r} is a character no identifier holds"
    for segment in object_id.split("/"):
        if segment in ("", ".", ".."):
            return "an empty, '.' or '..' path segment cannot be part of an identifier"
        if kind == "opaque" and (segment[0] == "_" or segment.lower() in RESERVED_SEGMENTS):
            return f"{_preview(segment)} is a path word of indexd or DRS, not an identifier"
    return None


def _checked(ident: Identifier) -> Identifier:
    if ident.kind != "uuid":
        reason = cannot_be_an_id(ident.object_id, ident.kind)
        if reason is not None:
            raise InvalidIdentifier(ident.raw, reason)
    return ident


def parse_many(values: Iterable[object]) -> list[Identifier | InvalidIdentifier]:
    """Parse each value in order; a failure is returned in place (not raised)."""
    out: list[Identifier | InvalidIdentifier] = []
    for value in values:
        try:
            out.append(parse_identifier(value))
        except InvalidIdentifier as exc:
            out.append(exc)
    return out
