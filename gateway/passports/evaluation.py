"""What validating one request's Passports produced (rulebook §A–§I): an :class:`Evaluation` (grants, how long they
hold, per-Visa reports and audit records) or a :class:`PassportRejected` carrying the status and rule number
(rule 45). The engine (:mod:`gateway.passports.engine`) makes them; the gate, the decision cache, the reference
commons and ``gateway passport inspect`` read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.passports.rules.audit import AuditRecord
from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.grants import Grant
from gateway.passports.rules.visa import Visa, VisaResult

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

    def __init__(self, passport: int, sha256: str | None, status: str, rule: int | None = None,
                 reason: str | None = None, iss: str | None = None, type: str | None = None,
                 jti: str | None = None) -> None:
        # the generated frozen __init__ pays one object.__setattr__ call per field (8 here), once per Visa
        self.__dict__.update(passport=passport, sha256=sha256, status=status, rule=rule, reason=reason, iss=iss,
                             type=type, jti=jti)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


Details = tuple[tuple[VisaReport, ...], tuple[AuditRecord, ...]]
"""An evaluation's per-Visa reports and its audit records (rule 46), as :attr:`Evaluation.visas` and
:attr:`Evaluation.audit` give them."""


@dataclass(frozen=True, init=False)
class Evaluation:
    """The outcome of validating one request's Passports. ``visas`` and ``audit`` are empty for an evaluation
    served from the decision cache (``cached``).

    The engine hands over ``details``, a function that builds the reports and audit records of its verified
    Passports when they are first read, instead of building them itself: an access decision reads neither (only
    ``gateway passport inspect``, the portal and the audit log do), and they were a tenth of a cold validation."""

    grants: tuple[Grant, ...]
    valid_until: int
    """Rule 41: the earliest expiry of every Passport and every grant (with what its conditions and links used)."""
    passports_expire: int
    """The earliest end of the Passports: ``exp`` plus the leeway (rule 20), the second from which the claims checks
    would refuse them, so a Passport valid for ``gateway passport inspect`` is valid for the decision too."""
    cached: bool
    identity: tuple[str, str] | None
    """Verified ``(iss, sub)`` of the first Passport: whose they all are (rule 5). Set by the engine, cached
    evaluations included."""

    def __init__(self, grants: tuple[Grant, ...], valid_until: int, passports_expire: int,
                 visas: tuple[VisaReport, ...] = (), audit: tuple[AuditRecord, ...] = (), cached: bool = False,
                 identity: tuple[str, str] | None = None, *, details: Callable[[], Details] | None = None) -> None:
        self.__dict__.update(grants=grants, valid_until=valid_until, passports_expire=passports_expire,
                             cached=cached, identity=identity, _details=(visas, audit) if details is None else details)

    def _built(self) -> Details:
        details = self.__dict__["_details"]
        if callable(details):
            details = self.__dict__["_details"] = details()  # once: the function is dropped with what it held
        return details  # type: ignore[no-any-return]

    @property
    def visas(self) -> tuple[VisaReport, ...]:
        """One report per distinct element of each Passport's ``ga4gh_passport_v1``, in order."""
        return self._built()[0]

    @property
    def audit(self) -> tuple[AuditRecord, ...]:
        """The audit records of rule 46, one per Passport."""
        return self._built()[1]

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
    if result.valid and result.visa is not None:
        v = result.visa
        return VisaReport(index, result.sha256, ACCEPTED, None, None, v.iss, v.type, v.jti)
    return VisaReport(index, result.sha256, IGNORED, result.rule, result.reason)
