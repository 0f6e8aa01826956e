"""Which addresses an outbound connection may reach: the egress policy every client of the gateway goes through.

An :class:`EgressPolicy` is a deny list of IP networks, checked against the *resolved* addresses of a destination
(a name is resolved once and the addresses checked are the ones connected to, so a name cannot pass the check and
then lead elsewhere). Clients built by :func:`gateway.core.http_client.build_client` enforce it at connect time;
:meth:`EgressPolicy.check_host` lets a caller refuse a destination up front with its own message.

Matching rules:

* an address is denied when it lies inside any denied network of its own IP version;
* an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``, also spelt ``::ffff:7f00:1``) is also matched as the IPv4
  address it maps to: a dual-stack socket connecting to it reaches that IPv4 host, so it must not slip past a
  deny list written in IPv4;
* an IPv6 zone (``fe80::1%eth0``) is ignored for matching;
* a name that resolves to several addresses is denied when *any* of them is denied (the resolver, not the
  policy, would otherwise choose which one is used).

:data:`OPEN` denies nothing (and costs nothing: no extra resolution); it is what members, Passport key fetches,
upstream dist lists and health probes use today. The registry's join check denies
``registry.join_deny_networks``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressDenied(Exception):
    """A destination the egress policy refuses: no connection was opened. ``address`` is the denied address
    ``host`` resolved to (``host`` itself for an IP literal)."""

    def __init__(self, host: str, address: str) -> None:
        where = host if host == address else f"{host} ({address})"
        super().__init__(f"{where} is inside a denied network")
        self.host = host
        self.address = address


def parse_address(text: str) -> Address | None:
    """``text`` as an IP address (an IPv6 zone dropped); ``None`` when it is not an IP literal."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """A deny list of networks (pure apart from :meth:`resolve` and :meth:`check_host`, which ask the resolver)."""

    deny: tuple[Network, ...] = ()

    @classmethod
    def denying(cls, networks: Iterable[str]) -> EgressPolicy:
        """A policy denying ``networks`` (CIDR strings; host bits allowed); :class:`ValueError` for a bad one."""
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    @property
    def denies_nothing(self) -> bool:
        return not self.deny

    def denies(self, address: str | Address) -> bool:
        """Is ``address`` inside a denied network (itself, or the IPv4 address it maps to)? A string that is
        not an IP address is :class:`ValueError`."""
        ip = address if not isinstance(address, str) else parse_address(address)
        if ip is None:
            raise ValueError(f"not an IP address: {address!r}")
        candidates = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(c.version == net.version and c in net for c in candidates for net in self.deny)

    def first_denied(self, addresses: Iterable[str]) -> str | None:
        """The first of ``addresses`` that is denied, or ``None``."""
        for address in addresses:
            if self.denies(address):
                return address
        return None

    def check_literal(self, host: str) -> None:
        """:class:`EgressDenied` when ``host`` is an IP literal inside a denied network (names pass: they are
        checked once resolved)."""
        ip = parse_address(host)
        if ip is not None and self.denies(ip):
            raise EgressDenied(host, host)

    async def resolve(self, host: str, port: int | None) -> list[str]:
        """``host``'s addresses, in the resolver's order and without repeats, after the check:
        :class:`EgressDenied` when any of them is denied; :class:`OSError` when ``host`` does not resolve."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found = list(dict.fromkeys(str(sockaddr[0]) for _, _, _, _, sockaddr in infos))
        denied = self.first_denied(found)
        if denied is not None:
            raise EgressDenied(host, denied)
        return found

    async def check_host(self, host: str) -> None:
        """Refuse ``host`` up front: :class:`EgressDenied` if it is, or resolves into, a denied network;
        :class:`OSError` when it does not resolve. Nothing is resolved when the policy denies nothing."""
        if self.denies_nothing:
            return
        await self.resolve(host, None)


OPEN = EgressPolicy()
"""The policy that denies nothing."""
