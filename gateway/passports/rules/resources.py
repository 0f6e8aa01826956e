"""A member's object ``authz`` resources to grants, and the access decision (rulebook §5, rule 41).

Each member commons has a :class:`MemberResourceMap`: exact resource paths, then anchored :class:`Template`
parsers (the same deterministic matcher as visa values), turning e.g. ``/orgA/programs/phs000123.c1`` into
``("dbgap", "phs000123", "c1")``. Access needs EVERY resource of the object covered by an unexpired grant
(all-of). A resource the map does not cover denies access; so does an object with no resources at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.passports.rules.grants import Grant, GrantKey
from gateway.passports.rules.templates import Template
from gateway.settings.value_templates import CONSENT, DATASET

ALLOWED = "allowed"
NO_RESOURCES = "object_has_no_authz_resources"
UNMAPPED = "unmapped_resource"
NOT_GRANTED = "resource_not_granted"
EXPIRED = "passport_expired"


@dataclass(frozen=True)
class ResourceTemplate:
    """An anchored resource template with both ``{dataset}`` and ``{consent}``, for grants of ``authority``."""

    template: Template
    authority: str

    def __post_init__(self) -> None:
        if not self.template.has_consent:
            raise ValueError("a resource template must capture {consent}")


@dataclass(frozen=True)
class MemberResourceMap:
    exact: tuple[tuple[str, GrantKey], ...] = ()
    templates: tuple[ResourceTemplate, ...] = ()

    def lookup(self, resource: str) -> GrantKey | None:
        for path, key in self.exact:
            if path == resource:
                return key
        for rt in self.templates:
            got = rt.template.match(resource)
            if got is not None:
                return (rt.authority, got[DATASET], got[CONSENT])
        return None

    def granted(self, grants: Iterable[Grant], now: int) -> dict[str, int]:
        """The resource paths of this map that ``grants`` reach at ``now``, each with the latest expiry of a grant
        reaching it: every exact entry whose key is granted, and every template rendered with each granted
        ``(dataset, consent)`` of its authority (:meth:`Template.render`; a grant it cannot render exactly, e.g. a
        dataset outside its slot, reaches nothing). Exact paths only: no prefix or substring matching."""
        best: dict[GrantKey, int] = {}
        for g in grants:
            if g.expires > now and g.expires > best.get(g.key, now):
                best[g.key] = g.expires
        out: dict[str, int] = {}

        def add(path: str, until: int) -> None:
            if until > out.get(path, now):
                out[path] = until

        for path, key in self.exact:
            if key in best:
                add(path, best[key])
        for rt in self.templates:
            for (authority, dataset, consent), until in best.items():
                if authority != rt.authority:
                    continue
                rendered = rt.template.render(dataset, consent)
                if rendered is not None and self.lookup(rendered) == (authority, dataset, consent):
                    add(rendered, until)
        return out


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    valid_until: int | None
    """When allowed: the earliest expiry of everything used (grants chosen, and the passport if given)."""
    required: tuple[GrantKey, ...] = ()
    missing: tuple[str, ...] = ()
    """Resources that were unmapped or not granted (object metadata, never token contents)."""


def decide(
    object_authz: Sequence[str],
    member_map: MemberResourceMap,
    grants: Iterable[Grant],
    now: int,
    *,
    passport_expires: int | None = None,
) -> Decision:
    """All-of access decision for one object of one member."""
    if passport_expires is not None and passport_expires <= now:
        return Decision(False, EXPIRED, None)
    resources = list(dict.fromkeys(object_authz))
    if not resources:
        return Decision(False, NO_RESOURCES, None)
    keyed: list[tuple[str, GrantKey]] = []
    unmapped = []
    for resource in resources:
        key = member_map.lookup(resource)
        if key is None:
            unmapped.append(resource)
        else:
            keyed.append((resource, key))
    required = tuple(dict.fromkeys(k for _, k in keyed))
    if unmapped:
        return Decision(False, UNMAPPED, None, required, tuple(unmapped))
    best: dict[GrantKey, int] = {}
    for g in grants:
        if g.expires > now and g.expires > best.get(g.key, now):
            best[g.key] = g.expires
    missing = tuple(r for r, k in keyed if k not in best)
    if missing:
        return Decision(False, NOT_GRANTED, None, required, missing)
    ends = [best[k] for k in required]
    if passport_expires is not None:
        ends.append(passport_expires)
    return Decision(True, ALLOWED, min(ends), required)
