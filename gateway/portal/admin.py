"""Admin sessions of the portal: an admin signs in on ``/federation`` with the admin bearer token once, and the
browser then holds only an opaque session id.

**Sign-in.** The token is posted in a form (CSRF-checked like every portal form) and checked by the very
:meth:`~gateway.registry.admins.AdminCredentials.verify` the API's admin routes call (the configured
``admin_token``, named ``bootstrap``, or a named admin's token). It is never written anywhere: not to a cookie, a
page, a URL, the store or a log.

**The session.** :func:`new_session_id` makes 32 random bytes; the browser keeps them in the cookie :data:`COOKIE`
(``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS, ``Path=/federation``, ``Max-Age`` :data:`TTL`). The
gateway's store keeps ``portal.admin_sessions/<sha256 of the id>``: ``{"admin", "credential", "expires"}``, so
every replica knows the session and the store holds nothing a browser could present. ``credential`` is the SHA-256
of the admin's token digest as the admins' records hold it (of the bootstrap token's digest for ``bootstrap``):
:meth:`AdminSessions.actor` checks on every use that it still matches, so revoking a named admin (or changing
``admin_token``) ends its sessions at once on every replica, as it refuses its bearer token. A session ends after
:data:`TTL` seconds or when its admin signs out (the record is deleted).

**Acting.** A signed-in admin's approve and suspend go through the registry's repository with
``actor="admin:<name>"`` like the API's, so the audit log is the same; sign-in and sign-out are audited too
(``portal.sign_in``, ``portal.sign_out``).

**The sweep.** An expired session is deleted when it is met, and :class:`SessionSweeper` (every replica, every
:data:`SWEEP_INTERVAL` seconds, :func:`~gateway.core.concurrency.every_slot`) deletes those nobody presents again
(:func:`sweep_expired`), so the store does not keep every session ever opened. Each delete is conditional on the
revision read; replicas sweeping at once delete each session once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.core.concurrency import every_slot
from gateway.registry.admins import BOOTSTRAP, AdminCredentials, admin_actor, digest
from gateway.store.base import Conflict, Store

COOKIE = "gw_admin"
COOKIE_PATH = "/federation"
NS_SESSIONS = "portal.admin_sessions"
TTL = 8 * 3600
"""Seconds a session lasts from sign-in."""
SWEEP_INTERVAL = 3600.0
"""Seconds between two sweeps of expired sessions on a replica."""
SWEEP_PAGE = 100
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def well_formed(session_id: str | None) -> bool:
    return session_id is not None and _SHAPE.match(session_id) is not None


def session_key(session_id: str) -> str:
    """Where the store keeps a session: the id's SHA-256, never the id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def credential_of(token_digest: str) -> str:
    """What a session remembers of the credential it was opened with (a digest of its digest)."""
    return hashlib.sha256(("portal-session:" + token_digest).encode()).hexdigest()


def live(doc: dict[str, object], now: float) -> bool:
    """The stored session has not expired."""
    expires = doc.get("expires")
    return isinstance(expires, (int, float)) and now < expires


@dataclass(frozen=True)
class SignedIn:
    name: str
    expires: float

    @property
    def actor(self) -> str:
        return admin_actor(self.name)


class AdminSessions:
    """Admin sessions over the gateway's store (:mod:`gateway.portal.admin`)."""

    def __init__(self, admins: AdminCredentials, store: Store, bootstrap: Callable[[], str | None],
                 clock: Callable[[], float] = time.time) -> None:
        self.admins = admins
        self.store = store
        self.bootstrap = bootstrap
        self.clock = clock

    async def enabled(self) -> bool:
        """Whether anyone can be an admin here (a configured ``admin_token`` or a named admin)."""
        return bool(self.bootstrap()) or await self.admins.exist()

    async def _credential(self, name: str) -> str | None:
        """The current credential of admin ``name`` (``None``: no such admin any more)."""
        if name == BOOTSTRAP:
            token = self.bootstrap()
            return credential_of(digest(token)) if token else None
        found = next((a for a in await self.admins.admins() if a.name == name), None)
        return None if found is None else credential_of(found.sha256)

    async def sign_in(self, token: str) -> tuple[str, SignedIn] | None:
        """A new session for the admin ``token`` belongs to (its id, to set as the cookie), or ``None``."""
        token = token.strip()
        if not token:
            return None
        name = await self.admins.verify(token, bootstrap=self.bootstrap() or None)
        if name is None:
            return None
        credential = await self._credential(name)
        if credential is None:
            return None
        session_id = new_session_id()
        expires = self.clock() + TTL
        await self.store.put(NS_SESSIONS, session_key(session_id),
                             {"admin": name, "credential": credential, "expires": expires})
        await self.admins.repository.note(admin_actor(name), "portal.sign_in", {})
        return session_id, SignedIn(name, expires)

    async def current(self, session_id: str | None) -> SignedIn | None:
        """The admin signed in with this session id, if the session is live and its credential still holds."""
        if not well_formed(session_id):
            return None
        key = session_key(session_id or "")
        stored = await self.store.get(NS_SESSIONS, key)
        if stored is None:
            return None
        doc = dict(stored.doc)
        name = doc.get("admin")
        if not live(doc, self.clock()) or not isinstance(name, str):
            await self.store.delete(NS_SESSIONS, key)
            return None
        credential = await self._credential(name)
        if credential is None or not secrets.compare_digest(credential, str(doc.get("credential", ""))):
            await self.store.delete(NS_SESSIONS, key)  # revoked or changed: the session ends with it
            return None
        return SignedIn(name, float(doc["expires"]))

    async def sign_out(self, session_id: str | None) -> None:
        signed_in = await self.current(session_id)
        if well_formed(session_id):
            await self.store.delete(NS_SESSIONS, session_key(session_id or ""))
        if signed_in is not None:
            await self.admins.repository.note(signed_in.actor, "portal.sign_out", {})


async def sweep_expired(store: Store, now: float) -> int:
    """Delete every session expired at ``now`` (or without an expiry); how many this call deleted."""
    deleted, after = 0, ""
    while page := await store.scan(NS_SESSIONS, after=after, limit=SWEEP_PAGE):
        for stored in page:
            if live(dict(stored.doc), now):
                continue
            with contextlib.suppress(Conflict):  # rewritten meanwhile: left to the next sweep
                deleted += await store.delete(NS_SESSIONS, stored.key, expect_rev=stored.rev)
        after = page[-1].key
    return deleted


class SessionSweeper:
    """Runs :func:`sweep_expired` every :data:`SWEEP_INTERVAL` seconds on the store ``store()`` returns (asked at
    each sweep: the app's registry is wired after this is)."""

    def __init__(self, store: Callable[[], Store], clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._forever(), name="admin-session-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        await every_slot(SWEEP_INTERVAL, self._sweep, clock=self._clock, what="admin session sweep")

    async def _sweep(self, _slot: int) -> None:
        await sweep_expired(self._store(), self._clock())


__all__ = ["COOKIE", "COOKIE_PATH", "NS_SESSIONS", "SWEEP_INTERVAL", "TTL", "AdminSessions", "SessionSweeper",
           "SignedIn", "new_session_id", "session_key", "sweep_expired", "well_formed"]
