"""Which dictionary describes an export (pure): a member's dictionary vetted (garbage, huge, cyclic: refused, never
anything but ``Refused``), whether it fits the export, and the rule over the contributing members."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from export_dictionaries import custom_document, cyclic_document, reference_dictionary
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.export import dictionary_choice
from gateway.export.dictionary import Dictionary, Link, Node, Property, from_gen3_dictionary
from gateway.export.dictionary_choice import Offer, Refused, choose, misfit, read_offered
from refcommons.submission.dictionary import document


def custom() -> Dictionary:
    return read_offered(custom_document())


# --- vetting a member's dictionary -----------------------------------------------------------------------------


def test_a_sheepdog_dictionary_is_read():
    assert read_offered(document()) == reference_dictionary()
    d = custom()
    assert "bmi" not in {p.name for p in d.node("subject").properties}
    assert d.node("subject").property("favourite_colour").symbols == ("red", "green", "blue grey")


def dangling() -> dict[str, Any]:
    doc = document()
    doc["subject"]["links"][0]["target_type"] = "study"
    return doc


def reserved() -> dict[str, Any]:
    doc = document()
    doc["Metadata"] = {"id": "Metadata", "properties": {"x": {"type": "string"}}}
    return doc


@pytest.mark.parametrize(("doc", "reason"), [
    ([1, 2, 3], "not a JSON object"),
    ("program", "not a JSON object"),
    (None, "not a JSON object"),
    ({}, "no node schemas"),
    ({"_settings": {}, "metaschema": {"properties": {}}}, "no node schemas"),
    (cyclic_document(), "link cycle"),
    (dangling(), "unknown node 'study'"),
    (reserved(), "reserved"),
    ({"n": {"id": {"not": "a name"}, "properties": {}}}, "not a string"),
    ({"n": {"id": "bad name", "properties": {}}}, "Avro name"),
    ({"n": {"properties": {}, "links": [{"name": "xs", "target_type": "n", "multiplicity": "lots"}]}},
     "multiplicity"),
])
def test_a_dictionary_the_export_cannot_use_is_refused_with_the_reason(doc, reason):
    with pytest.raises(Refused, match=reason):
        read_offered(doc)


def test_bounds_refuse_huge_dictionaries(monkeypatch):
    wide = {f"n{i}": {"properties": {"p": {"type": "string"}}} for i in range(dictionary_choice.MAX_NODES + 1)}
    with pytest.raises(Refused, match=f"{dictionary_choice.MAX_NODES + 1} nodes, more than"):
        read_offered(wide)
    monkeypatch.setattr(dictionary_choice, "MAX_PROPERTIES", 10)
    with pytest.raises(Refused, match="properties, more than the 10 allowed"):
        read_offered(document())
    monkeypatch.setattr(dictionary_choice, "MAX_PROPERTIES", 10_000)
    monkeypatch.setattr(dictionary_choice, "MAX_SYMBOLS", 5)
    with pytest.raises(Refused, match="enum symbols, more than the 5 allowed"):
        read_offered(document())


def test_deep_nesting_is_refused_not_a_recursion_error():
    spec: dict[str, Any] = {"type": "string"}
    for _ in range(5000):
        spec = {"oneOf": [spec, {"type": "null"}]}
    links: list[Any] = [{"name": "ns", "target_type": "n"}]
    for _ in range(5000):
        links = [{"subgroup": links}]
    doc = {"n": {"properties": {"deep": spec, "p": {"type": "string"}}}}
    assert [p.name for p in read_offered(doc).node("n").properties] == ["p"]  # the deep one is skipped
    with pytest.raises(Refused, match="nested more than"):
        read_offered({"n": {"properties": {}, "links": links}})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "type", "enum", "oneOf", "items", "links", "name", "target_type", "subgroup",
                         "properties", "required", "default", "multiplicity", "backref", "term", "termDef",
                         "program", "project", "subject", "_x", "string", "array"]) | st.text(max_size=5),
        inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_is_read_or_refused_never_anything_else(doc):
    try:
        d = read_offered(doc)
    except Refused:
        return
    assert isinstance(d, Dictionary) and d.nodes
    hash(d)  # a read dictionary is a value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["program", "project", "subject", "x"]), JSON, max_size=4))
def test_the_gen3_reader_raises_only_value_errors(doc):
    with contextlib.suppress(ValueError):  # a dictionary, or a ValueError: never a TypeError, RecursionError...
        from_gen3_dictionary(doc)


# --- fitting the export ------------------------------------------------------------------------------------------


def test_a_dictionary_fits_an_export_with_program_project_and_the_index_node_linked_up():
    d = reference_dictionary()
    assert misfit(d, "subject") is None and misfit(d, "file") is None
    program = Node("program", properties=(Property("name", "string"),))
    project = Node("project", links=(Link("programs", "program"),))
    loose = Node("subject", links=(Link("studies", "study"),))
    study = Node("study", links=(Link("projects", "project"),))
    assert misfit(Dictionary((program, project, study, loose)), "subject") == "its subject node has no link to project"
    assert misfit(Dictionary((program, project, study, loose)), "file") == "it has no file node"
    assert misfit(Dictionary((program, Node("project"))), "subject") == "it has no subject node"
    unlinked = Dictionary((program, Node("project"), Node("subject", links=(Link("projects", "project"),))))
    assert misfit(unlinked, "subject") == "its project node has no link to program"


# --- the rule ----------------------------------------------------------------------------------------------------


DEFAULT = reference_dictionary()


def test_every_member_offering_the_same_dictionary_gets_it():
    mine = custom()
    choice = choose(DEFAULT, {"a": Offer.of(mine), "b": Offer.of(custom())}, "subject")
    assert choice.dictionary is mine and choice.source == "member" and choice.members == ("a", "b")
    assert choice.doc() == {
        "source": "member", "members": ["a", "b"],
        "reason": "every contributing member that offers a dictionary offers this one",
        "offers": {"a": "offered", "b": "offered"},
    }


def test_members_without_a_dictionary_do_not_stand_in_the_way():
    choice = choose(DEFAULT, {"a": Offer.of(custom()), "b": Offer("none", "the member has no submission service")},
                    "subject")
    assert (choice.source, choice.members) == ("member", ("a",))
    assert choice.reason.endswith("(b offer none)")
    assert choice.doc()["offers"] == {"a": "offered", "b": "none: the member has no submission service"}


@pytest.mark.parametrize(("offers", "reason"), [
    ({}, "no contributing member offers a data dictionary of its own"),
    ({"a": Offer("none", "x"), "b": Offer("none", "y")}, "no contributing member offers"),
    ({"a": Offer.of(custom()), "b": Offer.of(reference_dictionary())},
     "the contributing members offer 2 different dictionaries (a, b)"),
    ({"a": Offer.of(custom()), "b": Offer("refused", "link cycle among ['x']")},
     "the dictionary of b could not be used (b: link cycle among ['x'])"),
    ({"a": Offer("refused", "HTTP 500"), "b": Offer("refused", "too big")},
     "the dictionary of a, b could not be used (a: HTTP 500; b: too big)"),
])
def test_otherwise_the_default_with_the_reason(offers, reason):
    choice = choose(DEFAULT, offers, "subject")
    assert choice.dictionary is DEFAULT and (choice.source, choice.members) == ("default", ())
    assert reason in choice.reason
    assert choice.doc()["offers"] == {m: o.describe() for m, o in offers.items()}


def test_a_dictionary_that_cannot_describe_the_export_gives_the_default():
    doc = custom_document()
    del doc["file"]
    no_files = read_offered(doc)
    assert choose(DEFAULT, {"a": Offer.of(no_files)}, "subject").source == "member"
    choice = choose(DEFAULT, {"a": Offer.of(no_files)}, "file")
    assert choice.source == "default"
    assert choice.reason == "the dictionary of a cannot describe a file export: it has no file node"


def test_the_vetted_dictionary_is_not_the_members_document():
    doc = custom_document()
    d = read_offered(doc)
    doc["subject"]["properties"].clear()
    assert d == read_offered(custom_document()) and copy.deepcopy(d) == d
