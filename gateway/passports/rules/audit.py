"""What may be logged about a Passport validation (rulebook rule 46): identifiers and outcomes, never raw tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.passports.rules.claims import MAX_CLAIM_BYTES
from gateway.passports.rules.passport import Passport
from gateway.passports.rules.visa import VisaResult


@dataclass(frozen=True)
class AuditRecord:
    """Rule 46: what may be logged about a validation: identifiers only, never raw tokens."""

    passport_jti: str | None
    passport_identity: tuple[str, str]
    passport_sha256: str
    visas: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def audit_record(passport: Passport, results: Iterable[VisaResult]) -> AuditRecord:
    rows = []
    for result in results:
        status: str = result.status._value_  # .value is a Python-level descriptor call on 3.11, per Visa
        visa = result.visa
        row: dict[str, Any]
        if visa is not None:
            row = {"sha256": result.sha256, "status": status, "iss": visa.iss, "sub": visa.sub,
                   "jti": visa.jti, "type": visa.type}
            txn = visa.jws.payload.get("txn")
            if isinstance(txn, str) and len(txn) <= MAX_CLAIM_BYTES:
                row["txn"] = txn
        else:
            row = {"sha256": result.sha256, "status": status, "rule": result.rule,
                   "reason": result.reason}
        rows.append(row)
    return AuditRecord(passport_jti=passport.jti, passport_identity=passport.identity,
                       passport_sha256=passport.sha256, visas=tuple(rows))
