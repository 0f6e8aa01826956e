"""Anchored value templates, compiled and matched (the grammar: :mod:`gateway.settings.value_templates`): Visa
values to grants (:mod:`gateway.passports.rules.grants`) and member resource paths to grant keys
(:mod:`gateway.passports.rules.resources`).

Templates match deterministically: a placeholder is a literal prefix plus a bounded run of one ASCII character
class, and must be followed by a literal whose first character is outside that class (checked when the template is
built). So the run is always the longest one, as in a single greedy left-to-right pass, whatever engine matches it.
Each template is compiled to an anchored regular expression of escaped literals and bounded classes: a shorter run
is tried only to fail on its first following character, so backtracking stays within ``max_len`` steps per
placeholder. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.settings.value_templates import (
    CHARSETS,
    CONSENT,
    CONSENT_SLOT,
    DATASET,
    DATASET_SLOT,
    Slot,
    TemplatePart,
    captures_consent,
    template_parts,
)

# the slot classes as regular-expression classes (explicitly ASCII: \d and \w would admit other scripts' digits)
_CLASSES: dict[str, str] = {"digits": "[0-9]", "alnum": "[A-Za-z0-9]", "word": "[A-Za-z0-9_-]"}
assert _CLASSES.keys() == CHARSETS.keys()


@dataclass(frozen=True)
class Template:
    """An anchored value template, e.g. ``https://dac.example.org/datasets/{dataset}.{consent}``.

    ``{dataset}`` is required, ``{consent}`` optional (without it the grant has no consent group); each at most
    once. Any other brace is an error (the grammar: :func:`gateway.settings.value_templates.template_parts`).
    Everything outside the placeholders is matched literally and in full.
    """

    text: str
    dataset: Slot = DATASET_SLOT
    consent: Slot = CONSENT_SLOT
    _parts: tuple[TemplatePart, ...] = field(init=False, repr=False, compare=False, hash=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parts", template_parts(self.text, self.dataset, self.consent))
        object.__setattr__(self, "_pattern", _regex(self._parts))

    @property
    def has_consent(self) -> bool:
        return captures_consent(self._parts)

    def match(self, value: str) -> dict[str, str] | None:
        """The captured ``dataset``/``consent`` (each with its slot's prefix) if ``value`` matches the whole
        template, else ``None``."""
        found = self._pattern.fullmatch(value)
        return None if found is None else found.groupdict()

    def render(self, dataset: str, consent: str | None = None) -> str | None:
        """The value this template gives for ``dataset`` (and ``consent``, each with its slot's prefix), or
        ``None`` when :meth:`match` would not read exactly them back from it (a value outside its slot, a consent
        given to a template without ``{consent}`` or missing for one with it)."""
        if (consent is not None) != self.has_consent:
            return None
        values = {DATASET: dataset, CONSENT: consent}
        text = "".join(part if isinstance(part, str) else str(values[part[0]]) for part in self._parts)
        back = self.match(text)
        wanted = {DATASET: dataset} if consent is None else {DATASET: dataset, CONSENT: consent}
        return text if back == wanted else None


def _regex(parts: tuple[TemplatePart, ...]) -> re.Pattern[str]:
    """The anchored expression of compiled template parts: literals escaped, a slot as a named group of its prefix
    and ``min_len..max_len`` characters of its class (see the module doc on why this is the greedy match)."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(re.escape(part))
        else:
            name, slot = part
            out.append(f"(?P<{name}>{re.escape(slot.prefix)}{_CLASSES[slot.charset]}{{{slot.min_len},{slot.max_len}}})")
    return re.compile("".join(out))
