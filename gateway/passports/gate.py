"""GA4GH Passports at the gateway: what a request's Passports mean (:func:`admit`, the one admission every route
uses), whether a caller may reach a controlled object, and with what the gateway then asks the member that holds it
(rulebook §I, §5).

* :func:`admit` reads a request's credentials — the body's ``passports`` and its ``Authorization`` header — once
  per request (bulk requests: once for every object), for DRS, cohort search, export and study discovery alike.
  The policy, one for every route:

  - Passports come in the body's ``passports``, or as ``Authorization: Bearer <passport>``; both at once is a 400
    (rule 2). They are validated by the engine; a rejected request is an :class:`~gateway.core.errors.ApiError`
    with the engine's status (400/401/413/503, rule 45) and the rule that failed, never the token;
  - **with Passports disabled** (no gate), Passports are ignored: the request is answered as if none had been sent
    (DRS clients and workflow engines send them speculatively to every server). A bearer Passport is then no
    credential at all: it is dropped, never forwarded as an ordinary token;
  - any other ``Authorization`` is left for the members, under the passthrough rules.

* :func:`bearer_passport` tells an ``Authorization: Bearer <passport>`` (header ``typ`` names a GA4GH Passport)
  from any other bearer token, without trusting it: the engine verifies.
* :meth:`PassportGate.plan` decides one object at one member, by the member's mode:

  - ``gateway_token``: all-of decision over the object's ``authz`` with the member's resource map; when allowed,
    a gateway token signed for that member and object (:mod:`gateway.passports.tokens.gateway_token`);
  - ``passport``: the same decision, then the caller's Passports are forwarded in a DRS POST (rule 47: only to
    members an administrator configured so). An object whose record carries no ``authz`` (a plain DRS member's
    object) is left to that member to decide;
  - other modes: Passports play no part; the member is reached as before.

  An object none of whose resources the map knows (open data, typically) is asked for anonymously: the member
  serves it if it serves it to anyone, and otherwise the answer is the decision's 403. The URL's lifetime never
  outlives the decision (``not_after``, rule 42).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.errors import ApiError
from gateway.core.member import PASSPORT_MODES, Member
from gateway.core.metrics import current
from gateway.core.records import MemberRecord
from gateway.passports.engine import PassportEngine
from gateway.passports.evaluation import Evaluation, PassportRejected
from gateway.passports.jose import jws
from gateway.passports.jose.encoding import b64url_decode
from gateway.passports.jose.errors import JwsError
from gateway.passports.rules.resources import ALLOWED, NO_RESOURCES, UNMAPPED, Decision, MemberResourceMap
from gateway.passports.tokens import gateway_token
from gateway.passports.tokens.token_keys import TokenKeyRing
from gateway.settings.passports import GatewayTokenSettings

EMPTY_MAP = MemberResourceMap()
_REASONS = {
    "object_has_no_authz_resources": "the object names no authz resources",
    "unmapped_resource": "no dataset is configured for the object's resources",
    "resource_not_granted": "the passports grant no access to every dataset of the object",
    "passport_expired": "the passports have expired",
}


def bearer_passport(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` when its (unverified) JOSE header says
    ``typ: vnd.ga4gh.passport+jwt``; ``None`` for anything else (that header is then an ordinary credential)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or token.count(".") != 2 or len(token) > jws.MAX_PASSPORT_BYTES:
        return None
    try:
        header = orjson.loads(b64url_decode(token.partition(".")[0]))
    except (JwsError, orjson.JSONDecodeError):
        return None
    typ = header.get("typ") if isinstance(header, dict) else None
    if not isinstance(typ, str) or jws.normalise_typ(typ) != jws.TYP_PASSPORT:
        return None
    return token


@dataclass(frozen=True)
class Caller:
    """A request's validated Passports."""

    tokens: tuple[str, ...]
    evaluation: Evaluation
    identity: tuple[str, str]
    """``(iss, sub)`` of the first Passport (all of them are one person, rule 5)."""


@dataclass(frozen=True)
class MemberCall:
    """How to ask the member for one object's URL on a Passport holder's behalf."""

    authorization: str | None = None
    passports: tuple[str, ...] | None = None
    not_after: int | None = None
    """Epoch seconds the URL must not outlive."""
    denied: Decision | None = None
    """Set when the gateway denied access: the call is anonymous, and a refusal is answered 403."""


class AccessRefused(Exception):
    """The Passports do not reach the object: answered 403 (object metadata in the message, never tokens)."""

    def __init__(self, decision: Decision, object_id: str) -> None:
        reason = _REASONS.get(decision.reason, decision.reason)
        missing = f" (resources: {', '.join(decision.missing)})" if decision.missing else ""
        super().__init__(f"access to {object_id} is not granted: {reason}{missing}")
        self.decision = decision


class PassportGate:
    """The Passport engine, the members' resource maps and the gateway's token keys."""

    def __init__(
        self,
        engine: PassportEngine,
        maps: Mapping[str, MemberResourceMap],
        keys: TokenKeyRing,
        tokens: GatewayTokenSettings,
        issuer: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.maps = dict(maps)
        self.keys = keys
        self.token_settings = tokens
        self.issuer = issuer
        self.clock = clock

    def now(self) -> int:
        return int(self.clock())

    async def admit(self, passports: Any, *, has_authorization: bool) -> Caller:
        """Validate the request's Passports; :class:`~gateway.passports.evaluation.PassportRejected` when they are
        refused. Routes call :func:`admit`, which reads the request's credentials first."""
        evaluation = await self.engine.evaluate(passports, self.now(), has_authorization=has_authorization)
        assert evaluation.identity is not None  # the engine sets it on every evaluation it returns
        return Caller(tuple(passports), evaluation, evaluation.identity)

    def decide(self, caller: Caller, member: Member, record: MemberRecord) -> Decision:
        """The all-of decision for one object at ``member`` (a member without a resource map maps nothing)."""
        return self.engine.decide_with(caller.evaluation, record_authz(record), self.maps.get(member.id, EMPTY_MAP),
                                       self.now())

    async def plan(self, caller: Caller, member: Member, record: MemberRecord) -> MemberCall | None:
        """How to ask ``member`` for ``record``'s URL; ``None`` when Passports play no part for this member.
        :class:`AccessRefused` when the gateway denies a mapped object."""
        mode = member.auth.type
        if mode not in PASSPORT_MODES:
            return None
        if mode == "passport" and record.format == "drs" and not record_authz(record):
            return MemberCall(passports=caller.tokens, not_after=caller.evaluation.valid_until)
        decision = self.decide(caller, member, record)
        current().passport("access", decision.reason)
        if decision.reason != ALLOWED:
            if decision.reason in (UNMAPPED, NO_RESOURCES) and not decision.required:
                return MemberCall(denied=decision)  # nothing controlled that we know of: ask as anyone would
            raise AccessRefused(decision, record.id)
        assert decision.valid_until is not None
        if mode == "passport":
            return MemberCall(passports=caller.tokens, not_after=decision.valid_until)
        token = await self.token(caller, member, record, decision.valid_until)
        return MemberCall(authorization=f"Bearer {token}", not_after=decision.valid_until)

    async def token(self, caller: Caller, member: Member, record: MemberRecord, until: int) -> str:
        """A gateway token for ``member`` and this object, living at most until ``until``."""
        claims = gateway_token.claims(
            issuer=self.issuer, audience=member.token_audience, object_id=record.id,
            resources=record_authz(record), identity=caller.identity, now=self.now(),
            ttl=self.token_settings.ttl, access_until=until,
        )
        return gateway_token.mint(await self.keys.signing_key(), claims)

    def issuers_for(self, member: Member, record: MemberRecord) -> list[str]:
        """The trusted Visa issuers whose grants can reach this object (``passport_auth_issuers``): issuers with
        a grant rule for the authority of its mapped resources (:meth:`PassportEngine.issuers_granting`); every
        trusted Visa issuer when the
        member decides itself."""
        if member.auth.type not in PASSPORT_MODES:
            return []
        authz = record_authz(record)
        if not authz:
            return sorted(self.engine.trust.visa_issuers) if member.auth.type == "passport" else []
        lookup = self.maps.get(member.id, EMPTY_MAP).lookup
        authorities = {key[0] for key in (lookup(r) for r in authz) if key is not None}
        return self.engine.issuers_granting(authorities)


@dataclass(frozen=True)
class Admission:
    """What a request's credentials mean: its validated Passports, and the ``Authorization`` left for members."""

    caller: Caller | None = None
    """The validated Passports; ``None`` when the request sent none, or Passports are disabled."""
    authorization: str | None = None
    """The ``Authorization`` header as sent, for members under the passthrough rules; ``None`` when there was none
    or it carried a Passport (a Passport is never forwarded as an ordinary token)."""


async def admit(gate: PassportGate | None, authorization: str | None, passports: list[str] | None) -> Admission:
    """What a request's Passports mean (see the module doc for the policy): ``authorization`` is its
    ``Authorization`` header, ``passports`` its body's ``passports`` (``None`` when absent), ``gate`` the gateway's
    Passport gate (``None``: Passports are disabled). :class:`~gateway.core.errors.ApiError` (400, 401, 413 or 503)
    when they are refused."""
    bearer = bearer_passport(authorization) if authorization else None
    if gate is None:  # Passports disabled: answered as if none had been sent
        return Admission(None, None if bearer is not None else authorization)
    if passports is None and bearer is None:
        return Admission(None, authorization)
    if bearer is not None:
        if passports is not None:
            raise ApiError(400, "rule 2: passports were sent both in the body and as the Authorization header")
        passports, authorization = [bearer], None
    try:
        caller = await gate.admit(passports, has_authorization=authorization is not None)
    except PassportRejected as exc:
        current().passport("admit", f"rejected_{exc.status}")
        headers = {"WWW-Authenticate": 'Bearer realm="GA4GH Passport"'} if exc.status == 401 else None
        raise ApiError(exc.status, f"passports rejected: {exc}", headers=headers) from None
    current().passport("admit", "accepted")
    return Admission(caller, authorization)


def record_authz(record: MemberRecord) -> list[str]:
    """The object's ``authz`` resources (indexd records carry them; plain DRS objects do not)."""
    authz = record.document.get("authz")
    return [a for a in authz if isinstance(a, str)] if isinstance(authz, list) else []
