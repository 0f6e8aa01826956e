"""The Passport page (``/passport``): paste a GA4GH Passport and see what it grants, Visa by Visa.

A thin client of the one admission every API route calls (:meth:`gateway.passports.gate.PassportGate.admit`, as
``POST /ga4gh/drs/v1/objects/{id}/access`` with ``{"passports": [...]}`` does): the engine's evaluation gives
each Visa's outcome (accepted, or ignored with the rule and reason), the grants the accepted ones yield and how
long they hold. The Passport arrives in a ``POST`` body only; it is never put back in the page, a URL, a cookie
or a log (the page shows the evaluation, never the token).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.passports.evaluation import Evaluation, PassportRejected
from gateway.passports.gate import PassportGate

MAX_PASSPORT_CHARS = 64 * 1024


@dataclass(frozen=True)
class VisaLine:
    number: int
    status: str
    type: str
    issuer: str
    reason: str


@dataclass(frozen=True)
class GrantLine:
    dataset: str
    consent: str
    authority: str
    expires: str
    issuer: str
    source: str


@dataclass(frozen=True)
class PassportView:
    subject: str
    issuer: str
    valid_until: str
    visas: tuple[VisaLine, ...]
    grants: tuple[GrantLine, ...]


def when(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def view_of(evaluation: Evaluation) -> PassportView:
    issuer, subject = evaluation.identity or ("", "")
    visas = tuple(VisaLine(i + 1, v.status, v.type or "unknown", v.iss or "not verified",
                           "" if v.reason is None else (f"rule {v.rule}: {v.reason}" if v.rule else v.reason))
                  for i, v in enumerate(evaluation.visas))
    grants = tuple(GrantLine(g.dataset, g.consent, g.authority, when(g.expires), g.issuer, g.source)
                   for g in sorted(evaluation.grants, key=lambda g: (g.authority, g.dataset, g.consent)))
    return PassportView(subject, issuer, when(evaluation.valid_until), visas, grants)


def tokens_of(text: str) -> list[str]:
    """The Passports pasted (one, or several separated by white space)."""
    return text[:MAX_PASSPORT_CHARS].split()


async def inspect(gate: PassportGate, text: str) -> PassportView:
    """The evaluation of the pasted Passports; :class:`PassportRejected` (its status and reason, never the token)
    when the engine refuses them."""
    tokens = tokens_of(text)
    if not tokens:
        raise PassportRejected(400, None, "paste a Passport (a signed JWT)")
    caller = await gate.admit(tokens, has_authorization=False)
    return view_of(caller.evaluation)
