"""What every adapter that reaches its member over HTTP holds: the member, one pooled client (with the
deadline/retry rules of :mod:`gateway.members.http`, under the egress policy handed in) and the gateway's own
credentials for that member."""

from __future__ import annotations

from gateway.core.egress import EgressPolicy
from gateway.core.member import Member
from gateway.members.credentials import MemberCredentials
from gateway.members.http import MemberHttp
from gateway.settings.sections import UpstreamConfig


class RemoteMember:
    def __init__(self, member: Member, config: UpstreamConfig, egress: EgressPolicy) -> None:
        self.member = member
        self.member_id = member.id
        self.config = config
        self.endpoints = member.endpoints
        """Where each of the member's services is (absolute URLs; ``None``: no such service)."""
        self.http = MemberHttp(member.id, member.base_url, config, egress=egress)
        self.credentials = MemberCredentials(member, self.http)

    async def close(self) -> None:
        await self.http.close()
