"""GA4GH Passports at the reference commons: its own Passport engine and how its resources map to grants.

The commons' controlled resources are ``/programs/<phs>.<consent>`` (:meth:`refcommons.model.Project.authz_for`);
:data:`RESOURCE_MAP` turns each into the grant key ``("dbgap", phs, consent)`` with one anchored template. Open
resources are not mapped: they need no Passport (anonymous access already reaches them), and an unmapped resource
denies Passport access. Access by Passport is all-of over a record's ``authz``
(:meth:`~gateway.passports.PassportEngine.decide_with`).

:class:`PassportAccess` wraps a :class:`~gateway.passports.PassportEngine` built from the commons' own
``passports`` section (:class:`~gateway.settings.passports.PassportsConfig`) with an in-memory decision cache.
Rejections become :class:`~gateway.core.errors.ApiError` with the engine's status (400, 401, 413, 503); messages
carry rule numbers and reasons, never token contents. The engine logs its audit records (rule 46).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.cache.memory import MemoryCache
from gateway.core.egress import OPEN
from gateway.core.errors import ApiError, forbidden, unauthorized
from gateway.passports import (
    EXPIRED,
    NO_RESOURCES,
    UNMAPPED,
    Decision,
    Evaluation,
    MemberResourceMap,
    PassportEngine,
    PassportRejected,
    ResourceTemplate,
    Template,
    build_engine,
)
from gateway.settings.passports import PassportsConfig

log = logging.getLogger("refcommons.fence")

AUTHORITY = "dbgap"
RESOURCE_TEMPLATE = "/programs/{dataset}.{consent}"
RESOURCE_MAP = MemberResourceMap(templates=(ResourceTemplate(Template(RESOURCE_TEMPLATE), AUTHORITY),))
"""``/programs/phs001234.c1`` → ``("dbgap", "phs001234", "c1")``; nothing else (open resources stay unmapped)."""

DECISION_CACHE_ENTRIES = 10_000
DECISION_CACHE_TTL = 900.0
MAX_USER_LABEL = 128


def user_label(sub: str) -> str:
    """A label for download URLs and logs from a verified subject: itself, or its sha256 when unreasonably long."""
    if len(sub) <= MAX_USER_LABEL:
        return sub
    return "sha256:" + hashlib.sha256(sub.encode()).hexdigest()


@dataclass(frozen=True)
class PassportCheck:
    """A request's Passports, validated: the evaluation and whose they are (verified ``iss``, ``sub``)."""

    evaluation: Evaluation
    identity: tuple[str, str] | None

    @property
    def user(self) -> str | None:
        """A label for download URLs and logs: the Passport ``sub`` (:func:`user_label`)."""
        return user_label(self.identity[1]) if self.identity is not None else None


def rejected(exc: PassportRejected) -> ApiError:
    """The HTTP error of a rejected Passport set (status from the engine; reason without token contents)."""
    where = f" (rule {exc.rule})" if exc.rule is not None else ""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return ApiError(exc.status, f"passports rejected{where}: {exc.reason}", headers=headers)


class PassportAccess:
    """The commons' Passport clearinghouse: validate a request's Passports, decide per object, name issuers."""

    def __init__(self, engine: PassportEngine, resource_map: MemberResourceMap = RESOURCE_MAP) -> None:
        self.engine = engine
        self.resource_map = resource_map

    @classmethod
    def build(cls, config: PassportsConfig) -> PassportAccess:
        """From an enabled ``passports`` section; :class:`ValueError` for an unusable one (refuse to start)."""
        cache = MemoryCache(max_entries=DECISION_CACHE_ENTRIES, default_ttl=DECISION_CACHE_TTL)
        # A member's own key fetches: the gateway's egress policy is the gateway's (in-process, the commons has no
        # Passports section and fetches nothing).
        return cls(build_engine(config, cache, egress=OPEN))

    async def aclose(self) -> None:
        await self.engine.aclose()

    async def check(self, passports: Any, now: int, *, has_authorization: bool) -> PassportCheck:
        """Validate the request's Passports (rules 1–5 and all per-Passport rules); :class:`ApiError` otherwise."""
        try:
            evaluation = await self.engine.evaluate(passports, now, has_authorization=has_authorization)
        except PassportRejected as exc:
            raise rejected(exc) from None
        return PassportCheck(evaluation, evaluation.identity)

    def decide(self, check: PassportCheck, object_authz: Sequence[str], now: int) -> Decision:
        """All-of decision for one object's ``authz`` under the checked Passports."""
        return self.engine.decide_with(check.evaluation, object_authz, self.resource_map, now)

    def download_until(self, check: PassportCheck, guid: str, object_authz: Sequence[str], now: int) -> int:
        """Until when ``check``'s Passports let the object ``guid`` be downloaded: every one of its resources
        granted (all-of), the end being the decision's ``valid_until``. 403 otherwise (401 once the Passports have
        expired). The decision is logged with the Passport's ``iss`` and ``sub``, never a token."""
        decision = self.decide(check, object_authz, now)
        identity = check.identity or ("", "")
        log.info("passport access decided", extra={
            "guid": guid, "allowed": decision.allowed, "reason": decision.reason,
            "passport_iss": identity[0], "passport_sub": identity[1], "missing": list(decision.missing),
        })
        if decision.allowed and decision.valid_until is not None:
            return decision.valid_until
        if decision.reason == EXPIRED:
            raise unauthorized("the passports have expired")
        if decision.reason == NO_RESOURCES:
            raise forbidden(f"{guid} has no authz resources a passport could grant")
        if decision.reason == UNMAPPED:
            raise forbidden(f"a passport cannot grant {', '.join(decision.missing)}")
        raise forbidden(f"the passports do not grant {', '.join(decision.missing)}")

    def grantable(self, object_authz: Sequence[str]) -> bool:
        """Could a Passport ever grant this object: every one of its (at least one) resources is mapped?"""
        return bool(object_authz) and all(self.resource_map.lookup(r) is not None for r in object_authz)

    def issuers_for(self, object_authz: Sequence[str]) -> list[str]:
        """The trusted Visa issuers whose grants can reach this object (DRS ``passport_auth_issuers``): issuers
        with a grant rule for the authorities of its resources. Empty when a resource is unmapped."""
        if not self.grantable(object_authz):
            return []
        authorities = {key[0] for r in object_authz if (key := self.resource_map.lookup(r)) is not None}
        return self.engine.issuers_granting(authorities)
