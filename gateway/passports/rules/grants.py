"""Visas to normalised grants ``(authority, dataset, consent)`` (rulebook section 5, rule 41).

- Standard ``ControlledAccessGrants`` visas map through per ``(issuer, source)`` rules from config: exact values
  first, then anchored :class:`Template` parsers. Nothing else: no prefix, suffix or substring matching, ever.
- NIH RAS v1.1 visas carry grants in ``ras_dbgap_permissions``: each ``{phs_id, consent_group, expiration}``
  becomes ``(authority, phs_id, consent_group)`` expiring at ``min(visa expiry, expiration)``. ``version`` and
  ``participant_set`` are ignored.
- A grant without a consent group grants nothing unless its study is configured single-consent, which names the
  study's one consent group.

Templates match deterministically: a placeholder is a literal prefix plus a bounded run of one ASCII character
class, and must be followed by a literal whose first character is outside that class (checked when the template is
built). So the run is always the longest one, as in a single greedy left-to-right pass, whatever engine matches it.
Each template is compiled to an anchored regular expression of escaped literals and bounded classes: a shorter run
is tried only to fail on its first following character, so backtracking stays within ``max_len`` steps per
placeholder.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.passports.rules.conditions import conditions_met
from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.linked import LINKED_IDENTITIES, IdentityGraph, build_graph, link_expiries

CONTROLLED_ACCESS_GRANTS = "ControlledAccessGrants"
RAS_V11 = "https://ras.nih.gov/visas/v1.1"
MAX_RAS_PERMISSIONS = 4096
MAX_TEMPLATE_LENGTH = 1024

CHARSETS: dict[str, frozenset[str]] = {
    "digits": frozenset(string.digits),
    "alnum": frozenset(string.ascii_letters + string.digits),
    "word": frozenset(string.ascii_letters + string.digits + "-_"),
}
# the same sets as regular-expression classes (explicitly ASCII: \d and \w would admit other scripts' digits)
_CLASSES: dict[str, str] = {"digits": "[0-9]", "alnum": "[A-Za-z0-9]", "word": "[A-Za-z0-9_-]"}

GrantKey = tuple[str, str, str]  # (authority, dataset, consent)


@dataclass(frozen=True)
class Slot:
    """A template placeholder: ``prefix`` (literal, kept in the captured value) then ``min_len..max_len``
    characters of ``charset`` (``digits``, ``alnum`` or ``word``)."""

    prefix: str = ""
    charset: str = "digits"
    min_len: int = 1
    max_len: int = 32

    def __post_init__(self) -> None:
        if self.charset not in CHARSETS:
            raise ValueError(f"unknown slot charset {self.charset!r}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError("slot lengths must satisfy 1 <= min_len <= max_len")
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError("slot prefix may not contain braces")


DATASET = "dataset"
CONSENT = "consent"


@dataclass(frozen=True)
class Template:
    """An anchored value template, e.g. ``https://dac.example.org/datasets/{dataset}.{consent}``.

    ``{dataset}`` is required, ``{consent}`` optional (without it the grant has no consent group); each at most
    once. Any other brace is an error. Everything outside the placeholders is matched literally and in full.
    """

    text: str
    dataset: Slot = Slot(prefix="phs", charset="digits", min_len=6, max_len=6)
    consent: Slot = Slot(prefix="c", charset="digits", min_len=1, max_len=4)
    _parts: tuple[str | tuple[str, Slot], ...] = field(init=False, repr=False, compare=False, hash=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parts", _compile(self))
        object.__setattr__(self, "_pattern", _regex(self._parts))

    @property
    def has_consent(self) -> bool:
        return any(isinstance(p, tuple) and p[0] == CONSENT for p in self._parts)

    def match(self, value: str) -> dict[str, str] | None:
        """The captured ``dataset``/``consent`` (each with its slot's prefix) if ``value`` matches the whole
        template, else ``None``."""
        found = self._pattern.fullmatch(value)
        return None if found is None else found.groupdict()

    def render(self, dataset: str, consent: str | None = None) -> str | None:
        """The value this template gives for ``dataset`` (and ``consent``, each with its slot's prefix), or
        ``None`` when :meth:`match` would not read exactly them back from it (a value outside its slot, a consent
        given to a template without ``{consent}`` or missing for one with it)."""
        if (consent is not None) != self.has_consent:
            return None
        values = {DATASET: dataset, CONSENT: consent}
        text = "".join(part if isinstance(part, str) else str(values[part[0]]) for part in self._parts)
        back = self.match(text)
        wanted = {DATASET: dataset} if consent is None else {DATASET: dataset, CONSENT: consent}
        return text if back == wanted else None


def _regex(parts: tuple[str | tuple[str, Slot], ...]) -> re.Pattern[str]:
    """The anchored expression of compiled template parts: literals escaped, a slot as a named group of its prefix
    and ``min_len..max_len`` characters of its class (see the module doc on why this is the greedy match)."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(re.escape(part))
        else:
            name, slot = part
            out.append(f"(?P<{name}>{re.escape(slot.prefix)}{_CLASSES[slot.charset]}{{{slot.min_len},{slot.max_len}}})")
    return re.compile("".join(out))


def _compile(t: Template) -> tuple[str | tuple[str, Slot], ...]:
    text = t.text
    if not text or len(text) > MAX_TEMPLATE_LENGTH:
        raise ValueError("template must be 1..1024 characters")
    parts: list[str | tuple[str, Slot]] = []
    i = 0
    seen: set[str] = set()
    while i < len(text):
        j = text.find("{", i)
        k = text.find("}", i)
        if j < 0:
            if k >= 0:
                raise ValueError(f"stray brace in template {text!r}")
            parts.append(text[i:])
            break
        if k >= 0 and k < j:
            raise ValueError(f"stray brace in template {text!r}")
        close = text.find("}", j)
        name = text[j + 1:close] if close > 0 else ""
        if name not in (DATASET, CONSENT) or name in seen:
            raise ValueError(f"template placeholders are {{dataset}} and {{consent}}, once each: {text!r}")
        seen.add(name)
        if j > i:
            parts.append(text[i:j])
        parts.append((name, t.dataset if name == DATASET else t.consent))
        i = close + 1
    if DATASET not in seen:
        raise ValueError(f"template has no {{dataset}}: {text!r}")
    for here, after in itertools.pairwise(parts):
        if isinstance(here, tuple):
            if isinstance(after, tuple):
                raise ValueError(f"adjacent placeholders in template {text!r}")
            if after[0] in CHARSETS[here[1].charset]:
                raise ValueError(f"placeholder is followed by a character it could swallow: {text!r}")
    return tuple(parts)


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


def _shaped(text: object, prefix: str, min_digits: int, max_digits: int) -> bool:
    if not isinstance(text, str) or not text.startswith(prefix):
        return False
    digits = text[len(prefix):]
    return min_digits <= len(digits) <= max_digits and all(c in "0123456789" for c in digits)


def _ras(visa: VisaFacts, config: GrantConfig) -> list[Grant]:
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
        out.append(Grant(authority, phs, consent, min(visa.expires, expiration), visa.iss, visa.source))
    return out


def grants_of(visa: VisaFacts, config: GrantConfig) -> list[Grant]:
    """The grants one visa carries by itself (its conditions and links are not looked at here)."""
    if visa.type == CONTROLLED_ACCESS_GRANTS:
        return _standard(visa, config)
    if visa.type == RAS_V11:
        return _ras(visa, config)
    return []


def collect_grants(
    visas: Sequence[VisaFacts],
    config: GrantConfig,
    now: int,
    *,
    link_visas: Iterable[VisaFacts] | None = None,
) -> tuple[Grant, ...]:
    """Every unexpired grant of a passport's accepted visas.

    A visa with conditions contributes only when they are met by visas of the same passport whose identities are
    the visa's own or linked to it (``link_visas``: LinkedIdentities visas trusted for linking; by default those
    among ``visas``). Each grant expires at the earliest of its own end, the visas that met the conditions, and the
    links that joined their identities.
    """
    links = [v for v in (visas if link_visas is None else link_visas) if v.type == LINKED_IDENTITIES]
    graph = build_graph(links, now)
    out: list[Grant] = []
    for visa in visas:
        found = grants_of(visa, config)
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
