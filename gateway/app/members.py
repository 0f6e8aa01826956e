"""How the app reaches each member: the in-process reference commons directly, every other kind through
:func:`gateway.members.factory.build_adapter`.

The reference commons is imported only when a ``reference`` member is built: a gateway without the in-process
commons does not load it.

Which egress policy each member's client is under (:func:`member_egress`): the gateway's, exceptions included, for
a member declared in the configuration (its id and base URL as declared); the same without exceptions for any other
(joined through the API, even once approved, or named by an upstream dist list), so no outsider can aim the gateway
at an address the operator excepted for their own members.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gateway.core.egress import EgressPolicy
from gateway.core.member import Member
from gateway.members.factory import build_adapter
from gateway.members.protocols import MemberAdapter
from gateway.registry.directory import AdapterFactory
from gateway.registry.schemas import normalize_base_url
from gateway.settings.sections import MemberConfig, UpstreamConfig

if TYPE_CHECKING:
    from refcommons.commons import ReferenceCommons


MemberEgress = Callable[[Member], EgressPolicy]
"""The egress policy of one member's client."""


def member_egress(egress: EgressPolicy, declared: Iterable[MemberConfig]) -> MemberEgress:
    """``egress`` for the members ``declared`` in the configuration (same id and base URL), ``egress`` without its
    exceptions for every other member (pure)."""
    named: set[tuple[str, str]] = set()
    for entry in declared:
        try:
            named.add((entry.id, normalize_base_url(entry.base_url)))
        except ValueError:
            continue  # refused when the declared members are loaded
    strict = egress.without_exceptions()

    def policy(member: Member) -> EgressPolicy:
        return egress if (member.id, member.base_url) in named else strict

    return policy


def adapter_factory(
    config: UpstreamConfig, refcommons: ReferenceCommons | None, egress: MemberEgress
) -> AdapterFactory:
    """Builds a member's adapter: ``reference`` calls ``refcommons`` (the in-process commons, required for that
    kind; ValueError without it), ``gen3`` and ``drs`` go over HTTP with ``config``, under ``egress(member)``."""

    def adapter(member: Member) -> MemberAdapter:
        if member.kind != "reference":
            return build_adapter(member, config, egress(member))
        if refcommons is None:
            raise ValueError(f"member {member.id} is of kind 'reference' but no in-process commons is running")
        from gateway.app.inprocess import ReferenceAdapter

        return ReferenceAdapter(member, refcommons)

    return adapter
