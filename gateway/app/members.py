"""How the app reaches each member: the in-process reference commons directly, every other kind through
:func:`gateway.members.factory.build_adapter`.

The reference commons is imported only when a ``reference`` member is built: a gateway without the in-process
commons does not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.member import Member
from gateway.members.factory import build_adapter
from gateway.members.protocols import MemberAdapter
from gateway.registry.directory import AdapterFactory
from gateway.settings.sections import UpstreamConfig

if TYPE_CHECKING:
    from refcommons.commons import ReferenceCommons


def adapter_factory(config: UpstreamConfig, refcommons: ReferenceCommons | None) -> AdapterFactory:
    """Builds a member's adapter: ``reference`` calls ``refcommons`` (the in-process commons, required for that
    kind; ValueError without it), ``gen3`` and ``drs`` go over HTTP with ``config``."""

    def adapter(member: Member) -> MemberAdapter:
        if member.kind != "reference":
            return build_adapter(member, config)
        if refcommons is None:
            raise ValueError(f"member {member.id} is of kind 'reference' but no in-process commons is running")
        from gateway.app.inprocess import ReferenceAdapter

        return ReferenceAdapter(member, refcommons)

    return adapter
