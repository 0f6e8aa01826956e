"""Declarative per-member field mappings: one member's study records → the common study schema; pure.

The configuration follows Gen3 Aggregate MDS's ``field_mappings`` (``AggMDS field = remote field``) and is
checked in full at start-up; the compiled, frozen :class:`CompiledMapping` then maps any JSON record without
raising.

Mapping rules (target field → source), in :attr:`MemberMappingSettings.field_mappings`:

* ``"path:<selector>"`` (a string with that prefix): the value the selector finds in the record;
* any other string, number, boolean, ``null`` or list: that constant;
* an object, the long form: ``{"path": "<selector>"}`` (the ``path:`` prefix optional there) or
  ``{"value": <constant of any JSON type>}``, plus optional ``filters`` (a list of filter names),
  ``filter_params`` (alias ``filterParams``: ``{filter: params}``), ``default`` (alias ``default_value``)
  and ``type`` (``string``, ``integer``, ``number``, ``boolean``, ``array`` or ``object``).

A target may be a dotted name (``study_metadata.summary``), which builds nested output objects.

Selectors are the safe subset of JSONPath of :mod:`gateway.discovery.mapping.selectors` (a bad one is refused at
start-up). They are evaluated against the record's :attr:`MemberMappingSettings.study_field` object (default
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

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from gateway.discovery.mapping.selectors import MISSING, Selector, SelectorError, parse_selector
from gateway.discovery.mapping.value_filters import FILTERS, FieldType, FilterName, coerce, run_filters
from gateway.search.mapping.model import CohortIndex, CohortIndexSettings, CohortMapping, compile_cohort

# --- limits ---------------------------------------------------------------------------------------------

MAX_TARGET_DEPTH = 8

PATH_PREFIX = "path:"
DEFAULT_STUDY_FIELD = "gen3_discovery"


class MappingError(ValueError):
    """A mapping configuration refused at start-up; the message names the member and field."""


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


# --- configuration models -------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Section):
    """One field of the common study schema (``/aggregate/info/schema`` reports it)."""

    type: FieldType = Field("string", description="JSON type values of this field are coerced to.")
    description: str = Field("", description="What the field holds.")
    default: Any = Field(None, description="Value when a mapping yields nothing and sets no default of its own.")

    @model_validator(mode="after")
    def _default_has_type(self) -> FieldSpec:
        if self.default is not None and coerce(self.default, self.type) is MISSING:
            raise ValueError(f"default {self.default!r} is not a valid {self.type}")
        return self


class FieldRule(_Section):
    """The long form of one mapping rule."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: str | None = Field(None, description="Selector (the `path:` prefix is optional here).")
    value: Any = Field(None, description="A constant of any JSON type (instead of `path`).")
    filters: list[FilterName] = Field([], description="Filters applied in order.")
    filter_params: dict[str, Any] = Field({}, alias="filterParams", description="Params per filter name.")
    default: Any = Field(None, description="Value when the result is missing or null (alias `default_value`).")
    type: FieldType | None = Field(None, description="Type to coerce to (else the schema's type).")

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict) and "default_value" in data:
            if "default" in data:
                raise ValueError("give `default` or `default_value`, not both")
            data = {("default" if k == "default_value" else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _path_or_value(self) -> FieldRule:
        if ("path" in self.model_fields_set) == ("value" in self.model_fields_set):
            raise ValueError("give exactly one of `path` and `value`")
        if "path" in self.model_fields_set and self.path is None:
            raise ValueError("`path` must be a selector")
        return self


class SelectFieldSettings(_Section):
    field_name: str = Field(min_length=1, description="Mapped (target) field name, dotted for nested.")
    field_value: Any = Field(description="Records whose field equals this (or whose array contains it) are kept.")


class MemberMappingSettings(_Section):
    """One member's mapping, in Aggregate MDS's shape (see the module docstring)."""

    study_field: str | None = Field(
        DEFAULT_STUDY_FIELD, description="Key of the study object in each record, selectors' root; null: the "
        "whole record."
    )
    field_mappings: dict[str, Any] = Field(
        {}, description="Target field → `path:<selector>`, a constant, or a long-form rule object."
    )
    keep_original_fields: bool = Field(
        False, description="Start from a copy of the study object (mapped fields replace its keys)."
    )
    global_field_filters: list[FilterName] = Field([], description="Filters applied to every field, after its own.")
    per_item_values: dict[str, dict[str, Any]] = Field(
        {}, description="Per record GUID: target field → value, set after mapping."
    )
    select_field: SelectFieldSettings | None = Field(None, description="Keep only records with this mapped value.")

    @model_validator(mode="after")
    def _valid(self) -> MemberMappingSettings:
        compile_mapping(None, self, {})  # the member id is in the error's location; the schema is checked later
        return self

    def compile(self, member: str, schema: Mapping[str, FieldSpec] | None = None) -> CompiledMapping:
        """The frozen mapping for ``member`` against ``schema`` (default: :data:`DEFAULT_STUDY_SCHEMA`);
        :class:`MappingError` naming the member and field for anything wrong."""
        return compile_mapping(member, self, DEFAULT_STUDY_SCHEMA if schema is None else schema)


def _where(member: str | None, what: str) -> str:
    return what if member is None else f"member {member!r}, {what}"


def _target(where: str, name: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    if not name or any(not p or p != p.strip() for p in parts):
        raise MappingError(f"{where}: bad target field name {name!r}")
    if len(parts) > MAX_TARGET_DEPTH:
        raise MappingError(f"{where}: target field {name!r} nests deeper than {MAX_TARGET_DEPTH}")
    return parts


def _filters(where: str, names: Iterable[str], params: Mapping[str, Any], *, global_: bool = False
             ) -> tuple[tuple[str, Any], ...]:
    out = []
    names = list(names)
    for name in names:
        spec = FILTERS.get(name)
        if spec is None:
            raise MappingError(f"{where}: unknown filter {name!r} (known: {', '.join(FILTERS)})")
        if spec.check_params is None:
            if name in params:
                raise MappingError(f"{where}: filter {name!r} takes no params")
            out.append((name, None))
            continue
        if global_:
            raise MappingError(f"{where}: filter {name!r} needs params and cannot be global")
        if name not in params:
            raise MappingError(f"{where}: filter {name!r} needs params in filter_params")
        try:
            spec.check_params(params[name])
        except ValueError as exc:
            raise MappingError(f"{where}: filter {name!r} {exc}") from None
        out.append((name, params[name]))
    for name in params:
        if name not in names:
            raise MappingError(f"{where}: filter_params for {name!r}, which is not in filters")
    return tuple(out)


def _coerced_or_error(where: str, what: str, value: Any, type_: str | None) -> Any:
    got = coerce(value, type_)
    if got is MISSING:
        raise MappingError(f"{where}: {what} {value!r} is not a valid {type_}")
    return got


def compile_mapping(member: str | None, settings: MemberMappingSettings,
                    schema: Mapping[str, FieldSpec]) -> CompiledMapping:
    """See :meth:`MemberMappingSettings.compile` (``member`` ``None``: messages do not name it)."""
    if not settings.field_mappings and not settings.keep_original_fields:
        raise MappingError(_where(member, "no field_mappings and keep_original_fields is false"))
    global_filters = _filters(_where(member, "global_field_filters"), settings.global_field_filters, {},
                              global_=True)
    fields: list[CompiledField] = []
    targets: dict[tuple[str, ...], str] = {}
    for name, rule in settings.field_mappings.items():
        where = _where(member, f"field {name!r}")
        target = _target(where, name)
        for other, other_name in targets.items():
            shorter, longer = sorted((other, target), key=len)
            if longer[: len(shorter)] == shorter:
                raise MappingError(f"{where}: clashes with field {other_name!r}")
        targets[target] = name
        spec = schema.get(name)
        if isinstance(rule, dict):
            try:
                rule = FieldRule.model_validate(rule)
            except ValueError as exc:
                raise MappingError(f"{where}: {exc}") from None
        if isinstance(rule, FieldRule):
            type_ = rule.type or (spec.type if spec else None)
            filters = _filters(where, rule.filters, rule.filter_params)
            if "default" in rule.model_fields_set and rule.default is not None:
                default = _coerced_or_error(where, "default", rule.default, type_)
            elif "default" in rule.model_fields_set:
                default = None
            else:
                default = spec.default if spec else None
                default = None if default is None else _coerced_or_error(where, "schema default", default, type_)
            path = rule.path
            constant = rule.value
            is_path = "path" in rule.model_fields_set
        else:
            if not (rule is None or isinstance(rule, (str, int, float, bool, list))):
                raise MappingError(f"{where}: a rule is a string, number, boolean, null, array or object")
            type_ = spec.type if spec else None
            filters = ()
            default = spec.default if spec else None
            default = None if default is None else _coerced_or_error(where, "schema default", default, type_)
            is_path = isinstance(rule, str) and rule.startswith(PATH_PREFIX)
            path = rule if is_path else None
            constant = None if is_path else rule
        if is_path:
            assert isinstance(path, str)
            try:
                selector = parse_selector(path.removeprefix(PATH_PREFIX))
            except SelectorError as exc:
                raise MappingError(f"{where}: bad selector: {exc}") from None
            fields.append(CompiledField(target, selector, None, filters, type_, default))
        else:
            value = run_filters(run_filters(constant, filters), global_filters)
            value = None if value is MISSING else value
            if value is not None:
                value = _coerced_or_error(where, "constant", value, type_)
            fields.append(CompiledField(target, None, default if value is None else value, filters, type_, default))
    per_item: dict[str, tuple[tuple[tuple[str, ...], Any], ...]] = {}
    for guid, values in settings.per_item_values.items():
        items = []
        for name, value in values.items():
            where = _where(member, f"per_item_values {guid!r}, field {name!r}")
            target = _target(where, name)
            rules = [f for f in fields if f.target == target]
            type_ = rules[0].type if rules else (schema[name].type if name in schema else None)
            items.append((target, None if value is None else _coerced_or_error(where, "value", value, type_)))
        per_item[guid] = tuple(items)
    select = None
    if settings.select_field is not None:
        select = (_target(_where(member, "select_field"), settings.select_field.field_name),
                  settings.select_field.field_value)
    return CompiledMapping(
        member=member or "",
        fields=tuple(fields),
        global_filters=global_filters,
        study_field=settings.study_field,
        keep_original_fields=settings.keep_original_fields,
        per_item_values=per_item,
        select_field=select,
    )


# --- the common study schema and the reference commons' default mapping ---------------------------------


def _spec(type_: str, description: str, default: Any = None) -> FieldSpec:
    return FieldSpec(type=type_, description=description, default=default)


DEFAULT_STUDY_SCHEMA: Mapping[str, FieldSpec] = {
    "_unique_id": _spec("string", "The study's identifier, unique within its member (usually its GUID)."),
    "study_id": _spec("string", "The study's accession (e.g. a dbGaP phs number) or project id."),
    "project_id": _spec("string", "The member's project id (`<program>-<project>`)."),
    "name": _spec("string", "Study name."),
    "short_name": _spec("string", "Short name or code."),
    "full_name": _spec("string", "Full name, with its accession."),
    "study_description": _spec("string", "Description (plain text)."),
    "program": _spec("string", "Program the study belongs to."),
    "commons": _spec("string", "Human name of the member commons."),
    "data_availability": _spec("string", "`available`, `pending` or `not_available`.", "available"),
    "dbgap_accession": _spec("string", "dbGaP accession, when it has one."),
    "access": _spec("string", "`open` or `controlled`."),
    "authz": _spec("array", "The study's authz resource paths (one per consent group)."),
    "consent_groups": _spec("array", "Consent group codes."),
    "data_types": _spec("array", "Data types of its files."),
    "tags": _spec("array", "Discovery tags: `{name, category}` objects."),
    "_subjects_count": _spec("integer", "Number of subjects."),
    "_samples_count": _spec("integer", "Number of samples."),
    "_files_count": _spec("integer", "Number of files."),
    "files_size": _spec("integer", "Total size of its files in bytes."),
}
"""The common study schema every member is mapped into (``/aggregate/info/schema``)."""


def schema_json(schema: Mapping[str, FieldSpec]) -> dict[str, dict[str, Any]]:
    """The schema as ``/aggregate/info/schema`` answers it: ``{field: {type, description[, default]}}``."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in schema.items():
        entry: dict[str, Any] = {"type": spec.type, "description": spec.description}
        if spec.default is not None:
            entry["default"] = spec.default
        out[name] = entry
    return out


REFCOMMONS_FIELD_MAPPINGS: Mapping[str, Any] = {
    "_unique_id": "path:project_id",
    "study_id": "path:study_id",
    "project_id": "path:project_id",
    "name": "path:name",
    "short_name": "path:short_name",
    "full_name": "path:full_name",
    "study_description": {"path": "description", "filters": ["strip_html", "trim"], "default": ""},
    "program": "path:program",
    "commons": "Reference Commons",
    "data_availability": "available",
    "dbgap_accession": "path:dbgap_accession",
    "access": "path:access",
    "authz": {"path": "authz", "default": []},
    "consent_groups": {"path": "consent_groups", "default": []},
    "data_types": {"path": "data_types", "default": []},
    "tags": {"path": "tags", "default": []},
    "_subjects_count": {"path": "subjects_count", "default": 0},
    "_samples_count": {"path": "samples_count", "default": 0},
    "_files_count": {"path": "files_count", "default": 0},
    "files_size": {"path": "files_size", "default": 0},
}
"""The reference commons' ``discovery_metadata`` records (:mod:`refcommons.mds.catalog`) → the common schema."""


def refcommons_mapping(commons: str = "Reference Commons") -> MemberMappingSettings:
    """The default mapping of a reference commons member; ``commons`` is its human name."""
    return MemberMappingSettings(field_mappings={**REFCOMMONS_FIELD_MAPPINGS, "commons": commons})


class AggregateMappingSettings(_Section):
    """The common schema plus every member's mapping; everything is compiled (and so checked) on load."""

    study_schema: dict[str, FieldSpec] = Field(
        default_factory=lambda: dict(DEFAULT_STUDY_SCHEMA), description="The common study schema."
    )
    members: dict[str, MemberMappingSettings] = Field({}, description="Per member id: its field mapping.")
    cohort: dict[str, dict[CohortIndex, CohortIndexSettings]] = Field(
        {}, description="Per member id, per index (`subject`, `file`): cohort-search field renames (`fields`: "
        "gateway field → member field) and value maps (`values`: gateway field → {member value → gateway value})."
    )
    _compiled: dict[str, CompiledMapping] = PrivateAttr(default_factory=dict)
    _cohort: dict[str, CohortMapping] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _compile(self) -> AggregateMappingSettings:
        self._compiled = {name: m.compile(name, self.study_schema) for name, m in self.members.items()}
        self._cohort = {name: compile_cohort(name, m) for name, m in self.cohort.items()}
        return self

    def compiled(self) -> dict[str, CompiledMapping]:
        """Member id → its :class:`CompiledMapping`."""
        return dict(self._compiled)

    def cohort_compiled(self) -> dict[str, CohortMapping]:
        """Member id → its cohort-search :class:`~gateway.search.mapping.model.CohortMapping`."""
        return dict(self._cohort)
