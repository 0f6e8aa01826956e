"""Values in field mappings: coercion to a field's JSON type, and the closed set of value filters; pure.

Coercion (:func:`coerce`, whose docstring gives the rules) turns a value into one of the field types
(:data:`~gateway.settings.discovery.FieldType`), or into :data:`~gateway.discovery.mapping.selectors.MISSING` when it
cannot be (never an error).

Filters (a closed set, :data:`FILTERS`, keyed by :data:`~gateway.settings.discovery.FilterName`; every one is total: a
value it does not apply to passes unchanged). "Text filters" apply to a string, or to each string element of an
array:

* ``strip_html``: removes tags (``<`` then a letter, ``/``, ``!`` or ``?``, up to ``>``), then decodes HTML
  entities (the output is text, not HTML);
* ``strip_email``: removes e-mail addresses;
* ``trim``: collapses whitespace runs to one space and strips both ends;
* ``uppercase`` / ``lowercase``;
* ``normalize_value`` (params: ``{from: to}``): replaces a string found in the map;
* ``normalize_tags`` (params: ``{category: {from: to}}``): renames ``name`` of ``{name, category}`` tags;
* ``first``: an array's first element (an empty array becomes missing);
* ``length``: an array's or object's length;
* ``sum``: the sum of an array's numbers (other elements ignored);
* ``join``: an array's scalar elements as text joined by ``", "``;
* ``unique``: an array without repeated elements (first kept).

Only ``normalize_value`` and ``normalize_tags`` take params, and they require them
(:attr:`FilterDef.check_params` checks them). :func:`run_filters` applies ``(name, params)`` pairs in order; a
missing value stays missing. Which filters and params a mapping may use is checked when it is compiled
(:mod:`gateway.discovery.mapping.records`).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.discovery.mapping.selectors import MISSING

# --- limits ---------------------------------------------------------------------------------------------

_MAX_NUMBER_TEXT = 64
_MAX_OBJECT_TEXT = 1_000_000



# --- coercion -------------------------------------------------------------------------------------------

_INT_TEXT = re.compile(r"\s*[+-]?\d{1,30}\s*")
_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def scalar_text(value: Any) -> str | None:
    """A scalar as text: strings as is, booleans ``"true"``/``"false"``, integers and finite floats as decimal
    text (``repr``); ``None`` for anything else (an integer too long for ``str``, a non-finite float, a container)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than int→str allows
            return None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return None


def coerce(value: Any, type_: str | None) -> Any:
    """``value`` as ``type_``, or :data:`MISSING` when it cannot be; ``None``/missing pass through.

    * ``string``: strings as is; finite numbers as decimal text; booleans ``"true"``/``"false"``; an array of
      strings joined by ``", "``; anything else fails.
    * ``integer``: integers; floats with an integral value; strings of up to 30 digits (optional sign,
      surrounding spaces); booleans and everything else fail.
    * ``number``: finite integers and floats; decimal strings of at most 64 characters with a finite value.
    * ``boolean``: booleans; ``true/yes/1`` and ``false/no/0`` in any case; the integers 0 and 1.
    * ``array``: arrays; ``""`` becomes ``[]``; any other value ``v`` becomes ``[v]``.
    * ``object``: objects; a string holding a JSON object (at most 1 MB) is parsed; anything else fails.
    """
    if value is None or value is MISSING or type_ is None:
        return value
    if type_ == "string":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ", ".join(value)
        text = scalar_text(value)
        return MISSING if text is None else text
    if type_ == "integer":
        if isinstance(value, bool):
            return MISSING
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if math.isfinite(value) and value.is_integer() else MISSING
        if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT and _INT_TEXT.fullmatch(value):
            return int(value)
        return MISSING
    if type_ == "number":
        if isinstance(value, bool):
            return MISSING
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else MISSING
        if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT and _NUMBER_TEXT.fullmatch(value):
            number = float(value)
            return number if math.isfinite(number) else MISSING
        return MISSING
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return bool(value) if value in (0, 1) else MISSING
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        return MISSING
    if type_ == "array":
        if isinstance(value, list):
            return value
        if value == "":
            return []
        return [value]
    if type_ == "object":
        if isinstance(value, dict):
            return value
        if isinstance(value, str) and len(value) <= _MAX_OBJECT_TEXT:
            try:
                parsed = json.loads(value)
            except (ValueError, RecursionError):
                return MISSING
            return parsed if isinstance(parsed, dict) else MISSING
        return MISSING
    raise ValueError(f"unknown type {type_!r}")


# --- filters --------------------------------------------------------------------------------------------

_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")


def _text_filter(fn: Callable[[str], str]) -> Callable[[Any, Any], Any]:
    def run(value: Any, params: Any = None) -> Any:
        if isinstance(value, str):
            return fn(value)
        if isinstance(value, list):
            return [fn(v) if isinstance(v, str) else v for v in value]
        return value

    return run


def _strip_html(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


def _normalize_value(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return params.get(value, value)
    if isinstance(value, list):
        return [params.get(v, v) if isinstance(v, str) else v for v in value]
    return value


def _normalize_tags(value: Any, params: Mapping[str, Mapping[str, str]]) -> Any:
    if not isinstance(value, list):
        return value
    out = []
    for tag in value:
        if isinstance(tag, dict) and isinstance(tag.get("category"), str) and isinstance(tag.get("name"), str):
            names = params.get(tag["category"], {})
            if tag["name"] in names:
                tag = {**tag, "name": names[tag["name"]]}
        out.append(tag)
    return out


def _first(value: Any, params: Any = None) -> Any:
    if isinstance(value, list):
        return value[0] if value else MISSING
    return value


def _length(value: Any, params: Any = None) -> Any:
    return len(value) if isinstance(value, (list, dict)) else value


def _sum(value: Any, params: Any = None) -> Any:
    if not isinstance(value, list):
        return value
    total: int | float = 0
    for v in value:
        if _is_number(v) and (not isinstance(v, float) or math.isfinite(v)):
            total += v
    if isinstance(total, float) and not math.isfinite(total):
        return MISSING
    return total


def _join(value: Any, params: Any = None) -> Any:
    if not isinstance(value, list):
        return value
    return ", ".join(t for t in (scalar_text(v) for v in value) if t is not None)


def _unique(value: Any, params: Any = None) -> Any:
    if not isinstance(value, list):
        return value
    seen: set[Any] = set()
    out = []
    for v in value:
        try:
            key = (type(v).__name__, json.dumps(v, sort_keys=True)) if isinstance(v, (dict, list)) else (
                type(v).__name__, v)
            hash(key)
        except (TypeError, ValueError, RecursionError):
            out.append(v)
            continue
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _check_value_map(params: Any) -> None:
    if not isinstance(params, dict) or not params:
        raise ValueError("needs a non-empty object {from: to}")


def _check_tag_map(params: Any) -> None:
    if not isinstance(params, dict) or not params:
        raise ValueError("needs a non-empty object {category: {from: to}}")
    for category, names in params.items():
        if not isinstance(names, dict) or not all(isinstance(n, str) for n in names.values()):
            raise ValueError(f"category {category!r} needs an object of name → new name (strings)")


@dataclass(frozen=True)
class FilterDef:
    run: Callable[[Any, Any], Any]
    check_params: Callable[[Any], None] | None = None
    """Set for filters that require params (it raises ValueError for bad ones)."""


FILTERS: Mapping[str, FilterDef] = {
    "strip_html": FilterDef(_text_filter(_strip_html)),
    "strip_email": FilterDef(_text_filter(lambda s: _EMAIL.sub("", s))),
    "trim": FilterDef(_text_filter(lambda s: " ".join(s.split()))),
    "uppercase": FilterDef(_text_filter(str.upper)),
    "lowercase": FilterDef(_text_filter(str.lower)),
    "normalize_value": FilterDef(_normalize_value, _check_value_map),
    "normalize_tags": FilterDef(_normalize_tags, _check_tag_map),
    "first": FilterDef(_first),
    "length": FilterDef(_length),
    "sum": FilterDef(_sum),
    "join": FilterDef(_join),
    "unique": FilterDef(_unique),
}


def run_filters(value: Any, filters: Iterable[tuple[str, Any]]) -> Any:
    """``value`` through ``(name, params)`` filters in order; a missing value stays missing."""
    for name, params in filters:
        if value is MISSING:
            return MISSING
        value = FILTERS[name].run(value, params)
    return value

