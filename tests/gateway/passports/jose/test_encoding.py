"""The base64url decoder's one-expression path decides exactly as its one-check-at-a-time definition
(``_b64url_refused``): the same bytes, or the same rule and reason, for every segment."""

from __future__ import annotations

import pytest
import tokens_kit as kit
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.passports.jose.encoding import _CANONICAL_LAST, _b64url_refused, b64url_bytes
from gateway.passports.jose.errors import MalformedJws


def outcome(decode, segment: bytes) -> bytes | tuple[int, str]:
    try:
        return decode(segment, 6, "payload")
    except MalformedJws as exc:
        return exc.rule, exc.reason


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. \n%\x00", max_size=24))
def test_fast_path_decides_as_the_definition(segment):
    raw = segment.encode("ascii")
    assert outcome(b64url_bytes, raw) == outcome(_b64url_refused, raw)


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.sampled_from("ABab-_+/="))
def test_fast_path_decides_as_the_definition_for_every_last_character(raw, last):
    """Every encoding's last character swapped: canonical or not, in the alphabet or not."""
    text = kit.b64url(raw)
    segment = (text[:-1] + last).encode("ascii")
    assert outcome(b64url_bytes, segment) == outcome(_b64url_refused, segment)
    assert b64url_bytes(text.encode("ascii"), 6, "payload") == raw


def test_canonical_last_characters_by_length():
    assert [len(chars) for chars in _CANONICAL_LAST] == [64, 0, 4, 16]
    assert b"A" in _CANONICAL_LAST[2] and b"B" not in _CANONICAL_LAST[2] and b"Q" in _CANONICAL_LAST[2]
    with pytest.raises(MalformedJws, match="canonical"):
        b64url_bytes(b"QR", 6, "payload")
    assert b64url_bytes(b"", 6, "payload") == b""
