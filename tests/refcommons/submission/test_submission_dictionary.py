"""The reference commons' data dictionary is data (``refcommons/submission/dictionary.yaml``): its shape, read by the
gateway's Gen3 reader, pinned; its enums in step with what the synthetic dataset draws; handed out as copies."""

from __future__ import annotations

import json

import pytest

from gateway.export.dictionary import Dictionary, Node, from_gen3_dictionary
from refcommons import synth
from refcommons.submission import dictionary


def reference() -> Dictionary:
    return from_gen3_dictionary(dictionary.document(), strict=True)


# node → [(property, type, items, required)] in the file's order: a change to the data must be deliberate
SHAPE = {
    "program": [("name", "string", None, True), ("dbgap_accession_number", "string", None, False)],
    "project": [
        ("code", "string", None, True), ("name", "string", None, True), ("project_id", "string", None, False),
        ("description", "string", None, False), ("availability_type", "enum", None, True),
        ("dbgap_accession_number", "string", None, False), ("consent_codes", "array", "string", False),
    ],
    "subject": [
        ("submitter_id", "string", None, True), ("project_id", "string", None, False),
        ("consent", "enum", None, False), ("sex", "enum", None, False), ("population", "enum", None, False),
        ("race", "enum", None, False), ("ethnicity", "enum", None, False),
        ("age_at_enrollment", "integer", None, False), ("bmi", "number", None, False),
        ("phenotype", "string", None, False), ("smoking_status", "enum", None, False),
    ],
    "sample": [
        ("submitter_id", "string", None, True), ("project_id", "string", None, False),
        ("sample_type", "enum", None, False), ("tissue", "string", None, False),
    ],
    "file": [
        ("submitter_id", "string", None, True), ("project_id", "string", None, False),
        ("object_id", "string", None, True), ("file_name", "string", None, True),
        ("file_size", "integer", None, True), ("md5sum", "string", None, True), ("sha256", "string", None, False),
        ("data_category", "string", None, False), ("data_type", "string", None, False),
        ("data_format", "enum", None, False), ("authz", "array", "string", False),
        ("created_datetime", "string", None, False),
    ],
}


def test_the_dictionary_reads_strictly_into_the_reference_shape():
    d = reference()
    assert d.names == ("program", "project", "subject", "sample", "file")
    assert d.topological_order() == d.names
    for node in d.nodes:
        assert [(p.name, p.type, p.items, p.required) for p in node.properties] == SHAPE[node.name], node.name
        assert all(p.description and p.default is None and not p.term for p in node.properties), node.name
        assert node.title == node.name.capitalize() and node.description and not node.term
    assert d.node("project").links[0] == (
        d.node("project").links[0].__class__("programs", "program", "many_to_one", required=True, backref="projects"))
    assert d.node("subject").parents == {"project"}
    assert d.node("sample").parents == {"subject"}
    assert d.node("file").parents == {"sample", "project"}
    assert [(link.name, link.required) for link in d.node("file").links] == [("samples", False), ("projects", True)]
    assert d.node("file").category == "data_file"
    assert d.node("sample").category == "biospecimen"
    assert {d.node(n).category for n in ("program", "project", "subject")} == {"administrative"}
    assert set(d.node("file").required) == {"submitter_id", "object_id", "file_name", "file_size", "md5sum"}
    assert d.node("project").property("availability_type").symbols == ("Open", "Restricted")
    assert d.node("file").property("data_format").symbols == ("CRAM", "CRAI", "VCF", "TBI", "TSV")
    assert "file" in d and "case" not in d
    with pytest.raises(KeyError):
        d.node("case")
    assert d == reference() and hash(d) == hash(reference())


def test_the_enums_cover_what_synth_draws():
    d = reference()
    subject = d.node("subject")

    def symbols(node: Node, name: str) -> set[str]:
        return set(node.property(name).symbols)

    assert {v for v, _ in synth.SEXES} <= symbols(subject, "sex")
    assert {v for v, _ in synth.POPULATIONS} <= symbols(subject, "population")
    assert {v for weighted in synth.RACES.values() for v, _ in weighted} <= symbols(subject, "race")
    assert {v for v, _ in synth.SMOKING} <= symbols(subject, "smoking_status")
    assert set(synth.CONSENTS) <= symbols(subject, "consent")
    assert {v for v, _ in synth.SAMPLE_TYPES} <= symbols(d.node("sample"), "sample_type")
    dataset = synth.generate_dataset(prefix="dg.DICT", seed=3, subjects=40)
    assert {s.ethnicity for s in dataset.subjects} <= symbols(subject, "ethnicity")
    assert {f.data_format for f in dataset.files} <= symbols(d.node("file"), "data_format")
    # every Subject/Sample field but ids and the relation fields is a property of the node
    assert {"sex", "population", "race", "ethnicity", "age_at_enrollment", "bmi", "phenotype", "smoking_status",
            "consent", "submitter_id", "project_id"} <= {p.name for p in subject.properties}


def test_the_document_is_plain_json_in_sheepdogs_shape_and_handed_out_as_copies():
    doc = dictionary.document()
    assert json.loads(json.dumps(doc)) == doc  # nothing YAML-only (dates, anchors as shared objects are copied)
    assert list(doc) == ["_settings", "_definitions", *dictionary.node_ids()]
    for name in dictionary.node_ids():
        schema = doc[name]
        assert schema["id"] == name and schema["type"] == "object"
        assert schema["properties"]["type"] == {"enum": [name]}
        assert "$ref" not in json.dumps(schema)  # resolved, as sheepdog serves _all
        assert set(schema["required"]) <= set(schema["properties"])
        assert {link["name"] for link in schema["links"]} <= set(schema["properties"])  # link properties
    doc["subject"]["properties"].clear()
    assert dictionary.document()["subject"]["properties"]
    node = dictionary.entry("subject")
    node["id"] = "changed"
    assert dictionary.entry("subject")["id"] == "subject"
    with pytest.raises(KeyError):
        dictionary.entry("case")
