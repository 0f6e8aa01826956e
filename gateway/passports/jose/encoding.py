"""The encodings under every JWS: strict base64url (RFC 7515 §2: one spelling per value) and strict JSON objects
(rule 7: UTF-8, no duplicate member names at any depth, no NaN or Infinity). Pure."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
from pybase64 import b64decode as _b64decode

from gateway.passports.jose.errors import MalformedJws

_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {c: i for i, c in enumerate(_B64URL_ALPHABET)}
_PADDING = (b"", b"", b"==", b"=")  # by length % 4 (1 is impossible)
# the low bits of the last character that encode no data, by length % 4: canonical encodings leave them zero
_SPARE_BITS = (0, 0, 0x0F, 0x03)
# by length % 4, the last characters (as 1-byte strings) a canonical encoding can end with: any character when the
# length is a multiple of 4 (no spare bits), none for the impossible remainder 1, those with zero spare bits else
_CANONICAL_LAST: tuple[frozenset[bytes], ...] = tuple(
    frozenset(c.encode("ascii") for c in _B64URL_ALPHABET if remainder != 1 and not _B64URL_VALUE[c] & spare)
    for remainder, spare in enumerate(_SPARE_BITS)
)


def b64url_decode(segment: str, *, rule: int = 6, what: str = "segment") -> bytes:
    """Strict base64url (RFC 7515 §2): alphabet ``[A-Za-z0-9_-]``, no padding, canonical trailing bits."""
    if not isinstance(segment, str):
        raise MalformedJws(rule, f"{what} is not base64url")
    try:
        encoded = segment.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedJws(rule, f"{what} is not base64url") from None
    return b64url_bytes(encoded, rule, what)


def b64url_bytes(segment: bytes, rule: int, what: str) -> bytes:
    """:func:`b64url_decode` of an ASCII segment.

    The decoding is ``pybase64``'s (vectorised: CPython's ``binascii`` walks a Passport's 13 kB payload a byte at a
    time, and that was a fifth of a cold validation). Its strict mode refuses every character outside the two
    alphabets and wrong padding; what it would accept beyond RFC 7515 §2 is refused here first: the standard-only
    characters ``+`` and ``/``, any ``=`` (we add the padding ourselves), an impossible length, and non-canonical
    trailing bits (a last character outside :data:`_CANONICAL_LAST` for the length).

    One expression decides the usual, valid segment; anything else (or a decoding error) is handed to
    :func:`_b64url_refused`, which checks the same conditions one by one, in their order, and raises the error
    they always raised."""
    remainder = len(segment) & 3
    if segment[-1:] in _CANONICAL_LAST[remainder] and b"=" not in segment and b"+" not in segment \
            and b"/" not in segment:
        try:
            return _b64decode(segment + _PADDING[remainder] if remainder else segment, altchars=b"-_",
                              validate=True)
        except ValueError:  # binascii.Error
            pass
    return _b64url_refused(segment, rule, what)


def _b64url_refused(segment: bytes, rule: int, what: str) -> bytes:
    """The strict decoding, one check at a time: raises :class:`MalformedJws` for every segment
    :func:`b64url_bytes` refused (and decodes any other exactly as it does)."""
    remainder = len(segment) % 4
    if remainder == 1 or b"=" in segment or b"+" in segment or b"/" in segment:
        raise MalformedJws(rule, f"{what} is not base64url")
    try:
        raw = _b64decode(segment + _PADDING[remainder] if remainder else segment, altchars=b"-_", validate=True)
    except ValueError:  # binascii.Error
        raise MalformedJws(rule, f"{what} is not base64url") from None
    # non-canonical encodings would make one token have many spellings
    if remainder and _B64URL_VALUE[chr(segment[-1])] & _SPARE_BITS[remainder]:
        raise MalformedJws(rule, f"{what} is not canonical base64url")
    return raw


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey
        out[key] = value
    return out


def _no_constant(_name: str) -> Any:
    raise ValueError("non-standard JSON constant")


def strict_json_object(raw: bytes, *, what: str) -> dict[str, Any]:
    """UTF-8 JSON object, no duplicate member names at any depth, no NaN/Infinity (rule 7).

    Fast path: orjson parses, and re-serialising the value gives back exactly ``raw``. Then ``raw`` *is* orjson's
    output for a dict, which cannot hold a member name twice, so it has no duplicates, and orjson's value is what
    the strict parser would build. Anything else (whitespace, other escapes or number spellings, duplicates,
    errors) takes the strict parser, which alone decides what is rejected and why.
    """
    try:
        value = orjson.loads(raw)
        if isinstance(value, dict) and orjson.dumps(value) == raw:
            return value
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        pass
    return _strict_json_object(raw, what=what)


def _strict_json_object(raw: bytes, *, what: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJws(7, f"{what} is not UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey:
        raise MalformedJws(7, f"{what} has duplicate member names") from None
    except (ValueError, RecursionError):
        raise MalformedJws(7, f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedJws(7, f"{what} is not a JSON object")
    return value
