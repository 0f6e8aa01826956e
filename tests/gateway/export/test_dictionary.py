"""The data-dictionary model: validation and the Gen3 JSON subset (the reference commons' dictionary, which is data,
is tested in tests/refcommons/submission)."""

from __future__ import annotations

import copy

import pytest

from gateway.export.dictionary import (
    Dictionary,
    Link,
    Node,
    Property,
    Unsupported,
    from_gen3_dictionary,
)


@pytest.mark.parametrize("make, message", [
    (lambda: Property("1bad", "string"), "Avro name"),
    (lambda: Property("p", "text"), "unknown type"),  # type: ignore[arg-type]
    (lambda: Property("p", "enum"), "needs symbols"),
    (lambda: Property("p", "enum", ("a", "a")), "duplicate"),
    (lambda: Property("p", "enum", ("",)), "non-empty"),
    (lambda: Property("p", "enum", ("smile \U0001f600",)), r"U\+1F600"),
    (lambda: Property("p", "enum", ("tab\there",)), r"U\+0009"),
    (lambda: Property("p", "string", ("a",)), "only for enums"),
    (lambda: Property("p", "array"), "array items"),
    (lambda: Property("p", "string", items="string"), "only for arrays"),
    (lambda: Property("p", "array", items="string", default="x"), "no default"),
    (lambda: Property("p", "enum", ("a", "b"), default="c"), "default"),
    (lambda: Property("p", "integer", default=True), "default"),
    (lambda: Property("p", "number", default="1"), "default"),
    (lambda: Link("projects", "project", "many"), "multiplicity"),  # type: ignore[arg-type]
    (lambda: Node("Metadata"), "reserved"),
    (lambda: Node("n-1"), "Avro name"),
    (lambda: Node("n", properties=(Property("a", "string"), Property("a", "integer"))), "duplicate property"),
    (lambda: Node("n", properties=(Property("p", "string"),), links=(Link("p", "m"),)), "both"),
    (lambda: Dictionary((Node("a"), Node("a"))), "duplicate node"),
    (lambda: Dictionary((Node("a", links=(Link("bs", "b"),)),)), "unknown node"),
    (lambda: Dictionary([Node("a")]), "tuple"),  # type: ignore[arg-type]
    # <node>_<property> enum names must not clash: a_b.c and a.b_c both give a_b_c
    (lambda: Dictionary((Node("a_b", properties=(Property("c", "enum", ("x",)),)),
                         Node("a", properties=(Property("b_c", "enum", ("y",)),)))), "clashes"),
    (lambda: Dictionary((Node("a_b"), Node("a", properties=(Property("b", "enum", ("y",)),)))), "clashes"),
])
def test_invalid_dictionaries_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_valid_corner_cases():
    p = Property("p", "enum", ("1st", "a b", "α", "x_y", "\u0010"), default="a b")
    assert p.is_enum
    assert Property("tags", "array", items="enum", symbols=("a", "b c")).is_enum
    assert Property("n", "number", default=1).default == 1
    # a self-link (aliquot of an aliquot) is fine and does not make a cycle
    d = Dictionary((Node("a"), Node("b", links=(Link("as", "a"), Link("parents", "b")))))
    assert d.topological_order() == ("a", "b")


def test_topological_order_puts_parents_first_and_finds_cycles():
    d = Dictionary((
        Node("file", links=(Link("samples", "sample"),)),
        Node("sample", links=(Link("subjects", "subject"),)),
        Node("subject"),
    ))
    assert d.topological_order() == ("subject", "sample", "file")
    cyclic = Dictionary((Node("a", links=(Link("bs", "b"),)), Node("b", links=(Link("as", "a"),))))
    with pytest.raises(ValueError, match="cycle"):
        cyclic.topological_order()


TERM = {"term": "Gender", "source": "caDSR", "cde_id": "2200604", "cde_version": None, "term_url": "https://x"}

GEN3 = {
    "_definitions": {"properties": {"ignored": {"type": "string"}}},
    "_terms": {"gender": {"description": "d", "termDef": TERM}},
    "_settings": {"enforce_all_required": False},
    "metaschema": {"properties": {"id": {"type": "string"}}},
    "program": {
        "id": "program", "category": "administrative", "title": "Program", "required": ["name"],
        "links": [],
        "properties": {
            "type": {"type": "string"}, "id": {"type": "string"},
            "name": {"type": "string", "description": "Full name."},
        },
    },
    "project": {
        "id": "project", "category": "administrative",
        "links": [{"name": "programs", "backref": "projects", "target_type": "program", "multiplicity": "many_to_one",
                   "required": True}],
        "required": ["code", "programs"],
        "properties": {
            "code": {"type": "string"},
            "programs": {"$ref": "_definitions.yaml#/to_one"},
            "availability_type": {"enum": ["Open", "Restricted"]},
            "state": {"default": "open", "oneOf": [{"enum": ["open", "review"]}, {"enum": ["closed", "open"]},
                                                   {"type": "null"}]},
            "releasable": {"type": "boolean", "default": False},
        },
    },
    "case": {
        "id": "case", "category": "clinical", "description": "  A subject.\n",
        "term": {"termDef": {"term": "Case", "source": "NCIt"}},
        "links": [{"exclusive": False, "required": True, "subgroup": [
            {"name": "projects", "backref": "cases", "target_type": "project", "multiplicity": "MANY_TO_ONE"},
            {"name": "programs", "backref": "cases", "target_type": "program"},
        ]}],
        "required": ["submitter_id", "type", "projects"],
        "properties": {
            "submitter_id": {"type": ["string", "null"]},
            "gender": {"term": {"description": "d", "termDef": TERM}, "enum": ["female", "male", "not reported", None]},
            "age": {"type": ["integer", "null"], "minimum": 0},
            "weight": {"oneOf": [{"type": "number"}, {"type": "null"}]},
            "created_datetime": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "aliases": {"type": ["array", "null"], "items": {"type": "string"}},
            "races": {"type": "array", "items": {"enum": ["White", "Asian"]}},
            "projects": {"anyOf": [{"type": "array"}, {"type": "object"}]},
            "mixed": {"type": ["string", "integer"]},
            "nested": {"type": "object", "properties": {}},
            "unresolved": {"$ref": "_definitions.yaml#/ubiquitous_properties"},
            "codes": {"enum": [1, 2]},
        },
    },
}


def test_from_gen3_dictionary_reads_the_documented_subset():
    source = copy.deepcopy(GEN3)
    d = from_gen3_dictionary(source)
    assert source == GEN3  # not modified
    assert d.names == ("program", "project", "case")
    program = d.node("program")
    assert [p.name for p in program.properties] == ["name"]
    assert program.property("name").required and program.property("name").description == "Full name."
    project = d.node("project")
    assert [p.name for p in project.properties] == ["code", "availability_type", "state", "releasable"]
    assert project.links == (Link("programs", "program", "many_to_one", required=True, backref="projects"),)
    state = project.property("state")
    assert (state.type, state.symbols, state.default) == ("enum", ("open", "review", "closed"), "open")
    assert project.property("releasable").default is False
    case = d.node("case")
    assert case.category == "clinical" and case.description == "A subject." and case.term == (
        ("term", "Case"), ("source", "NCIt"))
    assert [(link.name, link.target, link.multiplicity) for link in case.links] == [
        ("projects", "project", "many_to_one"), ("programs", "program", "many_to_one")]
    assert [p.name for p in case.properties] == [
        "submitter_id", "gender", "age", "weight", "created_datetime", "aliases", "races"]
    gender = case.property("gender")
    assert gender.symbols == ("female", "male", "not reported")
    assert dict(gender.term) == {"term": "Gender", "source": "caDSR", "cde_id": "2200604", "term_url": "https://x"}
    assert case.property("submitter_id").required and case.property("submitter_id").type == "string"
    assert case.property("age").type == "integer"
    assert case.property("weight").type == "number"
    assert case.property("created_datetime").type == "string"
    assert (case.property("aliases").type, case.property("aliases").items) == ("array", "string")
    races = case.property("races")
    assert (races.type, races.items, races.symbols) == ("array", "enum", ("White", "Asian"))


def test_from_gen3_dictionary_strict_and_only():
    with pytest.raises(Unsupported, match=r"case\.mixed"):
        from_gen3_dictionary(GEN3, strict=True)
    d = from_gen3_dictionary(GEN3, only=["program", "case"])
    assert d.names == ("program", "case")
    # the link to the dropped node goes, and its link property is still not read as a property
    assert [link.target for link in d.node("case").links] == ["program"]
    assert "projects" not in {p.name for p in d.node("case").properties}


def test_from_gen3_dictionary_drops_defaults_it_cannot_express():
    d = from_gen3_dictionary({"n": {"properties": {
        "e": {"enum": ["a"], "default": "z"},
        "l": {"type": "array", "items": {"type": "string"}, "default": []},
        "s": {"type": "string", "default": "x"},
    }}})
    node = d.node("n")
    assert [node.property(n).default for n in ("e", "l", "s")] == [None, None, "x"]


def test_a_real_gen3_dictionary_converts():
    gdc = pytest.importorskip("gdcdictionary")  # a Gen3 dictionary pypfb depends on (via gen3dictionary)
    d = from_gen3_dictionary(gdc.gdcdictionary.schema)
    assert len(d.nodes) == 30
    assert {"program", "project", "case", "sample", "aliquot", "submitted_aligned_reads"} <= set(d.names)
    reads = d.node("submitted_aligned_reads")
    assert reads.category == "data_file"
    assert {"file_name", "file_size", "md5sum", "data_format"} <= {p.name for p in reads.properties}
    assert reads.property("file_size").type == "integer"
    assert d.node("case").property("state").type == "enum"
    order = d.topological_order()
    assert order.index("program") < order.index("project") < order.index("case") < order.index("sample")
