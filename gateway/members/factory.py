"""One adapter per member, chosen by ``member.kind``: the kinds reached over HTTP.

A ``reference`` member (the in-process reference commons) is not built here: only the app holds that commons, so
the app builds its adapter (:mod:`gateway.app.members`) and asks this factory for every other kind.
"""

from __future__ import annotations

from gateway.core.egress import EgressPolicy
from gateway.core.member import Member
from gateway.members.drs import DrsAdapter
from gateway.members.gen3 import Gen3Adapter
from gateway.members.protocols import MemberAdapter
from gateway.settings.sections import UpstreamConfig


def build_adapter(member: Member, config: UpstreamConfig, egress: EgressPolicy) -> MemberAdapter:
    """The adapter for ``member``: ``gen3`` and ``drs`` over HTTP, every connection under ``egress``. ValueError
    for any other kind."""
    if member.kind == "gen3":
        return Gen3Adapter(member, config, egress)
    if member.kind == "drs":
        return DrsAdapter(member, config, egress)
    raise ValueError(f"member {member.id} has unknown kind {member.kind!r}")
