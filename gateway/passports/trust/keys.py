"""The key-fetching edge of Passport validation (rulebook rules 9, 13, 15, 16 and §6).

:class:`KeyStore` hands out a verification key for ``(issuer, kid[, jku])`` only **after** the trust check of
:mod:`gateway.passports.trust.issuers` passed; an untrusted issuer or ``jku`` raises :class:`UntrustedKeySource` without
any request. For trusted sources:

* **Fetch hygiene**: https only (http to a loopback host only with ``allow_insecure_loopback``), redirects are an
  error (never followed: :data:`gateway.core.redirects.NONE`), connect/read timeouts of ~3 s under one overall
  deadline, the body streamed and cut at 256 KiB, ``keys`` must be an array of at most 50. The client is
  :func:`gateway.core.http_client.build_client`'s: no cookies kept, the gateway's egress policy handed in (checked on
  every connection: a trusted issuer's keys inside a denied network are unavailable, never fetched).
* **OIDC discovery** on the *configured* issuer only: its ``issuer`` must equal the configured one exactly, and its
  ``jwks_uri`` must pass the same URL rule.
* **JWKs become** ``cryptography`` **public keys** once, when fetched: RSA of 2048–8192 bits for RS256 (as
  ``jwk.check_key``), EC P-256 for ES256, ``use`` (if present) ``sig``, ``alg`` (if present) the algorithm the key
  is bound to; a ``kid`` is required. Bad keys are dropped, not fatal.
* **Caching**: one fetch in flight per source (a shared task: concurrent lookups wait for it), parsed keys live
  ``ttl`` seconds, then are served stale for up to ``max_stale`` seconds if a refresh fails (stale-if-error); a
  ``kid`` miss refetches at most once per ``kid_miss_cooldown``; a failed fetch is not retried for
  ``error_cooldown``. A trusted issuer whose keys are unreachable with nothing usable cached fails closed with
  :class:`KeysUnavailable` (→ 503). Only trusted sources ever get an entry, so the cache is bounded by the config.

Error messages name the rule and the (configured) issuer, never token contents such as the ``kid``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.core.egress import EgressDenied, EgressPolicy
from gateway.core.http_client import BodyTooLarge, build_client, read_capped
from gateway.core.redirects import NONE, RedirectRefused
from gateway.passports.jose.errors import KeyRejected
from gateway.passports.jose.jwk import key_from_jwk
from gateway.passports.trust.issuers import ALGORITHMS, KeySource, TrustConfig, url_problem
from gateway.settings.passports import KeyFetchSettings

log = logging.getLogger("gateway.passports.trust.keys")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
MAX_KID_LENGTH = 128
DISCOVERY_PATH = "/.well-known/openid-configuration"


# --- errors -------------------------------------------------------------------------------------------------------


class KeyLookupError(Exception):
    """No key for this token. ``status`` is the HTTP status a Passport-level failure maps to."""

    status = 401
    rule = 13

    def __init__(self, message: str) -> None:
        super().__init__(f"rule {self.rule}: {message}")
        self.message = message


class UntrustedKeySource(KeyLookupError):
    """The issuer, ``jku`` or algorithm is not trusted: no request was made."""


class UnknownKey(KeyLookupError):
    """The source's keys hold no usable key for this ``kid`` and algorithm."""

    rule = 9


class KeysUnavailable(KeyLookupError):
    """A trusted issuer's keys could not be fetched and nothing usable is cached: fail closed, retryable."""

    status = 503
    rule = 16


class KeyFetchError(Exception):
    """One fetch failed (internal; becomes stale-if-error or :class:`KeysUnavailable`)."""


# --- JWK parsing --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedKey:
    kid: str
    alg: str
    """The one algorithm this key may verify (rule 9)."""
    key: PublicKey


def parse_jwk(jwk: Any) -> ParsedKey:
    """One JWK as a verification key bound to one algorithm; :class:`ValueError` when rule 9 forbids it.
    The rules are :func:`gateway.passports.jose.jwk.key_from_jwk`'s: one parser for keys wherever they come from."""
    try:
        found = key_from_jwk(jwk)
    except KeyRejected as exc:
        raise ValueError(exc.reason) from None
    assert found.kid is not None  # key_from_jwk requires one by default
    return ParsedKey(found.kid, found.alg, found.key)


def parse_jwks(doc: Any, *, max_keys: int, where: str) -> dict[tuple[str, str], ParsedKey]:
    """A JWKS document as ``{(kid, alg): key}``. A document that is not ``{"keys": [...]}`` or holds more than
    ``max_keys`` keys is a :class:`KeyFetchError`; single bad keys are dropped (logged), and so are keys whose
    ``(kid, alg)`` appears twice (ambiguous)."""
    if not isinstance(doc, dict):
        raise KeyFetchError(f"{where}: JWKS is not a JSON object")
    keys = doc.get("keys")
    if not isinstance(keys, list):
        raise KeyFetchError(f"{where}: JWKS `keys` is not an array")
    if len(keys) > max_keys:
        raise KeyFetchError(f"{where}: JWKS holds {len(keys)} keys (at most {max_keys})")
    parsed: dict[tuple[str, str], ParsedKey] = {}
    ambiguous: set[tuple[str, str]] = set()
    dropped = 0
    for jwk in keys:
        try:
            key = parse_jwk(jwk)
        except (ValueError, TypeError, OverflowError) as exc:
            dropped += 1
            log.warning("dropped a JWK", extra={"where": where, "reason": str(exc)[:200]})
            continue
        slot = (key.kid, key.alg)
        if slot in parsed:
            ambiguous.add(slot)
        parsed[slot] = key
    for slot in ambiguous:
        del parsed[slot]
        log.warning("dropped JWKs sharing one kid and alg", extra={"where": where})
    return parsed


# --- the store ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """One trusted source's keys and fetch bookkeeping (monotonic seconds from the injected clock)."""

    keys: dict[tuple[str, str], ParsedKey] | None = None
    fetched_at: float = 0.0
    """When ``keys`` were fetched."""
    attempted_at: float | None = None
    """When the last fetch started (success or not)."""
    failed_at: float | None = None
    """When the last fetch failed, if the last fetch failed."""
    last_error: str = ""
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class KeyStore:
    """Verification keys of the trusted brokers and Visa issuers, fetched and cached per source."""

    def __init__(
        self,
        trust: TrustConfig | None,
        settings: KeyFetchSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        egress: EgressPolicy,
        allow_insecure_loopback: bool = False,
    ) -> None:
        self.trust = trust
        self.allow_insecure_loopback = trust.allow_insecure_loopback if trust is not None else allow_insecure_loopback
        self.settings = settings or KeyFetchSettings()
        self.clock = clock
        self._states: dict[tuple[str, str, str], _State] = {}
        self._pinned: dict[tuple[str, str, str], dict[tuple[str, str], ParsedKey]] = {}
        for source in self._all_sources():
            if source.kind == "pinned":
                keys = parse_jwks(orjson.loads(source.jwks), max_keys=self.settings.max_keys,
                                  where=f"pinned JWKS of {source.issuer}")
                if not keys:
                    raise ValueError(f"the pinned JWKS of {source.issuer} holds no usable key (rule 9)")
                self._pinned[source.cache_key] = keys
        self._client = build_client(
            egress=egress, timeout=httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout),
            engine="aiohttp", replay_dropped=True,
        )

    def _all_sources(self) -> list[KeySource]:
        if self.trust is None:
            return []
        sources = [b.keys for b in self.trust.brokers.values()]
        for v in self.trust.visa_issuers.values():
            sources += [s for s in (v.pinned, v.discovery) if s is not None] + list(v.jku.values())
        return sources

    async def aclose(self) -> None:
        for state in self._states.values():
            if state.task is not None:
                state.task.cancel()
        tasks = [s.task for s in self._states.values() if s.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

    # --- lookups --------------------------------------------------------------------------------------------------

    async def broker_key(self, iss: Any, kid: Any, alg: Any) -> PublicKey:
        """The key verifying a Passport from ``iss``; :class:`UntrustedKeySource` (no request) unless ``iss`` is a
        trusted broker and ``alg`` allowed for it."""
        source = self.trust.broker_key_source(iss) if self.trust is not None else None
        if source is None:
            raise UntrustedKeySource("the Passport issuer is not a trusted broker")
        ready = self._ready(source, kid, alg)
        return ready if ready is not None else await self.key(source, kid, alg)

    async def visa_key(self, iss: Any, kid: Any, alg: Any, jku: Any = None) -> PublicKey:
        """The key verifying a Visa from ``iss`` carrying this ``jku`` header (``None`` for an Access-Token Visa);
        :class:`UntrustedKeySource` (no request) unless the issuer and ``jku`` are trusted."""
        if jku is not None and not isinstance(jku, str):
            raise UntrustedKeySource("the Visa jku is not a string")
        if self.trust is None or self.trust.visa_issuer(iss) is None:
            raise UntrustedKeySource("the Visa issuer is not trusted")
        source = self.trust.visa_key_source(iss, jku)
        if source is None:
            raise UntrustedKeySource("the Visa jku is not registered for its issuer" if jku is not None
                                     else "the Visa issuer has no key source for Visas without jku")
        ready = self._ready(source, kid, alg)
        return ready if ready is not None else await self.key(source, kid, alg)

    async def key(self, source: KeySource, kid: Any, alg: Any) -> PublicKey:
        """The key ``kid`` of a trusted ``source``, usable with ``alg``."""
        ready = self._ready(source, kid, alg)
        if ready is not None:
            return ready
        slot = (kid, alg)
        state = self._states.setdefault(source.cache_key, _State())
        keys = await self._current(source, state)
        found = keys.get(slot)
        if found is None and self._may_refetch_for_kid(state):
            await self._refresh(source, state)
            keys = self._usable(state) or keys
            found = keys.get(slot)
        if found is None:
            raise UnknownKey(f"no {alg} key with that kid in the keys of {source.issuer}")
        return found.key

    def _ready(self, source: KeySource, kid: Any, alg: Any) -> PublicKey | None:
        """The key when it is at hand: pinned, or in fresh keys with no fetch under way (what :meth:`_current`
        serves without waiting). ``None`` when :meth:`key` has to decide (fetch, wait, refetch for the kid); the
        errors of a bad ``alg`` or ``kid`` or of a pinned miss are raised here. Plain code rather than a coroutine:
        this is every lookup in the steady state, one per token."""
        if not isinstance(alg, str) or alg not in ALGORITHMS or alg not in source.algorithms:
            raise UntrustedKeySource(f"alg not allowed for {source.issuer}")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise UnknownKey("kid missing or too long")
        if source.kind == "pinned":
            found = self._pinned[source.cache_key].get((kid, alg))
            if found is None:
                raise UnknownKey(f"no {alg} key with that kid in the pinned keys of {source.issuer}")
            return found.key
        state = self._states.get(source.cache_key)
        if state is None or state.keys is None or state.task is not None:
            return None
        if self.clock() - state.fetched_at >= self.settings.ttl:
            return None
        found = state.keys.get((kid, alg))
        return found.key if found is not None else None

    def _usable(self, state: _State) -> dict[tuple[str, str], ParsedKey] | None:
        """The cached keys if they may still be served (fresh, or stale within ``max_stale``)."""
        if state.keys is None:
            return None
        if self.clock() - state.fetched_at > self.settings.ttl + self.settings.max_stale:
            return None
        return state.keys

    def _may_refetch_for_kid(self, state: _State) -> bool:
        now = self.clock()
        if state.task is not None:
            return True  # a fetch is already under way: waiting for it costs no request
        return state.attempted_at is None or now - state.attempted_at >= self.settings.kid_miss_cooldown

    async def _current(self, source: KeySource, state: _State) -> dict[tuple[str, str], ParsedKey]:
        now = self.clock()
        fresh = state.keys is not None and now - state.fetched_at < self.settings.ttl
        if fresh and state.task is None:
            return state.keys  # type: ignore[return-value]
        cooling = state.failed_at is not None and now - state.failed_at < self.settings.error_cooldown
        if not cooling or state.task is not None:
            await self._refresh(source, state)
        keys = self._usable(state)
        if keys is None:
            raise KeysUnavailable(f"the keys of trusted issuer {source.issuer} are unreachable "
                                  f"({state.last_error or 'no keys fetched'}) and none are cached")
        return keys

    async def _refresh(self, source: KeySource, state: _State) -> None:
        """Fetch the source's keys, or wait for the fetch already under way (single flight). Never raises: the
        outcome is recorded in ``state``."""
        task = state.task
        if task is None:
            task = state.task = asyncio.get_running_loop().create_task(self._fetch_into(source, state))

            def forget(done: asyncio.Task[None]) -> None:
                if state.task is done:
                    state.task = None

            task.add_done_callback(forget)
        await asyncio.shield(task)  # a cancelled caller does not cancel the fetch the others wait for

    async def _fetch_into(self, source: KeySource, state: _State) -> None:
        started = state.attempted_at = self.clock()
        try:
            keys = await self._fetch(source)
        except KeyFetchError as exc:
            state.failed_at, state.last_error = self.clock(), str(exc)
            stale = " (serving the previous keys)" if self._usable(state) is not None else ""
            log.warning("key fetch failed" + stale, extra={"issuer": source.issuer, "reason": str(exc)[:300]})
            return
        except Exception as exc:  # never let a surprise escape into every waiter as something else
            state.failed_at, state.last_error = self.clock(), f"{type(exc).__name__}"
            log.exception("key fetch failed unexpectedly", extra={"issuer": source.issuer})
            return
        state.keys, state.fetched_at, state.failed_at, state.last_error = keys, started, None, ""

    # --- fetching -------------------------------------------------------------------------------------------------

    async def _fetch(self, source: KeySource) -> dict[tuple[str, str], ParsedKey]:
        budget = self.settings.connect_timeout + self.settings.read_timeout
        try:
            async with asyncio.timeout(budget * (2 if source.kind == "discovery" else 1)):
                url = source.url if source.kind == "jku" else await self._discover(source)
                doc = await self._get_json(url, f"JWKS of {source.issuer}")
        except TimeoutError:
            raise KeyFetchError(f"keys of {source.issuer}: no answer within {budget:g} s") from None
        return parse_jwks(doc, max_keys=self.settings.max_keys, where=f"JWKS of {source.issuer}")

    async def _discover(self, source: KeySource) -> str:
        doc = await self._get_json(source.url.rstrip("/") + DISCOVERY_PATH, f"OIDC discovery of {source.issuer}")
        if not isinstance(doc, dict):
            raise KeyFetchError(f"OIDC discovery of {source.issuer}: not a JSON object")
        if doc.get("issuer") != source.url:
            raise KeyFetchError(f"OIDC discovery of {source.issuer}: its `issuer` is not the configured issuer")
        jwks_uri: Any = doc.get("jwks_uri")  # url_problem refuses anything but a string
        problem = url_problem(jwks_uri, allow_insecure_loopback=self.allow_insecure_loopback)
        if problem:
            raise KeyFetchError(f"OIDC discovery of {source.issuer}: its jwks_uri {problem}")
        return str(jwks_uri)

    async def _get_json(self, url: str, what: str) -> Any:
        problem = url_problem(url, allow_insecure_loopback=self.allow_insecure_loopback)
        if problem:
            raise KeyFetchError(f"{what}: URL {problem}; not fetched")
        cap = self.settings.max_bytes
        try:
            async with self._client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                status = response.status_code
                NONE.follow(origin=response.url, current=response.url, method="GET", status=status,
                            location=response.headers.get("location"), hops=0)
                if status != 200:
                    raise KeyFetchError(f"{what}: HTTP {status}")
                body = await read_capped(response, cap)
        except RedirectRefused as refused:
            raise KeyFetchError(f"{what}: HTTP {refused.status} redirect, not followed") from None
        except BodyTooLarge:
            raise KeyFetchError(f"{what}: body larger than {cap} bytes") from None
        except (httpx.HTTPError, EgressDenied) as exc:
            raise KeyFetchError(f"{what}: {type(exc).__name__}") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise KeyFetchError(f"{what}: body is not valid JSON") from None

    async def warm(self) -> None:
        """Fetch every fetchable trusted source once (at startup); failures are logged, not raised."""
        sources = [s for s in self._all_sources() if s.kind != "pinned"]
        await asyncio.gather(*(self._refresh(s, self._states.setdefault(s.cache_key, _State())) for s in sources))

    def cached_sources(self) -> Mapping[tuple[str, str, str], bool]:
        """Which sources have keys cached (for health checks and tests)."""
        return {k: s.keys is not None for k, s in self._states.items()}
