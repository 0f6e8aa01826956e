"""Visa ``conditions``: shape validation and evaluation (rulebook §F, rules 32–37; expiry per rule 41).

Pure functions over :class:`~gateway.passports.rules.facts.VisaFacts`, the already-validated, already-trusted content
of one visa. The engine builds them; nothing here parses tokens, checks signatures or does I/O.

``conditions`` is a list (OR) of lists (AND) of clauses. A clause is an object with ``type`` (an implied exact
match) and at least one other string visa-object claim whose value is ``const:``, ``pattern:`` or
``split_pattern:`` followed by the operand. The whole structure is validated first; a bad shape or a bound exceeded
means the visa is ignored (:class:`ConditionsError`). An unknown prefix only makes its clause fail.

A clause is met by ONE visa of the same passport that is unexpired, has no ``conditions`` of its own, and matches
every claim of the clause. The visas that met the chosen OR group count toward the decision's validity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.linked import IdentityGraph
from gateway.passports.rules.patterns import match, split_match

MAX_OR_GROUPS = 16
MAX_AND_CLAUSES = 16
MAX_CLAIMS_PER_CLAUSE = 8
MAX_PATTERN_LENGTH = 255

CONST = "const"
PATTERN = "pattern"
SPLIT_PATTERN = "split_pattern"
UNKNOWN = "unknown"
_PREFIXES = {CONST + ":": CONST, PATTERN + ":": PATTERN, SPLIT_PATTERN + ":": SPLIT_PATTERN}

# visa-object claims a clause may never constrain: they are not strings, or would recurse
FORBIDDEN_CLAUSE_KEYS = frozenset({"conditions", "asserted"})
STANDARD_STRING_CLAIMS = ("value", "source", "by")


class ConditionsError(ValueError):
    """The ``conditions`` value is malformed or over a bound: the visa carrying it must be ignored."""


@dataclass(frozen=True)
class ClaimTest:
    claim: str
    kind: str  # CONST, PATTERN, SPLIT_PATTERN or UNKNOWN
    operand: str

    def matches(self, actual: str | None) -> bool:
        if actual is None:
            return False
        if self.kind == CONST:
            return actual == self.operand
        if self.kind == PATTERN:
            return match(self.operand, actual)
        if self.kind == SPLIT_PATTERN:
            return split_match(self.operand, actual)
        return False  # unknown prefix: the clause fails


@dataclass(frozen=True)
class Clause:
    type: str
    tests: tuple[ClaimTest, ...]

    @property
    def can_match(self) -> bool:
        return all(t.kind != UNKNOWN for t in self.tests)

    def matches(self, visa: VisaFacts) -> bool:
        return self.can_match and visa.type == self.type and all(t.matches(visa.claim(t.claim)) for t in self.tests)


@dataclass(frozen=True)
class Conditions:
    groups: tuple[tuple[Clause, ...], ...]  # OR of ANDs; empty means no conditions


@dataclass(frozen=True)
class Satisfaction:
    """How conditions were met: the visas used (one per clause of the chosen OR group) and the validity end."""

    used: tuple[VisaFacts, ...]
    expires: int


def _claim_test(key: str, raw: Any) -> ClaimTest:
    if not isinstance(raw, str):
        raise ConditionsError("condition claim value is not a string")
    for prefix, kind in _PREFIXES.items():
        if raw.startswith(prefix):
            operand = raw[len(prefix):]
            if kind != CONST and len(operand) > MAX_PATTERN_LENGTH:
                raise ConditionsError("condition pattern too long")
            return ClaimTest(key, kind, operand)
    return ClaimTest(key, UNKNOWN, raw)


def _clause(raw: Any) -> Clause:
    if not isinstance(raw, dict):
        raise ConditionsError("condition clause is not an object")
    if len(raw) > MAX_CLAIMS_PER_CLAUSE:
        raise ConditionsError("too many claims in a condition clause")
    ctype = raw.get("type")
    if not isinstance(ctype, str) or not ctype:
        raise ConditionsError("condition clause has no string type")
    tests = []
    for key, val in raw.items():
        if key == "type":
            continue
        if not isinstance(key, str) or not key or key in FORBIDDEN_CLAUSE_KEYS:
            raise ConditionsError("condition clause names a claim that cannot be constrained")
        tests.append(_claim_test(key, val))
    if not tests:
        raise ConditionsError("condition clause has only a type")
    return Clause(ctype, tuple(tests))


def parse_conditions(raw: Any) -> Conditions:
    """Validate the whole ``conditions`` structure (rules 33, 37); ``None`` or ``[]`` mean no conditions."""
    if raw is None:
        return Conditions(())
    if not isinstance(raw, (list, tuple)):  # JSON gives lists; an adapter may hand over tuples
        raise ConditionsError("conditions is not a list")
    if len(raw) > MAX_OR_GROUPS:
        raise ConditionsError("too many condition groups")
    groups = []
    for group in raw:
        if not isinstance(group, (list, tuple)) or not group:
            raise ConditionsError("condition group is not a non-empty list")
        if len(group) > MAX_AND_CLAUSES:
            raise ConditionsError("too many clauses in a condition group")
        groups.append(tuple(_clause(c) for c in group))
    return Conditions(tuple(groups))


def evaluate(
    conditions: Conditions,
    visas: Sequence[VisaFacts],
    now: int,
    *,
    anchor: tuple[str, str] | None = None,
    links: IdentityGraph | None = None,
) -> Satisfaction | None:
    """Evaluate ``conditions`` against the visas of one passport; ``None`` when no OR group is met.

    Candidates are unexpired visas without conditions of their own. With an ``anchor`` identity (the identity of
    the visa carrying the conditions), a candidate must be that identity or connected to it in ``links`` (rule 38).
    Among the groups met, the one whose visas stay valid longest is chosen, and within a clause the matching visa
    that expires last.
    """
    if not conditions.groups:
        return Satisfaction((), _FOREVER)
    candidates = [v for v in visas if not v.has_conditions and v.expires > now]
    if anchor is not None:
        candidates = [v for v in candidates if _joined(anchor, v.identity, links)]
    best: Satisfaction | None = None
    for group in conditions.groups:
        used = []
        for clause in group:
            found = [v for v in candidates if clause.matches(v)]
            if not found:
                break
            used.append(max(found, key=lambda v: v.expires))
        else:
            sat = Satisfaction(tuple(used), min(v.expires for v in used))
            if best is None or sat.expires > best.expires:
                best = sat
    return best


def conditions_met(
    visa: VisaFacts, visas: Sequence[VisaFacts], now: int, links: IdentityGraph | None = None
) -> Satisfaction | None:
    """Whether ``visa`` may be used: its conditions (if any) are well-formed and met by other visas of the passport.

    ``None`` means ignore the visa (expired, malformed conditions, or conditions not met). Otherwise the
    satisfaction's ``expires`` is the earliest end of ``visa`` and every visa that met its conditions.
    """
    if visa.expires <= now:
        return None
    try:
        conds = parse_conditions(visa.conditions)
    except ConditionsError:
        return None
    if not conds.groups:
        return Satisfaction((), visa.expires)
    sat = evaluate(conds, [v for v in visas if v is not visa], now, anchor=visa.identity, links=links)
    if sat is None:
        return None
    return Satisfaction(sat.used, min(visa.expires, sat.expires))


_FOREVER = 2**63 - 1


def _joined(a: tuple[str, str], b: tuple[str, str], links: IdentityGraph | None) -> bool:
    if a == b:
        return True
    return links is not None and links.connected([a, b])
