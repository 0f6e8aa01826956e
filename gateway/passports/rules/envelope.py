"""The request envelope (rulebook §A, rules 1–3 and 5): what a request's ``passports`` must look like before any
Passport is parsed, and that every Passport of one request is one person's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.passports.jose import jws
from gateway.passports.rules.claims import ClaimError
from gateway.passports.rules.passport import Passport
from gateway.settings.passports import MAX_PASSPORTS


class EnvelopeError(ClaimError):
    """The request envelope is wrong (rules 1–3, 5); ``status`` is 400, 401 or 413."""

    def __init__(self, rule: int, message: str, status: int) -> None:
        super().__init__(rule, message)
        self.status = status


def check_envelope(passports: object, *, has_authorization: bool = False, max_passports: int = MAX_PASSPORTS,
                   max_bytes: int = jws.MAX_PASSPORT_BYTES) -> list[str]:
    """Rules 1–3 on the ``passports`` member of a DRS request body (``None`` when the member is absent)."""
    if passports is None:
        raise EnvelopeError(1, "no passports", 401)
    if not isinstance(passports, list) or not all(isinstance(p, str) for p in passports):
        raise EnvelopeError(1, "passports must be an array of strings", 400)
    if has_authorization:
        raise EnvelopeError(2, "passports and an Authorization header cannot both be supplied", 400)
    if not passports:
        raise EnvelopeError(1, "passports is empty", 401)
    if len(passports) > max_passports:
        raise EnvelopeError(3, f"more than {max_passports} passports", 413)
    if any(len(p) > max_bytes for p in passports):
        raise EnvelopeError(3, "a passport exceeds the size limit", 413)
    return passports


def check_same_person(passports: Sequence[Passport],
                      linked: Callable[[tuple[str, str], tuple[str, str]], bool] | None = None) -> None:
    """Rule 5: every Passport in a request belongs to one person: same ``(iss, sub)``, or ``linked(a, b)``."""
    if not passports:
        return
    first = passports[0].identity
    for passport in passports[1:]:
        other = passport.identity
        if other != first and not (linked is not None and linked(first, other)):
            raise EnvelopeError(5, "passports belong to different identities", 400)
