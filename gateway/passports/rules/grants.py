"""Visas to normalised grants ``(authority, dataset, consent)`` (rulebook §5, rule 41).

- Standard ``ControlledAccessGrants`` visas map through per ``(issuer, source)`` rules from config: exact values
  first, then anchored :class:`~gateway.passports.rules.templates.Template` parsers. Nothing else: no prefix, suffix
  or substring matching, ever.
- NIH RAS v1.1 visas carry grants in ``ras_dbgap_permissions``: each ``{phs_id, consent_group, expiration}``
  becomes ``(authority, phs_id, consent_group)`` expiring at ``min(visa expiry, expiration + leeway)`` (a
  permission's ``expiration`` is an end the token states, held to the one leeway rule like ``exp``, rule 20).
  ``version`` and ``participant_set`` are ignored.
- A grant without a consent group grants nothing unless its study is configured single-consent, which names the
  study's one consent group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from gateway.passports.rules.claims import usable_until
from gateway.passports.rules.conditions import conditions_met
from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.linked import LINKED_IDENTITIES, IdentityGraph, build_graph, link_expiries
from gateway.passports.rules.templates import Template
from gateway.settings.value_templates import CONSENT, DATASET

CONTROLLED_ACCESS_GRANTS = "ControlledAccessGrants"
RAS_V11 = "https://ras.nih.gov/visas/v1.1"
MAX_RAS_PERMISSIONS = 4096

GrantKey = tuple[str, str, str]  # (authority, dataset, consent)


@dataclass(frozen=True)
class ExactGrant:
    """One exact visa value and what it grants (``consent`` ``None``: the value names a whole study)."""

    value: str
    dataset: str
    consent: str | None = None


@dataclass(frozen=True)
class IssuerGrantRules:
    """How ``ControlledAccessGrants`` visas from one ``(issuer, source)`` pair map to grants of ``authority``."""

    issuer: str
    source: str
    authority: str
    exact: tuple[ExactGrant, ...] = ()
    templates: tuple[Template, ...] = ()


@dataclass(frozen=True)
class RasRules:
    """RAS v1.1 visas are read only from these issuers; their grants belong to ``authority``."""

    issuers: frozenset[str] = frozenset()
    authority: str = "dbgap"


@dataclass(frozen=True)
class GrantConfig:
    rules: tuple[IssuerGrantRules, ...] = ()
    ras: RasRules = RasRules()
    single_consent: tuple[GrantKey, ...] = ()
    """Studies with exactly one consent group: ``(authority, dataset, consent)``. A consent-less grant of such a
    study grants that consent group; any other consent-less grant grants nothing."""

    def consent_for(self, authority: str, dataset: str, consent: str | None) -> str | None:
        if consent is not None:
            return consent
        for a, d, c in self.single_consent:
            if a == authority and d == dataset:
                return c
        return None


@dataclass(frozen=True)
class Grant:
    authority: str
    dataset: str
    consent: str
    expires: int
    issuer: str
    source: str

    def __init__(self, authority: str, dataset: str, consent: str, expires: int, issuer: str, source: str) -> None:
        # the generated frozen __init__ pays one object.__setattr__ call per field; grants are built per Visa of
        # every cold evaluation and per cached decision read
        self.__dict__.update(authority=authority, dataset=dataset, consent=consent, expires=expires, issuer=issuer,
                             source=source)

    @property
    def key(self) -> GrantKey:
        return (self.authority, self.dataset, self.consent)


def _standard(visa: VisaFacts, config: GrantConfig) -> list[Grant]:
    for rules in config.rules:
        if rules.issuer != visa.iss or rules.source != visa.source:
            continue
        found: tuple[str, str | None] | None = None
        for entry in rules.exact:
            if entry.value == visa.value:
                found = (entry.dataset, entry.consent)
                break
        if found is None:
            for template in rules.templates:
                got = template.match(visa.value)
                if got is not None:
                    found = (got[DATASET], got.get(CONSENT))
                    break
        if found is None:
            continue
        consent = config.consent_for(rules.authority, found[0], found[1])
        if consent is None:
            continue
        return [Grant(rules.authority, found[0], consent, visa.expires, visa.iss, visa.source)]
    return []


def _numeric_date(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return None


def _shaped(text: object, prefix: str, min_digits: int, max_digits: int) -> TypeGuard[str]:
    if not isinstance(text, str) or not text.startswith(prefix):
        return False
    digits = text[len(prefix):]
    return min_digits <= len(digits) <= max_digits and all(c in "0123456789" for c in digits)


def _ras(visa: VisaFacts, config: GrantConfig, leeway: int) -> list[Grant]:
    if visa.iss not in config.ras.issuers:
        return []
    perms = visa.ras_dbgap_permissions
    if not isinstance(perms, list) or len(perms) > MAX_RAS_PERMISSIONS:
        return []
    authority = config.ras.authority
    out = []
    for perm in perms:
        if not isinstance(perm, dict):
            continue
        phs, group = perm.get("phs_id"), perm.get("consent_group")
        expiration = _numeric_date(perm.get("expiration"))
        if not _shaped(phs, "phs", 6, 6) or expiration is None:
            continue
        if group is not None and not _shaped(group, "c", 1, 4):
            continue
        consent = config.consent_for(authority, phs, group)
        if consent is None:
            continue
        out.append(Grant(authority, phs, consent, min(visa.expires, usable_until(expiration, leeway)), visa.iss,
                         visa.source))
    return out


def grants_of(visa: VisaFacts, config: GrantConfig, *, leeway: int = 0) -> list[Grant]:
    """The grants one visa carries by itself (its conditions and links are not looked at here). ``leeway``: the
    clock-skew leeway, added to the ends the visa's grants state themselves (RAS ``expiration``), as the visa's own
    ``expires`` already has it (rule 20)."""
    if visa.type == CONTROLLED_ACCESS_GRANTS:
        return _standard(visa, config)
    if visa.type == RAS_V11:
        return _ras(visa, config, leeway)
    return []


def collect_grants(
    visas: Sequence[VisaFacts],
    config: GrantConfig,
    now: int,
    *,
    link_visas: Iterable[VisaFacts] | None = None,
    leeway: int = 0,
) -> tuple[Grant, ...]:
    """Every unexpired grant of a passport's accepted visas.

    A visa with conditions contributes only when they are met by visas of the same passport whose identities are
    the visa's own or linked to it (``link_visas``: LinkedIdentities visas trusted for linking; by default those
    among ``visas``). Each grant expires at the earliest of its own end, the visas that met the conditions, and the
    links that joined their identities. ``leeway``: as for :func:`grants_of`.
    """
    links = [v for v in (visas if link_visas is None else link_visas) if v.type == LINKED_IDENTITIES]
    graph = build_graph(links, now)
    out: list[Grant] = []
    for visa in visas:
        found = grants_of(visa, config, leeway=leeway)
        if not found:
            continue
        end = _usable_until(visa, visas, now, links, graph)
        if end is None:
            continue
        for g in found:
            if g.expires <= end:  # the common case: the grant's own end already is the earliest
                if g.expires > now:
                    out.append(g)
            elif end > now:
                out.append(Grant(g.authority, g.dataset, g.consent, end, g.issuer, g.source))
    return tuple(out)


def _usable_until(visa: VisaFacts, visas: Sequence[VisaFacts], now: int, links: list[VisaFacts],
                  graph: IdentityGraph) -> int | None:
    """Until when ``visa`` may grant: its own end, that of the visas meeting its conditions and of the links
    joining their identities; ``None`` when it may not."""
    if not visa.has_conditions:
        # what conditions_met and link_expiries come to without conditions: the visa alone, one identity, no link
        return visa.expires if visa.expires > now else None
    sat = conditions_met(visa, visas, now, graph)
    if sat is None:
        return None
    link_end = link_expiries(links, graph, [visa.identity, *(u.identity for u in sat.used)], now)
    return sat.expires if link_end is None else min(sat.expires, link_end)
