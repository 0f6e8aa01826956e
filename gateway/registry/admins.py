"""Named admin credentials, kept in the gateway's store so every replica sees an addition or a revocation at once.

Each admin is ``registry.admins/<name>``: ``{"name", "sha256", "created", "created_by"}``. The token itself is never
stored: :func:`new_token` makes ``gwadm_`` + 32 random bytes (URL-safe base64), shown once to whoever added it, and
only its SHA-256 is kept. A slow password hash (scrypt, argon2) would buy nothing here: it protects guessable
secrets, and a 256-bit random token cannot be guessed from its digest; it would only make every admin request (and
every wrong bearer token an anonymous caller sends) cost tens of milliseconds of CPU.

:meth:`AdminCredentials.verify` reads the admins on every call (no cache), so a revoked token is refused by every
replica on its next request. Digests are compared with :func:`hmac.compare_digest`. The configured ``admin_token``
stays a bootstrap credential named :data:`BOOTSTRAP` (compared in constant time too). Additions and revocations are
audited (``admin.add``, ``admin.revoke``, with the admin's name; never the token or its digest).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from gateway.registry.repository import RegistryRepository
from gateway.store.base import ABSENT, Conflict

NS_ADMINS = "registry.admins"
BOOTSTRAP = "bootstrap"
"""The name of the configured ``admin_token``."""
TOKEN_PREFIX = "gwadm_"
ADMIN_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
MAX_ADMINS = 1000
"""Most named admins (every admin request reads them all)."""
MAX_TOKEN_CHARS = 512
"""A longer bearer value cannot be an admin token: refused before hashing."""


class AdminError(Exception):
    """A refused change of the admins; ``str()`` is fit for clients."""


class AdminExists(AdminError):
    pass


class AdminNotFound(AdminError):
    pass


@dataclass(frozen=True, slots=True)
class Admin:
    name: str
    sha256: str
    created: str
    created_by: str

    def public(self) -> dict[str, Any]:
        """What may be listed: everything but the digest."""
        return {"name": self.name, "created": self.created, "created_by": self.created_by}


def new_token() -> str:
    """A fresh admin token (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    """``name`` if it may name an admin (ValueError naming the rule otherwise)."""
    if not ADMIN_NAME_RE.match(name):
        raise ValueError("an admin name is 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit")
    if name == BOOTSTRAP:
        raise ValueError(f"{BOOTSTRAP!r} is the configured admin_token's name")
    return name


def admin_actor(name: str) -> str:
    """How the audit log names an admin who acted."""
    return f"admin:{name}"


class AdminCredentials:
    """The named admins over the registry's store (audited through the registry's log)."""

    def __init__(self, repository: RegistryRepository) -> None:
        self.repository = repository
        self.store = repository.store

    async def admins(self) -> list[Admin]:
        page = await self.store.scan(NS_ADMINS, limit=MAX_ADMINS)
        return [Admin(s.key, str(s.doc.get("sha256", "")), str(s.doc.get("created", "")),
                      str(s.doc.get("created_by", ""))) for s in page]

    async def exist(self) -> bool:
        return bool(await self.store.scan(NS_ADMINS, limit=1))

    async def add(self, name: str, *, by: str) -> tuple[Admin, str]:
        """A new admin and its token (the only time it is seen). ValueError on a bad name, :class:`AdminExists`."""
        check_name(name)
        if await self.store.count(NS_ADMINS) >= MAX_ADMINS:
            raise AdminError(f"at most {MAX_ADMINS} named admins; revoke one first")
        token = new_token()
        admin = Admin(name, digest(token), self.repository.clock(), by)
        doc = {"name": name, "sha256": admin.sha256, "created": admin.created, "created_by": by}
        try:
            await self.store.put(NS_ADMINS, name, doc, expect_rev=ABSENT)
        except Conflict:
            raise AdminExists(f"an admin named {name!r} already exists; revoke it first to issue a new token") from None
        await self.repository.note(by, "admin.add", {"admin": name})
        return admin, token

    async def revoke(self, name: str, *, by: str) -> None:
        """Remove the admin: its token is refused from the next request on, on every replica."""
        if not await self.store.delete(NS_ADMINS, name):
            raise AdminNotFound(f"no admin named {name!r}")
        await self.repository.note(by, "admin.revoke", {"admin": name})

    async def verify(self, token: str, *, bootstrap: str | None) -> str | None:
        """The name of the admin ``token`` belongs to, or ``None``."""
        given = token.encode("utf-8", "surrogatepass")
        if bootstrap and hmac.compare_digest(given, bootstrap.encode("utf-8", "surrogatepass")):
            return BOOTSTRAP
        if len(token) > MAX_TOKEN_CHARS:
            return None
        wanted = digest(token).encode()
        found = None
        for admin in await self.admins():
            if hmac.compare_digest(wanted, admin.sha256.encode()):
                found = admin.name
        return found


__all__ = [
    "ADMIN_NAME_RE", "BOOTSTRAP", "NS_ADMINS", "TOKEN_PREFIX", "Admin", "AdminCredentials", "AdminError",
    "AdminExists", "AdminNotFound", "admin_actor", "check_name", "digest", "new_token",
]
