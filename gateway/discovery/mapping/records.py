"""Declarative per-member field mappings: one member's study records → the common study schema; pure.

The configuration (:class:`~gateway.settings.discovery.MemberMappingSettings`) follows Gen3 Aggregate MDS's
``field_mappings`` (``AggMDS field = remote field``) and is checked in full at start-up by
:mod:`gateway.discovery.mapping.compiler`; the compiled, frozen :class:`CompiledMapping` then maps any JSON record
without raising (:func:`apply`).

Mapping rules (target field → source), in ``field_mappings``:

* ``"path:<selector>"`` (a string with that prefix): the value the selector finds in the record;
* any other string, number, boolean, ``null`` or list: that constant;
* an object, the long form: ``{"path": "<selector>"}`` (the ``path:`` prefix optional there) or
  ``{"value": <constant of any JSON type>}``, plus optional ``filters`` (a list of filter names),
  ``filter_params`` (alias ``filterParams``: ``{filter: params}``), ``default`` (alias ``default_value``)
  and ``type`` (``string``, ``integer``, ``number``, ``boolean``, ``array`` or ``object``).

A target may be a dotted name (``study_metadata.summary``), which builds nested output objects.

Selectors are the safe subset of JSONPath of :mod:`gateway.discovery.mapping.selectors` (a bad one is refused at
start-up). They are evaluated against the record's ``study_field`` object (default
``gen3_discovery``, like Aggregate MDS's Gen3 adapter), or against the whole record when that is null.

One field, step by step:

1. resolve: the constant, or the selector's value (missing when nothing matches);
2. the field's ``filters``, in order, then the member's ``global_field_filters`` (not on missing values);
3. coercion to the field's ``type`` (else the study schema's type for that field, else none): see
   :func:`~gateway.discovery.mapping.value_filters.coerce`; a value that cannot be coerced becomes missing (never an
   error at run time);
4. a missing or ``null`` value becomes the default: the rule's ``default``, else the schema's ``default``,
   else ``null``. Defaults and constants are coerced at start-up, and one that cannot be is an error.

Filters are the closed set of :mod:`gateway.discovery.mapping.value_filters`; an unknown name is an error at start-up.
Only ``normalize_value`` and ``normalize_tags`` take params (in ``filter_params``), and they require them;
neither may be a global filter.

After the fields: ``keep_original_fields`` starts the output from a shallow copy of the study object (mapped
fields win); ``per_item_values`` (``{guid: {target: value}}``) then sets (adds or replaces) values for one
record (Aggregate MDS only replaces existing keys, its docs say it adds: we add); ``select_field``
(``{field_name, field_value}``) keeps only records whose mapped field equals the value (or, for an array,
contains it): see :func:`selected`. The output shares sub-values with the input record: treat both as
read-only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from gateway.discovery.mapping.selectors import MISSING, Selector
from gateway.discovery.mapping.value_filters import coerce, run_filters
from gateway.settings.discovery import DEFAULT_STUDY_FIELD

PATH_PREFIX = "path:"
"""Marks a short-form rule that is a selector (``"path:<selector>"``) rather than a text constant."""


# --- compiled form --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledField:
    target: tuple[str, ...]
    selector: Selector | None
    """``None``: a constant field (its value, already filtered and coerced, is :attr:`constant`)."""
    constant: Any
    filters: tuple[tuple[str, Any], ...]
    type: str | None
    default: Any

    @property
    def name(self) -> str:
        return ".".join(self.target)


@dataclass(frozen=True)
class CompiledMapping:
    """One member's mapping, checked and frozen; use :func:`apply`."""

    member: str
    fields: tuple[CompiledField, ...]
    global_filters: tuple[tuple[str, Any], ...] = ()
    study_field: str | None = DEFAULT_STUDY_FIELD
    keep_original_fields: bool = False
    per_item_values: Mapping[str, tuple[tuple[tuple[str, ...], Any], ...]] = dc_field(default_factory=dict)
    select_field: tuple[tuple[str, ...], Any] | None = None


def _set_path(out: dict[str, Any], target: tuple[str, ...], value: Any) -> None:
    """Set ``out[a][b]... = value``, copying (never mutating) intermediate objects it did not create."""
    node = out
    for part in target[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    node[target[-1]] = value


def _get_path(record: Mapping[str, Any], target: tuple[str, ...]) -> Any:
    node: Any = record
    for part in target:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def _field_value(field: CompiledField, root: Any, global_filters: tuple[tuple[str, Any], ...],
                 issues: list[str] | None) -> Any:
    if field.selector is None:
        return copy.deepcopy(field.constant)
    raw = field.selector.get(root)
    value = run_filters(raw, field.filters)
    value = run_filters(value, global_filters)
    coerced = coerce(value, field.type)
    if coerced is MISSING and value is not MISSING and issues is not None:
        issues.append(f"{field.name}: cannot coerce {type(value).__name__} to {field.type}")
    if coerced is MISSING or coerced is None:
        return copy.deepcopy(field.default)
    return coerced


def apply(mapping: CompiledMapping, record: Any, guid: str | None = None,
          issues: list[str] | None = None) -> dict[str, Any]:
    """``record`` mapped to the common schema (see the module docstring); never raises for JSON input.

    ``guid`` selects :attr:`CompiledMapping.per_item_values`; ``issues``, when given, collects one line per
    value that could not be coerced (it then took its default).
    """
    root: Any = record
    if mapping.study_field is not None:
        root = record.get(mapping.study_field) if isinstance(record, dict) else None
    if not isinstance(root, (dict, list)):
        root = {}
    out: dict[str, Any] = dict(root) if mapping.keep_original_fields and isinstance(root, dict) else {}
    for field in mapping.fields:
        _set_path(out, field.target, _field_value(field, root, mapping.global_filters, issues))
    if guid is not None:
        for target, value in mapping.per_item_values.get(guid, ()):
            _set_path(out, target, copy.deepcopy(value))
    return out


def selected(mapping: CompiledMapping, mapped: Mapping[str, Any]) -> bool:
    """Whether ``mapped`` passes the member's ``select_field`` (equal, or an array containing the value)."""
    if mapping.select_field is None:
        return True
    target, wanted = mapping.select_field
    value = _get_path(mapped, target)
    if value == wanted and type(value) is type(wanted):
        return True
    return isinstance(value, list) and any(v == wanted and type(v) is type(wanted) for v in value)


def apply_all(mapping: CompiledMapping, items: Iterable[tuple[str, Any]],
              issues: list[str] | None = None) -> tuple[tuple[str, dict[str, Any]], ...]:
    """``(guid, mapped)`` for every ``(guid, record)`` that :func:`selected` keeps, in input order.

    A record without an object under the member's ``study_field`` (e.g. a Gen3 MDS file record among
    ``discovery_metadata`` ones) is skipped, as Aggregate MDS skips it.
    """
    out = []
    for guid, record in items:
        if mapping.study_field is not None and not (
            isinstance(record, dict) and isinstance(record.get(mapping.study_field), dict)
        ):
            continue
        mapped = apply(mapping, record, guid, issues)
        if selected(mapping, mapped):
            out.append((guid, mapped))
    return tuple(out)
