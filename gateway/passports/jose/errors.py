"""The JOSE layer's errors (rulebook rules 3 and 6–12): each names the rule that failed, and no message ever holds
token contents (no header values, no ``kid``, no payload), so they are safe to log and to return to clients."""

from __future__ import annotations


class JwsError(Exception):
    """A token or key failed a rule. ``rule`` is the rulebook number; the message never contains token data."""

    def __init__(self, rule: int, message: str) -> None:
        super().__init__(f"rule {rule}: {message}")
        self.rule = rule
        self.reason = message


class MalformedJws(JwsError):
    """Not a compact JWS whose header and payload are JSON objects without duplicate keys (rules 3, 6, 7)."""


class HeaderRejected(JwsError):
    """The protected header is unacceptable: ``alg``, ``kid``, ``crit``, ``typ`` (rules 8, 10, 11, 12)."""


class KeyRejected(JwsError):
    """The key cannot be used for this token: wrong type, size, curve, JWK ``alg``/``use`` (rule 9)."""


class SignatureInvalid(JwsError):
    """The signature does not verify under the given key (rule 9)."""
