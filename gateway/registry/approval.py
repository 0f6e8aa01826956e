"""What approving a member means, in plain words (pure): what it will receive, what it claims, what it clashes with.

A pending member *asks* for its GUID prefixes and DRS hostnames; it claims nothing until an admin approves it (see
:mod:`gateway.registry.repository`). Before approving, the admin sees:

* **the auth**, said as what the member will be sent (:func:`auth_terms`). Two modes hand the member the callers'
  own credentials (:data:`FORWARDING`): ``passthrough`` (callers' bearer tokens) and ``passport`` (callers' GA4GH
  Passports). Approving such a member into activity needs an explicit acknowledgement (:data:`ACKNOWLEDGEMENT`,
  ``{"accept_passthrough": true}`` in the approve body), so nobody hands callers' tokens over by a reflex click;
* **the claims**: the prefixes and hostnames it will own;
* **the conflicts** (:func:`conflicts`): each key another member also wants. A key an *admitted* member (active or
  suspended) owns is ``blocking``: the approval will be refused (409) naming that member. A key another pending join
  only asks for is shown but blocks nothing: whoever is approved first claims it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.core.member import Member, Status

FORWARDING = frozenset({"passthrough", "passport"})
"""Auth modes in which the callers' own credentials are sent to the member."""
ACKNOWLEDGEMENT = "accept_passthrough"
"""The approve body's field that accepts a member in a :data:`FORWARDING` mode."""
ADMITTED = frozenset({Status.active, Status.suspended})
"""Statuses in which a member holds the claims on its prefixes and hostnames."""


def holds_claims(member: Member) -> bool:
    """Whether ``member`` owns its prefixes and hostnames (admitted), rather than only asking for them (pending)."""
    return member.status in ADMITTED


def forwards_caller_credentials(member: Member) -> bool:
    return member.auth.type in FORWARDING


def needs_acknowledgement(member: Member) -> bool:
    """Whether making ``member`` active needs :data:`ACKNOWLEDGEMENT` (it would be sent callers' credentials)."""
    return forwards_caller_credentials(member) and member.status != Status.active


def auth_terms(member: Member) -> str:
    """What the member will be sent on access calls, in one plain sentence starting with the auth type."""
    auth = member.auth
    if auth.type == "passthrough":
        fence = member.endpoints.fence
        scope = ((f"(only tokens its own fence issued, at {fence})" if fence else "(none: it has no fence service)")
                 if member.kind in ("gen3", "reference") else "(every caller's Authorization header, as sent)")
        return f"passthrough: callers' bearer tokens will be sent to this member {scope}"
    if auth.type == "passport":
        return "passport: callers' GA4GH Passports will be sent to this member"
    if auth.type == "gateway_token":
        return (f"gateway_token: the gateway sends short-lived tokens it signs itself (audience {member.token_audience}"
                ") naming the caller's Passport subject and issuer; callers' own tokens and Passports are not sent")
    if auth.type == "bearer":
        return ("bearer: the gateway sends the token this member supplied on its own access calls; callers' "
                "credentials are not sent")
    if auth.type == "api_key":
        return ("api_key: the gateway signs in with a Gen3 API key from a file on the gateway host; callers' "
                "credentials are not sent")
    return "none: the gateway sends no credentials to this member; only its open data is reachable through it"


@dataclass(frozen=True, slots=True)
class KeyConflict:
    """Another member wants the same prefix or hostname."""

    kind: str
    """``prefix`` or ``hostname``."""
    value: str
    member: str
    status: Status
    blocking: bool
    """The other member holds the claim (admitted): approving would be refused."""

    def to_doc(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "member": self.member, "status": self.status.value,
                "blocking": self.blocking}


def conflicts(member: Member, others: list[Member]) -> list[KeyConflict]:
    """Every prefix and hostname of ``member`` that another member of ``others`` holds or asks for (in key order,
    then member id). Against an admitted ``member`` only other admitted members count (pending asks are no threat
    to what it owns)."""
    wanted = [("prefix", p) for p in member.prefixes] + [("hostname", h) for h in member.hostnames]
    out: list[KeyConflict] = []
    for other in sorted(others, key=lambda m: m.id):
        if other.id == member.id or (holds_claims(member) and not holds_claims(other)):
            continue
        theirs = {("prefix", p) for p in other.prefixes} | {("hostname", h) for h in other.hostnames}
        out.extend(KeyConflict(kind, value, other.id, other.status, holds_claims(other))
                   for kind, value in wanted if (kind, value) in theirs)
    return sorted(out, key=lambda c: (c.kind != "prefix", c.value, not c.blocking, c.member))


def preview(member: Member, others: list[Member]) -> dict[str, Any]:
    """What approving ``member`` would do, for the admin: the auth in plain words, the claims, the conflicts, the
    acknowledgement it needs (``None``: none) and whether nothing blocks it."""
    found = conflicts(member, others)
    return {
        "auth": {"type": member.auth.type, "summary": auth_terms(member),
                 "forwards_caller_credentials": forwards_caller_credentials(member)},
        "claims": {"prefixes": list(member.prefixes), "hostnames": list(member.hostnames)},
        "conflicts": [c.to_doc() for c in found],
        "acknowledgement": ACKNOWLEDGEMENT if needs_acknowledgement(member) else None,
        "approvable": not any(c.blocking for c in found),
    }


def refusal_without_acknowledgement(member: Member) -> str:
    """The message of an approval refused for want of :data:`ACKNOWLEDGEMENT`."""
    return (f"approving member {member.id!r} needs {{\"{ACKNOWLEDGEMENT}\": true}} in the body: "
            f"{auth_terms(member)}")


__all__ = [
    "ACKNOWLEDGEMENT", "ADMITTED", "FORWARDING", "KeyConflict", "auth_terms", "conflicts",
    "forwards_caller_credentials", "holds_claims", "needs_acknowledgement", "preview",
    "refusal_without_acknowledgement",
]
