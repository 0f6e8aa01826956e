"""How the gateway authenticates *as itself* to a member (``member.auth``): nothing, a static bearer
token, or a Gen3 API key exchanged for short-lived access tokens that are reused until shortly before
they expire."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import orjson

from gateway.core.deadline import Deadline
from gateway.core.errors import MemberUnavailable
from gateway.core.jwt_peek import peek
from gateway.core.member import Member
from gateway.members.http import MemberHttp, error_for

log = logging.getLogger("gateway.members.credentials")

TOKEN_REFRESH_MARGIN = 60.0
"""Seconds before an exchanged access token's ``exp`` at which a fresh one is fetched."""
TOKEN_DEFAULT_TTL = 300.0
"""How long to reuse an access token that carries no ``exp``."""
EXCHANGE_PATH = "/credentials/api/access_token"
"""Under the member's fence endpoint (``<base_url>/user`` in Gen3's layout)."""


class MemberCredentials:
    """The ``Authorization`` the gateway sends as itself to a member (``member.auth``): nothing, a static
    bearer token, or a Gen3 API key (credentials file ``{api_key, key_id}``) exchanged at
    ``<fence>/credentials/api/access_token`` for an access token that is reused until shortly before its JWT
    ``exp`` (read without verifying: the member checks it). One exchange runs at a time."""

    def __init__(self, member: Member, http: MemberHttp) -> None:
        self.member = member
        self.http = http
        self._token: str | None = None
        self._reuse_until = 0.0
        self._lock = asyncio.Lock()

    async def authorization(self, deadline: Deadline) -> str | None:
        auth = self.member.auth
        if auth.type == "bearer":
            return f"Bearer {auth.token}" if auth.token else None
        if auth.type != "api_key":
            return None
        token = self._token
        if token is None or time.time() >= self._reuse_until:
            async with self._lock:
                if self._token is None or time.time() >= self._reuse_until:
                    await self._exchange(deadline)
                token = self._token
        return f"Bearer {token}"

    def invalidate(self) -> None:
        """Forget the cached access token (the member refused it)."""
        self._token = None

    async def _exchange(self, deadline: Deadline) -> None:
        credentials = await self._read_credentials()
        fence = self.member.endpoints.fence or f"{self.member.base_url}/user"
        response = await self.http.request("POST", fence + EXCHANGE_PATH, deadline, idempotent=False, json=credentials)
        if response.status in (401, 403):
            refused = f"the member refused the gateway's API key (HTTP {response.status})"
            raise MemberUnavailable(self.member.id, refused, upstream_status=response.status)
        if response.status != 200:
            raise error_for(response, "API key exchange")
        token = response.json_object("API key exchange").get("access_token")
        if not isinstance(token, str) or not token:
            raise response.malformed("API key exchange", "no access_token in the answer")
        now = time.time()
        peeked = peek(token)  # unverified: only when to exchange again depends on it
        exp = peeked.payload.get("exp") if peeked is not None else None
        if not isinstance(exp, (int, float)):
            reuse_until = now + TOKEN_DEFAULT_TTL
        elif exp - TOKEN_REFRESH_MARGIN > now:
            reuse_until = exp - TOKEN_REFRESH_MARGIN
        else:
            reuse_until = now + max(0.0, exp - now) / 2
        self._token, self._reuse_until = token, reuse_until

    async def _read_credentials(self) -> dict[str, str]:
        path = self.member.auth.credentials_file
        unusable = MemberUnavailable(self.member.id, "the gateway's credentials for this member are unusable")
        if not path:
            raise unusable
        try:
            doc = orjson.loads(await asyncio.to_thread(Path(path).read_bytes))
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("cannot read member credentials file", extra={"member": self.member.id, "path": path,
                                                                     "reason": type(exc).__name__})
            raise unusable from None
        if not isinstance(doc, dict) or not isinstance(doc.get("api_key"), str):
            log.warning("member credentials file has no api_key", extra={"member": self.member.id, "path": path})
            raise unusable
        return {k: doc[k] for k in ("api_key", "key_id") if isinstance(doc.get(k), str)}
