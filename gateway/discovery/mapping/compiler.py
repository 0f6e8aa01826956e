"""Study-record mapping settings → :class:`~gateway.discovery.mapping.records.CompiledMapping`, checked in full; pure.

The settings (:mod:`gateway.settings.discovery`) are checked for their shape when the configuration loads; here,
when the gateway starts (the discovery harvester compiles every configured mapping as it is built), for what they
mean, with the rules of :mod:`gateway.discovery.mapping.records`: each target a dotted name no deeper than
:data:`MAX_TARGET_DEPTH` that no other target contains or extends; each selector inside the supported subset; each
filter known, with the params it needs (and none it does not), global filters taking none; each default and
constant a valid value of its field's type (the rule's ``type``, else the schema's); each ``per_item_values`` value
too. Anything else is a :class:`MappingError` naming the member and the field, and the gateway does not start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.discovery.mapping.records import PATH_PREFIX, CompiledField, CompiledMapping
from gateway.discovery.mapping.selectors import MISSING, SelectorError, parse_selector
from gateway.discovery.mapping.value_filters import FILTERS, coerce, run_filters
from gateway.settings.aggregate import AggregateMappingSettings
from gateway.settings.discovery import DEFAULT_STUDY_SCHEMA, FieldRule, FieldSpec, MemberMappingSettings
from gateway.settings.yaml_source import ConfigError

MAX_TARGET_DEPTH = 8

Filters = tuple[tuple[str, Any], ...]
"""``(filter name, params)`` pairs, in order."""


class MappingError(ConfigError, ValueError):
    """A mapping configuration refused at start-up; the message names the member and field."""


def compile_mappings(section: AggregateMappingSettings) -> dict[str, CompiledMapping]:
    """Member id → its compiled mapping, for every mapping of ``aggregate.mappings.members`` against the configured
    schema (itself checked first); :class:`MappingError` prefixed with the key for the first one that is wrong."""
    try:
        check_schema(section.study_schema)
    except MappingError as exc:
        raise MappingError(f"aggregate.mappings.study_schema: {exc}") from None
    try:
        return {name: compile_mapping(name, m, section.study_schema) for name, m in section.members.items()}
    except MappingError as exc:
        raise MappingError(f"aggregate.mappings.members: {exc}") from None


def check_schema(schema: Mapping[str, FieldSpec]) -> None:
    """:class:`MappingError` naming the field whose ``default`` is not a valid value of its ``type``."""
    for name, spec in schema.items():
        if spec.default is not None and coerce(spec.default, spec.type) is MISSING:
            raise MappingError(f"field {name!r}: default {spec.default!r} is not a valid {spec.type}")


def compile_mapping(member: str, settings: MemberMappingSettings,
                    schema: Mapping[str, FieldSpec] = DEFAULT_STUDY_SCHEMA) -> CompiledMapping:
    """The frozen mapping of ``member`` against ``schema``; :class:`MappingError` naming the member and field for
    anything wrong (see the module docstring)."""
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
        fields.append(_field(where, target, rule, schema.get(name), global_filters))
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
        member=member,
        fields=tuple(fields),
        global_filters=global_filters,
        study_field=settings.study_field,
        keep_original_fields=settings.keep_original_fields,
        per_item_values=per_item,
        select_field=select,
    )


def _field(where: str, target: tuple[str, ...], rule: Any, spec: FieldSpec | None,
           global_filters: Filters) -> CompiledField:
    """One rule (short or long form) of one target field."""
    schema_default = None if spec is None or spec.default is None else spec.default
    if isinstance(rule, dict):
        try:
            rule = FieldRule.model_validate(rule)
        except ValueError as exc:
            raise MappingError(f"{where}: {exc}") from None
    path: str | None
    if isinstance(rule, FieldRule):
        type_ = rule.type or (spec.type if spec else None)
        filters = _filters(where, rule.filters, rule.filter_params)
        if "default" in rule.model_fields_set:
            default = None if rule.default is None else _coerced_or_error(where, "default", rule.default, type_)
        else:
            default = None if schema_default is None else _coerced_or_error(where, "schema default",
                                                                             schema_default, type_)
        path = rule.path if "path" in rule.model_fields_set else None
        constant = rule.value
    else:
        if not (rule is None or isinstance(rule, (str, int, float, bool, list))):
            raise MappingError(f"{where}: a rule is a string, number, boolean, null, array or object")
        type_ = spec.type if spec else None
        filters = ()
        default = None if schema_default is None else _coerced_or_error(where, "schema default",
                                                                         schema_default, type_)
        path = rule if isinstance(rule, str) and rule.startswith(PATH_PREFIX) else None
        constant = None if path is not None else rule
    if path is not None:
        try:
            selector = parse_selector(path.removeprefix(PATH_PREFIX))
        except SelectorError as exc:
            raise MappingError(f"{where}: bad selector: {exc}") from None
        return CompiledField(target, selector, None, filters, type_, default)
    value = run_filters(run_filters(constant, filters), global_filters)
    value = None if value is MISSING else value
    if value is not None:
        value = _coerced_or_error(where, "constant", value, type_)
    return CompiledField(target, None, default if value is None else value, filters, type_, default)


def _where(member: str, what: str) -> str:
    return f"member {member!r}, {what}"


def _target(where: str, name: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    if not name or any(not p or p != p.strip() for p in parts):
        raise MappingError(f"{where}: bad target field name {name!r}")
    if len(parts) > MAX_TARGET_DEPTH:
        raise MappingError(f"{where}: target field {name!r} nests deeper than {MAX_TARGET_DEPTH}")
    return parts


def _filters(where: str, names: Iterable[str], params: Mapping[str, Any], *, global_: bool = False) -> Filters:
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
