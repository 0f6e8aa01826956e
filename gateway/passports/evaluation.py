"""What validating one request's Passports produced (rulebook §A–§I): an :class:`Evaluation` (grants, how long they
hold, per-Visa reports and audit records) or a :class:`PassportRejected` carrying the status and rule number
(rule 45). The engine (:mod:`gateway.passports.engine`) makes them; the gate, the decision cache, the reference
commons and ``gateway passport inspect`` read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.passports.rules.audit import AuditRecord
from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.grants import Grant
from gateway.passports.rules.visa import Visa, VisaResult, VisaStatus

ACCEPTED = "accepted"
IGNORED = "ignored"
_STANDARD_OBJECT_CLAIMS = frozenset({"type", "value", "source", "by", "asserted", "conditions"})


class PassportRejected(Exception):
    """The request's Passports are rejected: ``status`` is 400, 401, 413 or 503 (rule 45); ``rule`` the rulebook
    number (``None`` when unknown). The message never echoes token contents."""

    def __init__(self, status: int, rule: int | None, reason: str, *, cached: bool = False) -> None:
        super().__init__(f"rule {rule}: {reason}" if rule is not None else reason)
        self.status = status
        self.rule = rule
        self.reason = reason
        self.cached = cached


@dataclass(frozen=True)
class VisaReport:
    """One distinct element of a Passport's ``ga4gh_passport_v1``: accepted, or ignored and why. ``iss``,
    ``type`` and ``jti`` are filled only for Visas whose signature verified."""

    passport: int
    sha256: str | None
    status: str
    rule: int | None = None
    reason: str | None = None
    iss: str | None = None
    type: str | None = None
    jti: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Evaluation:
    """The outcome of validating one request's Passports. ``visas`` and ``audit`` are empty for an evaluation
    served from the decision cache (``cached``)."""

    grants: tuple[Grant, ...]
    valid_until: int
    """Rule 41: the earliest expiry of every Passport and every grant (with what its conditions and links used)."""
    passports_expire: int
    """The earliest end of the Passports: ``exp`` plus the leeway (rule 20), the second from which the claims checks
    would refuse them, so a Passport valid for ``gateway passport inspect`` is valid for the decision too."""
    visas: tuple[VisaReport, ...] = ()
    audit: tuple[AuditRecord, ...] = field(default=(), repr=False)
    cached: bool = False
    identity: tuple[str, str] | None = None
    """Verified ``(iss, sub)`` of the first Passport: whose they all are (rule 5). Set by the engine, cached
    evaluations included."""

    @property
    def accepted(self) -> tuple[VisaReport, ...]:
        return tuple(v for v in self.visas if v.status == ACCEPTED)

    @property
    def ignored(self) -> tuple[VisaReport, ...]:
        return tuple(v for v in self.visas if v.status == IGNORED)


def visa_facts(visa: Visa) -> VisaFacts:
    """The claims layer's :class:`Visa` as the :class:`VisaFacts` conditions and grants work on."""
    obj = visa.object
    # most visa objects hold standard claims only: a set comparison in C spares walking them for custom ones
    extra = () if obj.keys() <= _STANDARD_OBJECT_CLAIMS else tuple(
        (k, v) for k, v in obj.items()
        if k not in _STANDARD_OBJECT_CLAIMS and isinstance(k, str) and isinstance(v, str))
    return VisaFacts(
        visa.iss, visa.sub, visa.type, visa.value, visa.source, visa.by, visa.asserted, visa.expires,
        list(visa.conditions) if visa.conditions else None, extra, visa.jws.payload.get("ras_dbgap_permissions"),
    )


def visa_report(index: int, result: VisaResult) -> VisaReport:
    """One Visa's outcome as the report entry of Passport ``index``."""
    # positional arguments (passport, sha256, status, rule, reason, iss, type, jti): keywords cost a third more
    if result.status is VisaStatus.VALID and result.visa is not None:
        v = result.visa
        return VisaReport(index, result.sha256, ACCEPTED, None, None, v.iss, v.type, v.jti)
    return VisaReport(index, result.sha256, IGNORED, result.rule, result.reason)
