"""Per-member field mappings (gateway.discovery.mapping.records): applying rules, defaults, coercion to the schema's
types, start-up checks, and the reference commons' default mapping."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from pydantic import ValidationError
from test_selectors import DOC, json_values

from gateway.discovery.mapping.compiler import MappingError, check_schema, compile_mapping, compile_mappings
from gateway.discovery.mapping.records import apply, apply_all, selected
from gateway.discovery.mapping.reference import refcommons_mapping
from gateway.discovery.mapping.selectors import MISSING
from gateway.discovery.mapping.value_filters import FILTERS
from gateway.discovery.mds_query import schema_json
from gateway.settings.aggregate import AggregateMappingSettings
from gateway.settings.discovery import DEFAULT_STUDY_SCHEMA, FieldSpec, FilterName, MemberMappingSettings
from refcommons.mds.catalog import MetadataCatalog
from refcommons.synth import generate_dataset


def compile_(field_mappings: dict[str, Any], schema: dict[str, FieldSpec] | None = None, **kw: Any):
    settings = MemberMappingSettings(study_field=None, field_mappings=field_mappings, **kw)
    return compile_mapping("m1", settings, schema if schema is not None else {})


def one(rule: Any, record: Any, schema: dict[str, FieldSpec] | None = None, **kw: Any) -> Any:
    return apply(compile_({"out": rule}, schema, **kw), record)["out"]




# --- applying a mapping ---------------------------------------------------------------------------------


def test_constants_short_and_long_form() -> None:
    m = compile_({
        "s": "plain text", "n": 3, "f": 1.5, "b": False, "z": None, "l": ["a"],
        "o": {"value": {"nested": [1]}}, "path_like": {"value": "path:not a selector"},
    })
    out = apply(m, {"anything": 1})
    assert out == {"s": "plain text", "n": 3, "f": 1.5, "b": False, "z": None, "l": ["a"],
                   "o": {"nested": [1]}, "path_like": "path:not a selector"}
    out["o"]["nested"].append(2)
    assert apply(m, {})["o"] == {"nested": [1]}  # constants are copied per record


def test_paths_short_and_long_form() -> None:
    m = compile_({
        "short": "path:a.b", "long": {"path": "$.a.c[1]"}, "long_prefixed": {"path": "path:list[0].name"},
        "all": "path:list[*].name",
    })
    assert apply(m, DOC) == {"short": 1, "long": 20, "long_prefixed": "x", "all": ["x", "y"]}


def test_study_field_is_the_root() -> None:
    m = compile_mapping("m1", MemberMappingSettings(field_mappings={"n": "path:name"}), {})
    assert apply(m, {"_guid_type": "discovery_metadata", "gen3_discovery": {"name": "S"}}) == {"n": "S"}
    assert apply(m, {"name": "outside"}) == {"n": None}
    assert apply(m, {"gen3_discovery": "not an object"}) == {"n": None}
    assert apply(m, "not even an object") == {"n": None}
    whole = compile_mapping("m", MemberMappingSettings(study_field=None, field_mappings={"t": "path:_guid_type"}),
                            {})
    assert apply(whole, {"_guid_type": "discovery_metadata"}) == {"t": "discovery_metadata"}
    assert apply(compile_({"x": "path:[1]"}), ["a", "b"]) == {"x": "b"}


def test_field_filters_then_global_filters() -> None:
    m = compile_(
        {
            "summary": {"path": "d", "filters": ["strip_html"]},
            "stage": {"path": "s", "filters": ["normalize_value"], "filterParams": {"normalize_value": {"2": "ii"}}},
            "const": "  spaced   out ",
        },
        global_field_filters=["trim", "uppercase"],
    )
    assert apply(m, {"d": " <p>a  b</p> ", "s": "2"}) == {"summary": "A B", "stage": "II", "const": "SPACED OUT"}


def test_filter_params_snake_case_accepted() -> None:
    rule = {"path": "s", "filters": ["normalize_value"], "filter_params": {"normalize_value": {"a": "b"}}}
    assert one(rule, {"s": "a"}) == "b"


def test_defaults() -> None:
    schema = {"out": FieldSpec(type="string", default="schema-default")}
    assert one({"path": "x", "default": "N/A"}, {}) == "N/A"
    assert one({"path": "x", "default_value": "N/A"}, {}) == "N/A"
    assert one({"path": "x", "default": "N/A"}, {"x": None}) == "N/A"
    assert one({"path": "x", "default": "N/A"}, {"x": "v"}) == "v"
    assert one({"path": "x"}, {}) is None
    assert one("path:x", {}, schema) == "schema-default"
    assert one({"path": "x"}, {}, schema) == "schema-default"
    assert one({"path": "x", "default": "mine"}, {}, schema) == "mine"
    assert one({"path": "x", "default": None}, {}, schema) is None
    assert one(None, {}, schema) == "schema-default"
    assert one({"value": None, "default": "d"}, {}) == "d"
    assert one({"path": "x[*]", "default": []}, {"x": []}) == []
    assert one({"path": "x", "filters": ["first"], "default": "none"}, {"x": []}) == "none"


def test_default_is_copied_per_record() -> None:
    m = compile_({"l": {"path": "x", "default": []}})
    first = apply(m, {})
    first["l"].append(1)
    assert apply(m, {}) == {"l": []}


def test_type_coercion_from_rule_and_schema() -> None:
    schema = {"count": FieldSpec(type="integer"), "tags": FieldSpec(type="array")}
    m = compile_({"count": "path:n", "tags": "path:t", "as_text": {"path": "n", "type": "string"},
                  "override": {"path": "n", "type": "number"}}, schema)
    assert apply(m, {"n": "12", "t": "one"}) == {"count": 12, "tags": ["one"], "as_text": "12", "override": 12.0}
    m2 = compile_({"count": {"path": "n", "type": "string"}}, schema)
    assert apply(m2, {"n": 5}) == {"count": "5"}  # the rule's type wins over the schema's


def test_coercion_failure_takes_the_default_and_is_reported() -> None:
    m = compile_({
        "n": {"path": "n", "type": "integer", "default": -1},
        "m": {"path": "n", "type": "integer"},
        "ok": {"path": "k", "type": "integer"},
    })
    issues: list[str] = []
    assert apply(m, {"n": "lots", "k": "3"}, issues=issues) == {"n": -1, "m": None, "ok": 3}
    assert issues == ["n: cannot coerce str to integer", "m: cannot coerce str to integer"]
    assert apply(m, {"n": "lots"}) == {"n": -1, "m": None, "ok": None}  # no list: nothing collected


def test_nested_targets() -> None:
    m = compile_({"study.summary": "path:d", "study.meta.year": 2020, "top": "t"})
    assert apply(m, {"d": "S"}) == {"study": {"summary": "S", "meta": {"year": 2020}}, "top": "t"}


def test_keep_original_fields_without_mutating_the_input() -> None:
    study = {"name": "orig", "extra": 1, "meta": {"a": 1}}
    record = {"gen3_discovery": study}
    m = compile_mapping("m1", MemberMappingSettings(
        keep_original_fields=True, field_mappings={"name": "path:extra", "meta.b": 2}
    ), {})
    out = apply(m, record)
    assert out == {"name": 1, "extra": 1, "meta": {"a": 1, "b": 2}}
    assert study == {"name": "orig", "extra": 1, "meta": {"a": 1}}
    only = compile_mapping("m1", MemberMappingSettings(keep_original_fields=True), {})
    assert apply(only, record) == study


def test_per_item_values_add_or_replace() -> None:
    m = compile_(
        {"authz": {"path": "a", "type": "array"}, "name": "path:n"},
        per_item_values={"g1": {"authz": "/programs/open", "data_availability": "pending", "x.y": 1}},
    )
    assert apply(m, {"a": ["/p"], "n": "N"}, "g1") == {
        "authz": ["/programs/open"], "name": "N", "data_availability": "pending", "x": {"y": 1},
    }
    assert apply(m, {"a": ["/p"], "n": "N"}, "g2") == {"authz": ["/p"], "name": "N"}
    assert apply(m, {"a": ["/p"], "n": "N"}) == {"authz": ["/p"], "name": "N"}


def test_select_field() -> None:
    m = compile_({"res": "path:r", "kinds": "path:k"}, select_field={"field_name": "res", "field_value": "SAMHDA"})
    assert selected(m, apply(m, {"r": "SAMHDA"}))
    assert not selected(m, apply(m, {"r": "other"}))
    m2 = compile_({"kinds": "path:k"}, select_field={"field_name": "kinds", "field_value": 1})
    assert selected(m2, {"kinds": [3, 1]})
    assert not selected(m2, {"kinds": [True]})
    assert not selected(m2, {"kinds": 1.0})
    assert not selected(m2, {})
    items = [("g1", {"r": "SAMHDA"}), ("g2", {"r": "x"}), ("g3", {"r": "SAMHDA"})]
    assert [g for g, _ in apply_all(m, items)] == ["g1", "g3"]


def test_apply_all_skips_records_without_a_study_object() -> None:
    m = compile_mapping("m1", MemberMappingSettings(field_mappings={"n": "path:name"}), {})
    items = [
        ("s1", {"_guid_type": "discovery_metadata", "gen3_discovery": {"name": "A"}}),
        ("f1", {"_guid_type": "indexed_file_object", "file_name": "x"}),
        ("bad", "text"),
    ]
    assert apply_all(m, items) == (("s1", {"n": "A"}),)


ALL_FILTERS_RULES: dict[str, Any] = {
    name: {
        "path": "$.v[*]" if i % 2 else "$.v",
        "filters": [name],
        **({"filterParams": {name: {"a": "b"}}} if name == "normalize_value" else {}),
        **({"filterParams": {name: {"c": {"a": "b"}}}} if name == "normalize_tags" else {}),
        "type": ["string", "integer", "number", "boolean", "array", "object"][i % 6],
    }
    for i, name in enumerate(FILTERS)
}


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_apply_never_raises_on_arbitrary_json(record: Any) -> None:
    m = compile_mapping("m1", MemberMappingSettings(
        study_field=None,
        field_mappings={
            **ALL_FILTERS_RULES,
            "plain": "path:v",
            "deep": "path:$.v.*[*].x[0]",
            "nested.t": {"path": "v", "type": "string", "default": "d"},
        },
        global_field_filters=["strip_html", "trim"],
        keep_original_fields=True,
    ), DEFAULT_STUDY_SCHEMA)
    for candidate in (record, {"v": record}, {"v": [record, record]}):
        out = apply(m, candidate, issues=[])
        assert isinstance(out, dict)
        assert MISSING not in [v for v in out.values() if not isinstance(v, (list, dict))]


# --- start-up validation --------------------------------------------------------------------------------
# The shape of a mapping is checked when the settings load (pydantic: ValidationError); what it means when the gateway
# starts (compile_mappings, called as the harvester is built: MappingError). Either way it is refused, naming the
# member and field, before the gateway serves.


def section(members: dict[str, Any], **kw: Any) -> AggregateMappingSettings:
    return AggregateMappingSettings.model_validate({"members": members, **kw})


def load(members: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """The settings loaded and compiled as the gateway does before it serves."""
    return compile_mappings(section(members, **kw))


@pytest.mark.parametrize(
    "rule, message",
    [
        ("path:$..x", "field 'summary': bad selector: recursive descent"),
        ({"path": "a[?(@)]"}, "field 'summary': bad selector: filter expressions"),
        ({"path": "x", "filters": ["add_icon"]}, "summary"),
        ({"path": "x", "filters": ["normalize_value"]}, "filter 'normalize_value' needs params"),
        ({"path": "x", "filters": ["normalize_value"], "filterParams": {"normalize_value": "no"}},
         "filter 'normalize_value' needs a non-empty object"),
        ({"path": "x", "filters": ["normalize_tags"], "filterParams": {"normalize_tags": {"c": "flat"}}},
         "category 'c' needs an object"),
        ({"path": "x", "filters": ["trim"], "filterParams": {"trim": {}}}, "filter 'trim' takes no params"),
        ({"path": "x", "filterParams": {"normalize_value": {"a": "b"}}}, "not in filters"),
        ({"path": "x", "type": "integer", "default": "many"}, "default 'many' is not a valid integer"),
        ({"value": "abc", "type": "integer"}, "constant 'abc' is not a valid integer"),
        ({"path": "x", "value": 1}, "exactly one of `path` and `value`"),
        ({"filters": ["trim"]}, "exactly one of `path` and `value`"),
        ({"path": None}, "must be a selector"),
        ({"path": "x", "default": 1, "default_value": 2}, "not both"),
        ({"path": "x", "colour": "red"}, "colour"),
        ({"path": "x", "type": "date"}, "type"),
    ],
)
def test_startup_errors_name_member_and_field(rule: Any, message: str) -> None:
    with pytest.raises(MappingError) as info:
        load({"memberA": {"field_mappings": {"summary": rule}}})
    text = str(info.value)
    assert text.startswith("aggregate.mappings.members: member 'memberA', field 'summary'")
    assert message in text
    with pytest.raises(MappingError) as direct:
        compile_mapping("memberA", MemberMappingSettings.model_construct(
            study_field=None, field_mappings={"summary": rule}, keep_original_fields=False,
            global_field_filters=[], per_item_values={}, select_field=None,
        ), {})
    assert str(direct.value).startswith("member 'memberA', field 'summary'")


@pytest.mark.parametrize(
    "member, refused_by, message",
    [
        ({"field_mappings": {}}, MappingError, "no field_mappings"),
        ({"field_mappings": {"a": 1, "a.b": 2}}, MappingError, "field 'a.b': clashes with field 'a'"),
        ({"field_mappings": {"a..b": 1}}, MappingError, "bad target field name"),
        ({"field_mappings": {"": 1}}, MappingError, "bad target field name"),
        ({"field_mappings": {".".join("abcdefghij"): 1}}, MappingError, "nests deeper"),
        ({"field_mappings": {"a": {"x": 1}}}, MappingError, "field 'a'"),
        ({"field_mappings": {"a": 1}, "global_field_filters": ["normalize_value"]}, MappingError, "cannot be global"),
        ({"field_mappings": {"a": 1}, "global_field_filters": ["nope"]}, ValidationError, "global_field_filters"),
        ({"field_mappings": {"n": {"path": "x", "type": "integer"}}, "per_item_values": {"g": {"n": "x"}}},
         MappingError, "per_item_values 'g', field 'n': value 'x' is not a valid integer"),
        ({"field_mappings": {"a": 1}, "surprise": True}, ValidationError, "surprise"),
    ],
)
def test_member_level_startup_errors(member: dict[str, Any], refused_by: type[Exception], message: str) -> None:
    with pytest.raises(refused_by) as info:
        load({"memberB": member})
    assert "memberB" in str(info.value) and message in str(info.value)


def test_schema_checks_at_startup() -> None:
    with pytest.raises(MappingError, match="field 'n': default 'x' is not a valid integer"):
        check_schema({"n": FieldSpec(type="integer", default="x")})
    with pytest.raises(MappingError, match=r"^aggregate\.mappings\.study_schema: field 'n': default 'x' is not"):
        load({}, study_schema={"n": {"type": "integer", "default": "x"}})
    with pytest.raises(MappingError, match="member 'm', field 'n': schema default"):
        # a schema default that cannot take the rule's type
        load({"m": {"field_mappings": {"n": {"path": "x", "type": "boolean"}}}},
             study_schema={"n": {"type": "string", "default": "maybe"}})
    with pytest.raises(MappingError, match="member 'm', field 'n': constant 'abc' is not a valid integer"):
        load({"m": {"field_mappings": {"n": "abc"}}}, study_schema={"n": {"type": "integer"}})
    with pytest.raises(ValidationError, match="type"):
        FieldSpec(type="date")
    check_schema(DEFAULT_STUDY_SCHEMA)


def test_section_compiles_every_member() -> None:
    configured = section({"a": {"field_mappings": {"x": "path:y"}}, "b": {"field_mappings": {"x": 1}}})
    compiled = compile_mappings(configured)
    assert set(compiled) == {"a", "b"} and compiled["a"].member == "a"
    assert apply(compiled["a"], {"gen3_discovery": {"y": 2}}) == {"x": 2}
    assert configured.study_schema.keys() == DEFAULT_STUDY_SCHEMA.keys()


def test_the_filters_a_mapping_may_name_are_the_filters_there_are() -> None:
    assert list(FILTERS) == list(get_args(FilterName))


def test_compiled_mapping_is_frozen() -> None:
    m = compile_({"x": 1})
    with pytest.raises(AttributeError):
        m.member = "other"  # type: ignore[misc]


# --- the reference commons ------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    return {str: "string", int: "integer", list: "array", dict: "object", bool: "boolean", float: "number"}[
        type(value)
    ]


def test_refcommons_default_mapping() -> None:
    catalog = MetadataCatalog.build(generate_dataset(prefix="dg.REF0", seed=1, subjects=30))
    configured = AggregateMappingSettings(members={"refcommons": refcommons_mapping("REF0 Commons")})
    mapping = compile_mappings(configured)["refcommons"]
    issues: list[str] = []
    mapped = apply_all(mapping, catalog.records.items(), issues)
    studies = {guid: r for guid, r in catalog.records.items() if r["_guid_type"] == "discovery_metadata"}
    assert [g for g, _ in mapped] == list(studies) and issues == []
    for guid, out in mapped:
        src = studies[guid]["gen3_discovery"]
        assert set(out) <= set(DEFAULT_STUDY_SCHEMA)
        assert out["_unique_id"] == guid == src["project_id"]
        assert out["study_id"] == src["study_id"]
        assert out["name"] == src["name"] and out["short_name"] == src["short_name"]
        assert out["study_description"] == src["description"]
        assert out["commons"] == "REF0 Commons" and out["data_availability"] == "available"
        assert out["_subjects_count"] == src["subjects_count"]
        assert out["authz"] == src["authz"] and out["tags"] == src["tags"]
        for name, value in out.items():
            if value is not None:
                assert _json_type(value) == DEFAULT_STUDY_SCHEMA[name].type, name
    controlled = [o for _, o in mapped if o["access"] == "controlled"]
    assert controlled and all(o["dbgap_accession"] for o in controlled)


def test_schema_json() -> None:
    out = schema_json(DEFAULT_STUDY_SCHEMA)
    assert out["_subjects_count"] == {"type": "integer", "description": "Number of subjects."}
    assert out["data_availability"]["default"] == "available"
    json.dumps(out)
