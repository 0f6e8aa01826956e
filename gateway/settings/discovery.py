"""Study discovery's configuration: harvesting, the common study schema and the per-member study-record mappings
(plain models).

The mapping models follow Gen3 Aggregate MDS's ``field_mappings`` and are checked here for their shape only: known
filter names and field types, a long-form rule giving exactly one of ``path`` and ``value``, unknown keys refused.
What a rule means (its selector, its filters' params, its constants and defaults against the field's type, clashing
targets) is :mod:`gateway.discovery.mapping.records`'s, which compiles every mapping when the gateway starts and
refuses it there, naming the member and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from gateway.settings.sections import Section

FieldType = Literal["string", "integer", "number", "boolean", "array", "object"]
"""The JSON types a study field's values are coerced to."""
FilterName = Literal[
    "strip_html", "strip_email", "trim", "uppercase", "lowercase", "normalize_value", "normalize_tags",
    "first", "length", "sum", "join", "unique",
]
"""The value filters a mapping rule may name (:data:`gateway.discovery.mapping.value_filters.FILTERS`)."""
DEFAULT_STUDY_FIELD = "gen3_discovery"
"""The key of the study object in a member's discovery records (Aggregate MDS's Gen3 adapter)."""


class HarvestSettings(Section):
    enabled: bool = Field(True, description="Harvest members' study discovery records in the background.")
    interval: float = Field(300.0, gt=0, description="Seconds between study-discovery harvests of each member.")
    timeout: float = Field(30.0, gt=0, description="Seconds one member's harvest may take.")


class FieldSpec(Section):
    """One field of the common study schema (``/aggregate/info/schema`` reports it)."""

    type: FieldType = Field("string", description="JSON type values of this field are coerced to.")
    description: str = Field("", description="What the field holds.")
    default: Any = Field(None, description="Value when a mapping yields nothing and sets no default of its own.")


class FieldRule(Section):
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


class SelectFieldSettings(Section):
    field_name: str = Field(min_length=1, description="Mapped (target) field name, dotted for nested.")
    field_value: Any = Field(description="Records whose field equals this (or whose array contains it) are kept.")


class MemberMappingSettings(Section):
    """One member's mapping, in Aggregate MDS's shape (see :mod:`gateway.discovery.mapping.records`)."""

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


def _spec(type_: FieldType, description: str, default: Any = None) -> FieldSpec:
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
"""The common study schema every member is mapped into (``/aggregate/info/schema``), unless configured otherwise."""
