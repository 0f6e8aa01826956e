"""The grammar of the anchored value templates in the ``passports`` section (``passports.grants`` Visa values and
``passports.resource_maps`` resource paths), e.g. ``https://dac.example.org/datasets/{dataset}.{consent}``.

A template is literal text with the placeholders ``{dataset}`` (required) and ``{consent}`` (optional), each at most
once; any other brace is an error. A placeholder is a :class:`Slot`: a literal prefix (kept in the captured value)
then ``min_len..max_len`` characters of one ASCII class (:data:`CHARSETS`). Two placeholders may not touch, and a
placeholder must be followed by a literal whose first character is outside its class, so a match is always the
longest run (see :class:`gateway.passports.rules.grants.Template`, which compiles and matches templates).

:func:`template_parts` checks a template and splits it into literals and placeholders; configuration is validated
with it when it is loaded, and the matcher is built from its output, so both read one grammar. Pure.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass
from typing import Literal

Charset = Literal["digits", "alnum", "word"]
CHARSETS: dict[str, frozenset[str]] = {
    "digits": frozenset(string.digits),
    "alnum": frozenset(string.ascii_letters + string.digits),
    "word": frozenset(string.ascii_letters + string.digits + "-_"),
}
"""The characters of each slot class, by the names configuration uses (:data:`Charset`)."""
MAX_TEMPLATE_LENGTH = 1024
DATASET = "dataset"
CONSENT = "consent"


@dataclass(frozen=True)
class Slot:
    """A template placeholder: ``prefix`` (literal, kept in the captured value) then ``min_len..max_len``
    characters of ``charset`` (``digits``, ``alnum`` or ``word``)."""

    prefix: str = ""
    charset: str = "digits"
    min_len: int = 1
    max_len: int = 32

    def __post_init__(self) -> None:
        if self.charset not in CHARSETS:
            raise ValueError(f"unknown slot charset {self.charset!r}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError("slot lengths must satisfy 1 <= min_len <= max_len")
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError("slot prefix may not contain braces")


DATASET_SLOT = Slot(prefix="phs", charset="digits", min_len=6, max_len=6)
"""What ``{dataset}`` captures unless configured otherwise: ``phs`` and 6 digits (a dbGaP study)."""
CONSENT_SLOT = Slot(prefix="c", charset="digits", min_len=1, max_len=4)
"""What ``{consent}`` captures unless configured otherwise: ``c`` and 1 to 4 digits (a dbGaP consent group)."""

TemplatePart = str | tuple[str, Slot]
"""A literal, or a placeholder as ``(name, slot)`` (``name`` is :data:`DATASET` or :data:`CONSENT`)."""


def template_parts(text: str, dataset: Slot = DATASET_SLOT, consent: Slot = CONSENT_SLOT) -> tuple[TemplatePart, ...]:
    """``text`` as literals and placeholders; :class:`ValueError` saying what is wrong when it breaks the grammar."""
    if not text or len(text) > MAX_TEMPLATE_LENGTH:
        raise ValueError("template must be 1..1024 characters")
    parts: list[TemplatePart] = []
    i = 0
    seen: set[str] = set()
    while i < len(text):
        j = text.find("{", i)
        k = text.find("}", i)
        if j < 0:
            if k >= 0:
                raise ValueError(f"stray brace in template {text!r}")
            parts.append(text[i:])
            break
        if k >= 0 and k < j:
            raise ValueError(f"stray brace in template {text!r}")
        close = text.find("}", j)
        name = text[j + 1:close] if close > 0 else ""
        if name not in (DATASET, CONSENT) or name in seen:
            raise ValueError(f"template placeholders are {{dataset}} and {{consent}}, once each: {text!r}")
        seen.add(name)
        if j > i:
            parts.append(text[i:j])
        parts.append((name, dataset if name == DATASET else consent))
        i = close + 1
    if DATASET not in seen:
        raise ValueError(f"template has no {{dataset}}: {text!r}")
    for here, after in itertools.pairwise(parts):
        if isinstance(here, tuple):
            if isinstance(after, tuple):
                raise ValueError(f"adjacent placeholders in template {text!r}")
            if after[0] in CHARSETS[here[1].charset]:
                raise ValueError(f"placeholder is followed by a character it could swallow: {text!r}")
    return tuple(parts)


def captures_consent(parts: tuple[TemplatePart, ...]) -> bool:
    """Whether a template (as :func:`template_parts` split it) has a ``{consent}`` placeholder."""
    return any(isinstance(p, tuple) and p[0] == CONSENT for p in parts)


def check_resource_template(parts: tuple[TemplatePart, ...]) -> None:
    """A resource template names one consent group: it must capture ``{consent}`` (:class:`ValueError`)."""
    if not captures_consent(parts):
        raise ValueError("a resource template must capture {consent}")
