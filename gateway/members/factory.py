"""One adapter per member, chosen by ``member.kind``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.member import Member
from gateway.members.drs import DrsAdapter
from gateway.members.gen3 import Gen3Adapter
from gateway.members.protocols import MemberAdapter
from gateway.settings.gateway import UpstreamConfig

if TYPE_CHECKING:
    from refcommons.commons import ReferenceCommons


def build_adapter(
    member: Member, config: UpstreamConfig, *, refcommons: ReferenceCommons | None = None
) -> MemberAdapter:
    """The adapter for ``member``: ``gen3`` and ``drs`` over HTTP; ``reference`` calls ``refcommons`` (the
    in-process commons, required for that kind) directly. ValueError for an unknown kind."""
    if member.kind == "gen3":
        return Gen3Adapter(member, config)
    if member.kind == "drs":
        return DrsAdapter(member, config)
    if member.kind == "reference":
        if refcommons is None:
            raise ValueError(f"member {member.id} is of kind 'reference' but no in-process commons is running")
        from gateway.app.inprocess import ReferenceAdapter

        return ReferenceAdapter(member, refcommons)
    raise ValueError(f"member {member.id} has unknown kind {member.kind!r}")
