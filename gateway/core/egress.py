"""Which addresses an outbound connection may reach: the one egress policy every client of the gateway goes through.

An :class:`EgressPolicy` is a deny list of IP networks with exceptions (networks inside the denied ones that may
be reached after all), checked against the *resolved* addresses of a destination: a name is resolved once and
the addresses checked are the ones connected to, so a name cannot pass the check and then lead elsewhere (DNS
rebinding). Clients built by :func:`gateway.core.http_client.build_client` enforce it at connect time, on every
connection; :meth:`EgressPolicy.check_host` lets a caller refuse a destination up front with its own message.

Matching rules (pure functions, below):

* an address is denied when it, or any address a connection to it may reach instead (its *forms*,
  :func:`address_forms`), lies inside a denied network of its own IP version and inside no exception;
* the forms of an IPv6 address are itself and every IPv4 address it embeds (:func:`embedded_ipv4`):
  IPv4-mapped (``::ffff:127.0.0.1``, also spelt ``::ffff:7f00:1``) and SIIT-translated (``::ffff:0:a.b.c.d``),
  IPv4-compatible (``::127.0.0.1``; not ``::`` nor ``::1``), 6to4 (``2002:7f00:1::``), Teredo (both the server
  and the client address), NAT64 with the well-known prefix (``64:ff9b::/96``) and with the local-use prefix
  (``64:ff9b:1::/48``: the prefix length in use is not written in the address, so every RFC 6052 position a
  prefix inside it may use, /48, /56, /64 and /96, is read and matched);
* the unspecified addresses (``0.0.0.0``, ``::``, and anything embedding ``0.0.0.0``) also have the loopback
  forms ``127.0.0.1`` and ``::1``: connecting to them reaches this host;
* host spellings are read as the system resolver reads them (:func:`parse_host`): IPv4 in inet_aton's loose
  forms (``2130706433``, ``0x7f.1``, ``017700000001``, ``127.1`` are all ``127.0.0.1``), IPv6 with or without
  brackets, an IPv6 zone (``fe80::1%eth0``, ``%25eth0`` in a URL) ignored for matching;
* a name that resolves to several addresses is denied when *any* of them is denied (the resolver, not the
  policy, would otherwise choose which one is used).

:data:`OPEN` denies nothing (and costs nothing: no extra resolution). The gateway builds one policy from the
``egress`` settings in its composition root (:mod:`gateway.app`) and hands it to every client; nothing in the
gateway falls back to :data:`OPEN` (tests do, to reach their own loopback servers).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK_FORMS: tuple[Address, ...] = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
"""Where a connection to an unspecified address (``0.0.0.0``, ``::``) ends up."""
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
_RFC6052_LOCAL_LENGTHS = (48, 56, 64, 96)
_DIGITS = {16: frozenset("0123456789abcdefABCDEF"), 10: frozenset("0123456789"), 8: frozenset("01234567")}
VERDICTS_KEPT = 4096
"""Verdicts on address strings a policy remembers (they are pure: a member's address is judged once, not on every
request), cleared when full."""
_NAME = "name"
"""The verdict on a string that is not an IP address."""


class EgressDenied(Exception):
    """A destination the egress policy refuses: no connection was opened. ``address`` is the denied address
    ``host`` resolved to (``host`` itself for an IP literal); ``form`` is the form of it that lies inside a denied
    network (``address`` itself, or an address a connection to it reaches instead)."""

    def __init__(self, host: str, address: str, form: str | None = None) -> None:
        where = host if host == address else f"{host} ({address})"
        form = form or address
        via = "" if form == address or parse_host(address) == parse_host(form) else f" (it reaches {form})"
        super().__init__(f"{where} is inside a denied network{via}")
        self.host = host
        self.address = address
        self.form = form


# --- address forms (pure) -------------------------------------------------------------------------------------


def _loose_number(part: str) -> int | None:
    """One part of an inet_aton IPv4 spelling: decimal, octal (a leading ``0``) or hex (``0x``)."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits or not set(digits) <= _DIGITS[base]:
        return None
    return int(digits, base)


def parse_ipv4_loose(text: str) -> ipaddress.IPv4Address | None:
    """``text`` as an IPv4 address in any spelling the system resolver takes as a number (inet_aton's: one to
    four parts, each decimal, octal or hex, the last one filling the remaining bytes), else ``None``."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or len(text) > 64:
        return None
    values = [_loose_number(p) for p in parts]
    if any(v is None for v in values):
        return None
    *head, last = [v for v in values if v is not None]
    tail_bits = 8 * (4 - len(head))
    if any(v > 255 for v in head) or last >= 1 << tail_bits:
        return None
    number = 0
    for value in head:
        number = number << 8 | value
    return ipaddress.IPv4Address(number << tail_bits | last)


def parse_host(text: str) -> Address | None:
    """``text`` (a URL's host) as an IP address: IPv6 with or without brackets, its zone dropped; IPv4 in any
    spelling the resolver accepts (:func:`parse_ipv4_loose`). ``None`` when it is a name."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return parse_ipv4_loose(text)


def _rfc6052(ip: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address embedded after a NAT64 prefix of ``prefix_length`` bits (RFC 6052 §2.2)."""
    packed = ip.packed
    squeezed = packed[:8] + packed[9:]  # bits 64–71 (the "u" octet) never carry address bits
    first = prefix_length // 8 + (1 if prefix_length == 64 else 0)  # the first byte of the address
    start = first if first < 8 else first - 1
    return ipaddress.IPv4Address(squeezed[start:start + 4])


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """Every IPv4 address a connection to ``ip`` may reach through a translation or a tunnel (see the module's
    rules), without repeats; ``()`` for a plain IPv6 address."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    elif ip in _TRANSLATED:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    elif ip in _COMPATIBLE and int(ip) > 1:
        found.append(ipaddress.IPv4Address(int(ip)))
    elif ip.sixtofour is not None:
        found.append(ip.sixtofour)
    elif ip.teredo is not None:
        found.extend(ip.teredo)
    elif ip in NAT64_WELL_KNOWN:
        found.append(_rfc6052(ip, 96))
    elif ip in NAT64_LOCAL_USE:
        found.extend(_rfc6052(ip, length) for length in _RFC6052_LOCAL_LENGTHS)
    return tuple(dict.fromkeys(found))


def address_forms(ip: Address) -> tuple[Address, ...]:
    """``ip`` and every address a connection to it may reach instead: the IPv4 addresses it embeds, and
    loopback for an unspecified address. The policy judges each of them."""
    forms: list[Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        forms.extend(embedded_ipv4(ip))
    if any(form.is_unspecified for form in forms):
        forms.extend(LOOPBACK_FORMS)
    return tuple(dict.fromkeys(forms))


# --- the policy ---------------------------------------------------------------------------------------------


def _inside(ip: Address, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in cidrs)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Denied networks and their exceptions (pure apart from :meth:`resolve` and :meth:`check_host`, which ask
    the resolver)."""

    deny: tuple[Network, ...] = ()
    allow: tuple[Network, ...] = ()
    """Exceptions: networks inside denied ones that may be reached all the same."""
    _verdicts: dict[str, Address | str | None] = field(default_factory=dict, init=False, compare=False, hash=False,
                                                       repr=False)

    @classmethod
    def denying(cls, networks: Iterable[str], *, allow: Iterable[str] = ()) -> EgressPolicy:
        """A policy denying ``networks`` except ``allow`` (CIDR strings; host bits allowed); :class:`ValueError`
        for a bad one."""
        return cls(_networks(networks), _networks(allow))

    @property
    def denies_nothing(self) -> bool:
        return not self.deny

    def without_exceptions(self) -> EgressPolicy:
        """The same denied networks with no exception (for destinations an outsider named)."""
        return replace(self, allow=()) if self.allow else self

    def _judge(self, ip: Address) -> Address | None:
        for form in address_forms(ip):
            if _inside(form, self.deny) and not _inside(form, self.allow):
                return form
        return None

    def _verdict(self, text: str) -> Address | str | None:
        """The denied form of ``text``, ``None`` when it may be reached, :data:`_NAME` when it is no IP address;
        remembered."""
        try:
            return self._verdicts[text]
        except KeyError:
            pass
        ip = parse_host(text)
        verdict = _NAME if ip is None else self._judge(ip)
        if len(self._verdicts) >= VERDICTS_KEPT:
            self._verdicts.clear()
        self._verdicts[text] = verdict
        return verdict

    def denied_form(self, address: str | Address) -> Address | None:
        """The first form of ``address`` (:func:`address_forms`) inside a denied network and no exception, or
        ``None`` when it may be reached. A string that is not an IP address is :class:`ValueError`."""
        if not isinstance(address, str):
            return self._judge(address) if self.deny else None
        verdict = self._verdict(address) if self.deny else (_NAME if parse_host(address) is None else None)
        if isinstance(verdict, str):
            raise ValueError(f"not an IP address: {address!r}")
        return verdict

    def denies(self, address: str | Address) -> bool:
        """Is ``address`` (or a form of it) inside a denied network and no exception?"""
        return self.denied_form(address) is not None

    def refusal(self, host: str, addresses: Iterable[str]) -> EgressDenied | None:
        """The refusal of ``host`` when any of its resolved ``addresses`` is denied, else ``None``."""
        for address in addresses:
            form = self.denied_form(address)
            if form is not None:
                return EgressDenied(host, address, str(form))
        return None

    def first_denied(self, addresses: Iterable[str]) -> str | None:
        """The first of ``addresses`` that is denied, or ``None``."""
        refused = self.refusal("", addresses)
        return None if refused is None else refused.address

    def check_literal(self, host: str) -> None:
        """:class:`EgressDenied` when ``host`` is an IP literal (any spelling) inside a denied network (names
        pass: they are checked once resolved)."""
        if not self.deny:
            return
        verdict = self._verdict(host)
        if verdict is not None and not isinstance(verdict, str):
            raise EgressDenied(host, host, str(verdict))

    async def resolve(self, host: str, port: int | None) -> list[str]:
        """``host``'s addresses, in the resolver's order and without repeats, after the check:
        :class:`EgressDenied` when any of them is denied; :class:`OSError` when ``host`` does not resolve."""
        self.check_literal(host)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found = list(dict.fromkeys(str(sockaddr[0]) for _, _, _, _, sockaddr in infos))
        refused = self.refusal(host, found)
        if refused is not None:
            raise refused
        return found

    async def check_host(self, host: str) -> None:
        """Refuse ``host`` up front: :class:`EgressDenied` if it is, or resolves into, a denied network;
        :class:`OSError` when it does not resolve. Nothing is resolved when the policy denies nothing or ``host``
        is an IP literal."""
        if self.denies_nothing:
            return
        if parse_host(host) is not None:
            self.check_literal(host)
            return
        await self.resolve(host, None)


OPEN = EgressPolicy()
"""The policy that denies nothing (tests; never the gateway's own clients)."""
