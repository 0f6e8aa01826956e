"""The Passport engine: from raw Passports to grants and access decisions (rulebook §A–§I, §5).

:meth:`PassportEngine.evaluate` runs, in this order:

1. the request envelope (rules 1–3: too many or too large Passports are a 413);
2. per Passport: compact-JWS parsing (pure) and its Visa count (rule 3: too many is a 413, whoever the issuer),
   **broker trust before any key lookup** (an untrusted ``iss`` is a 401 with zero requests), the broker's ``typ``
   rule, the claims (rules 18–21), its key from the :class:`KeyStore` and the signature. Any failure rejects the
   request (rule 4): :class:`PassportRejected` with status 401 (413 for a size cap), or 503 when a trusted
   broker's keys are unreachable;
3. per Passport, its Visas: split and dedup (rules 22, 31), claims (rules 17, 22–30, and the LinkedIdentities
   grammar of rule 39: a malformed one is ignored here, so it joins no identity and meets no condition), a
   registered type (rule 28),
   **Visa-issuer trust and source trust before any key lookup** (rules 13, 14: ignored, zero requests), key,
   signature. A bad Visa is ignored, never fatal; a trusted Visa issuer whose keys are unreachable is a 503 (fail
   closed, retryable);
4. one person across Passports (rule 5; LinkedIdentities may join identities), strict subject binding for brokers
   configured with it (rule 40), conditions (rules 32–37; a Visa whose conditions are not met is ignored), and the
   grants of :func:`gateway.passports.rules.grants.collect_grants` with their per-grant expiry (rule 41).

The :class:`~gateway.passports.evaluation.Evaluation` carries the grants, ``valid_until`` (rule 41: the earliest
expiry of every Passport and grant used), per-Visa report entries (hashes, rules and reasons; never token contents)
and the audit records of rule 46, these two built when first read (an access decision reads neither; the audit log
line does, when INFO is on).
:meth:`PassportEngine.decide` turns an evaluation (or a cached one, see :mod:`gateway.passports.decisions`) into an
all-of :class:`~gateway.passports.rules.resources.Decision` for one object.
:func:`gateway.passports.build.build_engine` builds an engine from the ``passports`` settings.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.passports.decisions import CachedDecision, CachedFailure, DecisionCache
from gateway.passports.evaluation import Evaluation, PassportRejected, VisaReport, visa_facts, visa_report
from gateway.passports.jose import jws
from gateway.passports.jose.errors import JwsError
from gateway.passports.jose.jwk import SUPPORTED_ALGORITHMS
from gateway.passports.rules import resources
from gateway.passports.rules.audit import AuditRecord, audit_record
from gateway.passports.rules.claims import ClaimError, rejection_status
from gateway.passports.rules.conditions import conditions_met
from gateway.passports.rules.envelope import check_envelope, check_same_person
from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.grants import CONTROLLED_ACCESS_GRANTS, RAS_V11, Grant, GrantConfig, collect_grants
from gateway.passports.rules.linked import LINKED_IDENTITIES, IdentityGraph, build_graph
from gateway.passports.rules.passport import (
    Passport,
    PassportError,
    PassportRules,
    check_visa_count,
    validate_passport_claims,
)
from gateway.passports.rules.resources import Decision, MemberResourceMap
from gateway.passports.rules.visa import Visa, VisaResult, VisaRules, read_visa, split_visas
from gateway.passports.trust.issuers import BrokerTrust, TrustConfig, trust_hash
from gateway.passports.trust.keys import KeyLookupError, KeyStore, KeysUnavailable, PublicKey
from gateway.settings.passports import MAX_PASSPORTS

log = logging.getLogger("gateway.passports.engine")

STANDARD_VISA_TYPES = frozenset({
    "AffiliationAndRole", "AcceptedTermsAndPolicies", "ResearcherStatus", "ControlledAccessGrants",
    LINKED_IDENTITIES,
})
REGISTERED_CUSTOM_TYPES = frozenset({RAS_V11})
"""Rule 28: custom Visa types are ignored unless a handler exists for that exact type string."""
_HANDLED_TYPES = STANDARD_VISA_TYPES | REGISTERED_CUSTOM_TYPES


_KeyMemo = dict[tuple[str, str, str, Any, Any, "str | None"], "PublicKey | tuple[int, str]"]
"""``(type, iss, source, kid, alg, jku)`` → the key the key store answered, or the rule and reason of a Visa
ignored before any key lookup (see :meth:`PassportEngine._visas`)."""


@dataclass
class _Checked:
    """One verified Passport and what became of its Visas."""

    index: int
    passport: Passport
    broker: BrokerTrust
    results: list[VisaResult]
    accepted: list[tuple[Visa, VisaFacts]]


class PassportEngine:
    """Validates Passports against one trust configuration; optionally caches evaluations."""

    def __init__(
        self,
        trust: TrustConfig,
        keys: KeyStore,
        grants: GrantConfig,
        *,
        max_passports: int = MAX_PASSPORTS,
        visa_rules: VisaRules | None = None,
        decisions: DecisionCache | None = None,
        own_keys: bool = False,
    ) -> None:
        if keys.trust is not trust and (keys.trust is None or trust_hash(keys.trust) != trust_hash(trust)):
            raise ValueError("the key store was built for another trust configuration")
        self.trust = trust
        self.keys = keys
        self.grants = grants
        self.max_passports = max_passports
        self.visa_rules = visa_rules or VisaRules(leeway=trust.leeway, max_authz_ttl=trust.max_authz_ttl)
        self.decisions = decisions
        self._own_keys = own_keys
        self._broker_rules: dict[str, PassportRules] = {
            iss: PassportRules(audiences=trust.audiences, require_aud=trust.require_audience,
                               legacy_typ=broker.legacy_typ, leeway=trust.leeway, algorithms=broker.algorithms)
            for iss, broker in trust.brokers.items()
        }

    @property
    def trust_hash(self) -> str:
        return trust_hash(self.trust)

    async def aclose(self) -> None:
        if self._own_keys:
            await self.keys.aclose()

    # --- the access decision -------------------------------------------------------------------------------------

    async def decide(self, object_authz: Sequence[str], member_map: MemberResourceMap, passports: Any, now: int,
                     *, has_authorization: bool = False) -> Decision:
        """All-of access decision for one object; :class:`PassportRejected` for a rejected request."""
        evaluation = await self.evaluate(passports, now, has_authorization=has_authorization)
        return self.decide_with(evaluation, object_authz, member_map, now)

    def issuers_granting(self, authorities: Collection[str]) -> list[str]:
        """The trusted Visa issuers whose grants can reach datasets of ``authorities`` (DRS
        ``passport_auth_issuers``): the issuer of a ControlledAccessGrants rule whose issuer and source are both
        trusted, or a trusted RAS issuer."""
        found = {r.issuer for r in self.grants.rules if r.authority in authorities
                 and self.trust.visa_source_trusted(r.issuer, CONTROLLED_ACCESS_GRANTS, r.source)}
        if self.grants.ras.authority in authorities:
            found.update(i for i in self.grants.ras.issuers if self.trust.visa_issuer(i) is not None)
        return sorted(found)

    @staticmethod
    def decide_with(evaluation: Evaluation, object_authz: Sequence[str], member_map: MemberResourceMap,
                    now: int) -> Decision:
        """The decision for one object from an evaluation already made (bulk requests: evaluate once). Grants
        that expired since the evaluation are not counted, and an expired Passport set denies."""
        return resources.decide(object_authz, member_map, evaluation.grants, now,
                                passport_expires=evaluation.passports_expire)

    # --- evaluation ----------------------------------------------------------------------------------------------

    async def evaluate(self, passports: Any, now: int, *, has_authorization: bool = False,
                       use_cache: bool = True) -> Evaluation:
        """Validate the request's Passports (see the module doc). With ``use_cache`` and a decision cache, a cached
        evaluation (or rejection) of the same Passports under the same trust configuration is served instead."""
        try:
            tokens = check_envelope(passports, has_authorization=has_authorization,
                                    max_passports=self.max_passports)
        except ClaimError as exc:
            raise PassportRejected(exc.status, exc.rule, exc.reason) from None
        cache = self.decisions if use_cache else None
        if cache is not None:
            hit = await cache.get(tokens, now)
            if isinstance(hit, CachedFailure):
                raise PassportRejected(hit.status, hit.rule, "the passports were rejected recently", cached=True)
            if isinstance(hit, CachedDecision):
                return Evaluation(hit.grants, hit.valid_until, hit.passports_expire, cached=True, identity=hit.identity)
        try:
            evaluation = await self._evaluate(tokens, now)
        except PassportRejected as exc:
            if cache is not None:
                await cache.put_failure(tokens, CachedFailure(exc.status, exc.rule), now)
            raise
        if cache is not None:
            await cache.put(tokens, CachedDecision(evaluation.grants, evaluation.valid_until,
                                                   evaluation.passports_expire, evaluation.identity), now)
        return evaluation

    async def _evaluate(self, tokens: list[str], now: int) -> Evaluation:
        checked = [await self._passport(i, token, now) for i, token in enumerate(tokens)]
        for item in checked:
            await self._visas(item, now)

        # rule 5: one person, possibly joined by trusted LinkedIdentities Visas of any of the Passports
        all_links = [f for item in checked for _, f in item.accepted if f.type == LINKED_IDENTITIES]
        graph = build_graph(all_links, now)
        try:
            check_same_person([c.passport for c in checked], lambda a, b: graph.connected([a, b]))
        except ClaimError as exc:
            raise PassportRejected(exc.status, exc.rule, exc.reason) from None

        grants: list[Grant] = []
        for item in checked:
            grants.extend(self._grants(item, now))
        passports_expire = min(c.passport.expires for c in checked)  # exp + leeway (rule 20)
        valid_until = min([passports_expire, *(g.expires for g in grants)])
        evaluation = Evaluation(tuple(grants), valid_until, passports_expire, identity=checked[0].passport.identity,
                                details=lambda: _details(checked))
        self._log(evaluation)
        return evaluation

    async def _passport(self, index: int, token: str, now: int) -> _Checked:
        """One Passport, fully checked; :class:`PassportRejected` otherwise."""
        try:
            parsed = jws.parse_compact(token, max_bytes=jws.MAX_PASSPORT_BYTES, algorithms=SUPPORTED_ALGORITHMS)
            check_visa_count(parsed.payload)  # rule 3: every size cap is a 413 before trust, keys and signatures
        except JwsError as exc:
            raise PassportRejected(rejection_status(exc.rule), exc.rule, exc.reason) from None
        except PassportError as exc:
            raise PassportRejected(exc.status, exc.rule, exc.reason) from None
        broker = self.trust.broker(parsed.payload.get("iss"))
        if broker is None:  # rule 13: before any key lookup, no request at all
            raise PassportRejected(401, 13, "the passport issuer is not a trusted broker")
        rules = self._broker_rules[broker.issuer]
        try:
            jws.check_typ(parsed.header, jws.TokenKind.PASSPORT, legacy=rules.legacy_typ)
            passport = validate_passport_claims(parsed, now, rules)
        except JwsError as exc:
            raise PassportRejected(401, exc.rule, exc.reason) from None
        except PassportError as exc:
            raise PassportRejected(exc.status, exc.rule, exc.reason) from None
        try:
            key = await self.keys.broker_key(passport.iss, parsed.header.get("kid"), parsed.header.get("alg"))
            jws.verify(parsed, key)
        except KeyLookupError as exc:
            raise PassportRejected(exc.status, exc.rule, exc.message) from None
        except JwsError as exc:
            raise PassportRejected(401, exc.rule, exc.reason) from None
        return _Checked(index, passport, broker, [], [])

    async def _visas(self, item: _Checked, now: int) -> None:
        """Read, trust-check and verify the Passport's Visas into ``item.results`` / ``item.accepted``.

        ``keys`` holds what :meth:`_lookup` answered for earlier Visas of this Passport with the same type, issuer,
        source and ``kid``/``alg``/``jku`` header (the usual case: one issuer's Visas of one type), which are all
        those checks read: the key, or the rule an untrusted Visa failed."""
        unique, item.results = split_visas(item.passport, self.visa_rules)
        results, accepted = item.results, item.accepted
        headers: jws.HeaderMemo = {}  # this Passport's only: its Visas mostly share their issuer's header
        keys: _KeyMemo = {}  # this Passport's only: trust verdicts and keys, for its next Visas
        rules, lookup, verified = self.visa_rules, self._lookup, self._verified  # once, not per Visa
        for token in unique:
            result = read_visa(token, now, rules, headers=headers)
            visa = result.visa
            if visa is not None:
                header = visa.jws.header
                # read_visa checked these are strings (jku a string or None): the slot is hashable
                slot = (visa.type, visa.iss, visa.source, header.get("kid"), header.get("alg"), visa.jku)
                known = keys.get(slot)
                if known is None:  # a coroutine only for what may wait on the key store
                    try:
                        known = await lookup(visa, slot[3], slot[4])
                    except KeyLookupError as exc:  # not kept: made again for the next Visa, and fails the same way
                        results.append(VisaResult.ignored(result.sha256, exc.rule, exc.message))
                        continue
                    keys[slot] = known
                result = verified(result, visa, known)
                if result.valid:
                    accepted.append((visa, visa_facts(visa)))
            results.append(result)

    async def _lookup(self, visa: Visa, kid: Any, alg: Any) -> PublicKey | tuple[int, str]:
        """What the checks before a Visa's signature answer (rules 28, 13, 14 first: an untrusted Visa makes no
        request at all): its issuer's key for ``kid``/``alg``, or the rule and reason it is ignored for;
        :class:`KeyLookupError` when the key store has no such key, :class:`PassportRejected` (503) when a trusted
        issuer's keys are unreachable."""
        untrusted = self._untrusted(visa)
        if untrusted is not None:
            return untrusted
        try:
            return await self.keys.visa_key(visa.iss, kid, alg, visa.jku)
        except KeysUnavailable as exc:  # fail closed, retryable: never silently drop a trusted issuer's Visa
            raise PassportRejected(exc.status, exc.rule, exc.message) from None

    @staticmethod
    def _verified(result: VisaResult, visa: Visa, known: PublicKey | tuple[int, str]) -> VisaResult:
        """``result`` (the claims of ``visa`` passed) once its signature verifies under ``known``, the key
        :meth:`_lookup` answered; an ignored result otherwise (``known`` the rule and reason of an untrusted Visa,
        or a bad signature)."""
        if isinstance(known, tuple):
            return VisaResult.ignored(result.sha256, *known)
        try:
            jws.verify(visa.jws, known)
        except JwsError as exc:
            return VisaResult.ignored(result.sha256, exc.rule, exc.reason)
        return result

    def _untrusted(self, visa: Visa) -> tuple[int, str] | None:
        """Why ``visa`` is ignored before any key lookup (rules 28, 13, 14: no request at all), or ``None``."""
        if visa.type not in _HANDLED_TYPES:
            return 28, "visa type has no handler"
        if self.trust.visa_issuer(visa.iss) is None:
            return 13, "visa issuer is not trusted"
        if not self.trust.visa_source_trusted(visa.iss, visa.type, visa.source):
            return 14, "visa source is not trusted for this type"
        return None

    def _grants(self, item: _Checked, now: int) -> list[Grant]:
        """Strict subject binding, conditions, then the grants of one Passport's accepted Visas. Visas dropped
        here are turned into ignored results (for the report and the audit record)."""
        facts = [f for _, f in item.accepted]
        graph = build_graph([f for f in facts if f.type == LINKED_IDENTITIES], now)
        dropped: dict[int, VisaResult] = {}  # the lists below filtered by it are the plain facts while it is empty
        if item.broker.strict_subject:
            bound = _bound_roots(item.passport, facts, graph)
            for i, f in enumerate(facts):
                if graph.root(f.identity) not in bound:
                    dropped[i] = VisaResult.ignored(item.accepted[i][0].sha256, 40,
                                                    "visa subject is not the passport's and not linked to it")
            graph = build_graph([f for i, f in enumerate(facts) if i not in dropped and f.type == LINKED_IDENTITIES],
                                now)
        kept = [f for i, f in enumerate(facts) if i not in dropped] if dropped else facts
        for i, f in enumerate(facts):
            if i in dropped:
                continue
            if f.expires <= now:
                dropped[i] = VisaResult.ignored(item.accepted[i][0].sha256, 41, "visa assertion has expired")
            elif f.has_conditions and conditions_met(f, kept, now, graph) is None:
                dropped[i] = VisaResult.ignored(item.accepted[i][0].sha256, 34,
                                                "visa conditions are malformed or not met")
        if dropped:
            by_sha: dict[str | None, VisaResult] = {item.accepted[i][0].sha256: r for i, r in dropped.items()}
            item.results = [by_sha.get(r.sha256, r) if r.valid else r for r in item.results]
        usable = [f for i, f in enumerate(facts) if i not in dropped] if dropped else facts
        return list(collect_grants(usable, self.grants, now, leeway=self.visa_rules.leeway))

    @staticmethod
    def _log(evaluation: Evaluation) -> None:
        if not log.isEnabledFor(logging.INFO):  # spares building the audit records nobody would see
            return
        for record in evaluation.audit:
            log.info("passport evaluated", extra={
                "passport_jti": record.passport_jti, "passport_iss": record.passport_identity[0],
                "passport_sub": record.passport_identity[1], "passport_sha256": record.passport_sha256,
                "visas": list(record.visas),
            })


def _details(checked: list[_Checked]) -> tuple[tuple[VisaReport, ...], tuple[AuditRecord, ...]]:
    """The per-Visa reports and the audit records of verified Passports (:attr:`Evaluation.visas`,
    :attr:`Evaluation.audit`), built when first read."""
    reports = tuple(visa_report(item.index, r) for item in checked for r in item.results)
    return reports, tuple(audit_record(item.passport, item.results) for item in checked)


def _bound_roots(passport: Passport, facts: list[VisaFacts], graph: IdentityGraph) -> set[tuple[str, str]]:
    """Rule 40: the identity components a Visa must belong to under strict subject binding: the Passport's own
    identity, and every Visa identity with the Passport's ``sub``; LinkedIdentities extend them (§G)."""
    roots = {graph.root(passport.identity)}
    roots.update(graph.root(f.identity) for f in facts if f.sub == passport.sub)
    return roots
