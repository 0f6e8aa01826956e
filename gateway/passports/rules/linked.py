"""LinkedIdentities visas and identity connectivity (rulebook §G, rules 38–39).

A LinkedIdentities ``value`` is ``;``-separated entries, each ``uri_encode(sub),uri_encode(iss)`` (PS
"LinkedIdentities"). :func:`parse_linked_value` is the one parser of that grammar: exactly two non-empty parts per
entry, each made of RFC 3986 characters other than ``,`` and ``;`` and complete ``%XX`` escapes, decoding to UTF-8
text without control characters. The Visa reader (:func:`gateway.passports.rules.visa.read_visa`) runs it on every
LinkedIdentities Visa and ignores a malformed one there (rule 39, with the reason), before any key is fetched: such
a Visa is never accepted, so it joins no identities and meets no condition. :func:`links_of` runs the same parser
for facts built elsewhere. The visa's own ``(iss, sub)`` is linked to every listed identity.

Connectivity is union-find over the *set* of identities, never a count (DAM compared counts of a list with
duplicates against a set that included identities outside the decision, and could pass or fail wrongly). A
decision that uses visas of several identities needs all of them in one component.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from gateway.passports.rules.facts import VisaFacts

LINKED_IDENTITIES = "LinkedIdentities"
MAX_LINKED_ENTRIES = 256

Identity = tuple[str, str]  # (iss, sub)

# one encoded part: RFC 3986 unreserved and sub-delims characters (but the separators `,` and `;`), `:`, `@`, `/`,
# `?`, and complete %XX escapes; anything else (a space, a bare `%`, non-ASCII…) was not URI-encoded
_ENCODED_PART = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+=:@/?]|%[0-9A-Fa-f]{2})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class LinkedIdentitiesError(ValueError):
    """The LinkedIdentities value is malformed: the visa must be ignored. The message says what is wrong and
    where (entry numbers from 1), never the value itself."""


def _decode(part: str, what: str, entry: int) -> str:
    if not part:
        raise LinkedIdentitiesError(f"entry {entry} has an empty {what}")
    if _ENCODED_PART.fullmatch(part) is None:
        raise LinkedIdentitiesError(f"entry {entry}: the {what} is not URI-encoded (an invalid %-escape or a "
                                    f"character that must be escaped)")
    try:
        text = unquote(part, errors="strict")
    except UnicodeDecodeError:
        raise LinkedIdentitiesError(f"entry {entry}: the {what} does not decode to UTF-8") from None
    if _CONTROL.search(text):
        raise LinkedIdentitiesError(f"entry {entry}: the {what} decodes to control characters")
    return text


def parse_linked_value(value: str) -> tuple[Identity, ...]:
    """The ``(iss, sub)`` identities listed in a LinkedIdentities value, in order; :class:`LinkedIdentitiesError`
    for any malformed entry (one bad entry makes the whole value malformed)."""
    entries = value.split(";")
    if len(entries) > MAX_LINKED_ENTRIES:
        raise LinkedIdentitiesError(f"more than {MAX_LINKED_ENTRIES} linked identities")
    out = []
    for number, entry in enumerate(entries, 1):
        parts = entry.split(",")
        if len(parts) != 2:
            shape = "is empty" if not entry else f"has {len(parts)} part{'s' if len(parts) > 1 else ''}"
            raise LinkedIdentitiesError(f"entry {number} {shape}, not sub,iss")
        sub, iss = _decode(parts[0], "sub", number), _decode(parts[1], "iss", number)
        out.append((iss, sub))
    return tuple(out)


def links_of(visa: VisaFacts) -> tuple[Identity, ...] | None:
    """The identities one LinkedIdentities visa joins (its own first), or ``None`` if it is not one or malformed."""
    if visa.type != LINKED_IDENTITIES or visa.has_conditions:
        return None
    try:
        listed = parse_linked_value(visa.value)
    except LinkedIdentitiesError:
        return None
    return (visa.identity, *listed)


@dataclass(frozen=True)
class IdentityGraph:
    """Connected components of identities; ``component`` maps each identity that appears in a link to its root."""

    component: dict[Identity, Identity] = field(default_factory=dict)

    def root(self, ident: Identity) -> Identity:
        return self.component.get(ident, ident)  # an identity in no link is its own component

    def connected(self, identities: Iterable[Identity]) -> bool:
        """Whether all ``identities`` (duplicates allowed, empty allowed) lie in one component."""
        roots = {self.root(i) for i in set(identities)}
        return len(roots) <= 1


def build_graph(visas: Iterable[VisaFacts], now: int) -> IdentityGraph:
    """Union-find over the identities joined by the unexpired, well-formed LinkedIdentities visas given.

    The caller passes only visas whose issuer (and source) is trusted for LinkedIdentities.
    """
    if isinstance(visas, (list, tuple)) and not visas:  # the usual case, a Passport without links
        return IdentityGraph()
    parent: dict[Identity, Identity] = {}

    def find(x: Identity) -> Identity:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for visa in visas:
        if visa.expires <= now:
            continue
        joined = links_of(visa)
        if joined is None:
            continue
        first = find(joined[0])
        for other in joined[1:]:
            r = find(other)
            if r != first:
                parent[r] = first
    return IdentityGraph({k: find(k) for k in list(parent)})


def link_expiries(
    visas: Iterable[VisaFacts], graph: IdentityGraph, identities: Iterable[Identity], now: int
) -> int | None:
    """The earliest expiry among the LinkedIdentities visas of the component joining ``identities``.

    Those links are what made the combination legitimate, so they count toward the decision's validity (a
    conservative bound: every link of the component, not just one path). ``None`` when at most one identity is
    involved (no link is needed).
    """
    wanted = set(identities)
    if len(wanted) <= 1:
        return None
    roots = {graph.root(i) for i in wanted}
    ends = []
    for visa in visas:
        if visa.expires <= now:
            continue
        joined = links_of(visa)
        if joined is not None and graph.root(joined[0]) in roots:
            ends.append(visa.expires)
    return min(ends) if ends else None
