"""The PFB writer, read back with pypfb: its Python reader, its schema builder and importer, and its CLI."""

from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest
from export_dictionaries import reference_dictionary
from hypothesis import given, settings
from hypothesis import strategies as st
from pfb.base import decode_enum, encode_enum
from pfb.reader import PFBReader
from pfb.writer import make_avro_schema

from gateway.export.dictionary import Dictionary, Link, Node, Property, from_gen3_dictionary
from gateway.export.formats.pfb import (
    ORDER_FILTER_BITS,
    Entity,
    OrderError,
    PFBError,
    avro_schema,
    decode_symbol,
    encode_symbol,
    metadata_object,
    pfb_chunks,
    write_pfb,
)
from gateway.export.formats.pfb.records import _SeenFilter
from refcommons.model import Dataset
from refcommons.synth import generate_dataset

REPO = Path(__file__).resolve().parents[3]
PFB_CLI = Path(sys.executable).with_name("pfb")
NS = uuid.UUID("5d0f3a52-5a8e-4f55-9a43-5b1bd1a8c3a1")
MISC = {"cohort": "c-1", "members": {"refA": "complete", "refB": "unavailable"}}

# pypfb's CLI module (imported by its Gen3 importer) loads its plug-ins through a deprecated interface
pytestmark = pytest.mark.filterwarnings("ignore:SelectableGroups dict interface is deprecated")


def refcommons_entities(ds: Dataset) -> Iterator[Entity]:
    """The reference commons' programs, projects, subjects, samples and files as export entities, parents first."""
    programs = {p.name: str(uuid.uuid5(NS, f"{ds.prefix}/program/{p.name}")) for p in ds.programs}
    projects = {p.project_id: str(uuid.uuid5(NS, f"{ds.prefix}/project/{p.project_id}")) for p in ds.projects}
    for p in ds.programs:
        yield Entity("program", programs[p.name], {"name": p.name, "dbgap_accession_number": p.dbgap_accession})
    for pr in ds.projects:
        yield Entity("project", projects[pr.project_id], {
            "code": pr.code, "name": pr.name, "project_id": pr.project_id, "description": pr.description,
            "availability_type": "Open" if pr.access == "open" else "Restricted",
            "dbgap_accession_number": pr.dbgap_accession, "consent_codes": list(pr.consent_groups) or None,
        }, [("program", programs[pr.program])])
    for s in ds.subjects:
        yield Entity("subject", s.id, {
            "submitter_id": s.submitter_id, "project_id": s.project_id, "consent": s.consent, "sex": s.sex,
            "population": s.population, "race": s.race, "ethnicity": s.ethnicity,
            "age_at_enrollment": s.age_at_enrollment, "bmi": s.bmi, "phenotype": s.phenotype,
            "smoking_status": s.smoking_status,
        }, [("project", projects[s.project_id])])
    for sm in ds.samples:
        yield Entity("sample", sm.id, {
            "submitter_id": sm.submitter_id, "project_id": sm.project_id, "sample_type": sm.sample_type,
            "tissue": sm.tissue,
        }, [("subject", sm.subject_id)])
    for f in ds.files:
        relations = [("sample", f.sample_id)] if f.sample_id else []
        yield Entity("file", f.guid, {
            "submitter_id": f.file_name, "project_id": f.project_id, "object_id": f.guid, "file_name": f.file_name,
            "file_size": f.size, "md5sum": f.md5, "sha256": f.sha256, "data_category": f.data_category,
            "data_type": f.data_type, "data_format": f.data_format, "authz": [f.authz],
            "created_datetime": f.created_date,
        }, [*relations, ("project", projects[f.project_id])])


def expected(dictionary: Dictionary, entity: Entity) -> dict[str, Any]:
    """The record pypfb's reader gives back for ``entity``: every field present, absent ones at their default."""
    obj = {p.name: p.default for p in dictionary.node(entity.node).properties}
    obj.update(entity.properties)
    return {"id": entity.id, "name": entity.node, "object": obj,
            "relations": [{"dst_id": i, "dst_name": n} for n, i in entity.relations]}


def read(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(metadata, decoded node schemas, records) through pypfb's reader."""
    with PFBReader(io.BytesIO(data)) as reader:
        return reader.metadata, reader.schema, list(reader)


def export(dictionary: Dictionary, entities: Any, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    write_pfb(buf, dictionary, entities, misc=kwargs.pop("misc", MISC), **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate_dataset(prefix="dg.PFB1", seed=7, subjects=12)


@pytest.fixture(scope="module")
def entities(dataset: Dataset) -> list[Entity]:
    return list(refcommons_entities(dataset))


# --- the schema ---------------------------------------------------------------------------------------------------

AWKWARD = ("not reported", "1st line", "10%", ">= 2", "x_y", "a_20_b", "Stage IIA/B", "é", "中文", "C-1", "_", "9")


def small_dictionary() -> Dictionary:
    return Dictionary((
        Node("program", properties=(Property("name", "string", required=True, description="Program name."),)),
        Node("subject", "clinical", (
            Property("sex", "enum", ("female", "male", "not reported")),
            Property("stage", "enum", AWKWARD, default="not reported", description="Awkward symbols."),
            Property("age", "integer"),
            Property("bmi", "number", default=0.5),
            Property("alive", "boolean"),
            Property("label", "string", default=""),
            Property("aliases", "array", items="string"),
            Property("scores", "array", items="number"),
            Property("codes", "array", items="enum", symbols=("a b", "3c", "d")),
        ), links=(Link("programs", "program", "many_to_one", required=True),)),
    ))


def test_the_schema_is_pypfbs():
    """pypfb's own ``make_avro_schema`` over the node records its Gen3 importer would make (symbols not yet
    escaped) gives exactly our schema: container, field unions and defaults, enum and anonymous-enum names,
    escaped symbols and defaults."""
    null_first = {"default": None}
    raw_nodes = [
        {"type": "record", "name": "program", "fields": [
            {"name": "name", "type": ["null", "string"], "doc": "Program name.", **null_first},
        ]},
        {"type": "record", "name": "subject", "fields": [
            {"name": "sex", "type": ["null", {"type": "enum", "name": "subject_sex",
                                              "symbols": ["female", "male", "not reported"]}], **null_first},
            {"name": "stage", "type": [{"type": "enum", "name": "subject_stage", "symbols": list(AWKWARD)}, "null"],
             "doc": "Awkward symbols.", "default": "not reported"},
            {"name": "age", "type": ["null", "long"], **null_first},
            {"name": "bmi", "type": ["double", "null"], "default": 0.5},
            {"name": "alive", "type": ["null", "boolean"], **null_first},
            {"name": "label", "type": ["string", "null"], "default": ""},
            {"name": "aliases", "type": ["null", {"type": "array", "items": "string"}], **null_first},
            {"name": "scores", "type": ["null", {"type": "array", "items": "double"}], **null_first},
            {"name": "codes", "type": ["null", {"type": "array", "items": {
                "type": "enum", "name": "subject_codes_anon_enum", "symbols": ["a b", "3c", "d"]}}], **null_first},
        ]},
    ]
    ours = avro_schema(small_dictionary())
    assert ours == make_avro_schema(raw_nodes)
    fastavro.parse_schema(ours)  # and it is valid Avro


def test_a_gen3_dictionary_gives_the_schema_pypfbs_importer_gives():
    """gdcdictionary (a real Gen3 dictionary) through ``from_gen3_dictionary`` vs through ``pfb from dict``'s own
    code: every field is identical except ``state``, a ``oneOf`` of two enums that pypfb keeps as a union of enums
    and we merge into one; links and ontology terms in the Metadata are identical too."""
    gdc = pytest.importorskip("gdcdictionary")
    from dictionaryutils import DataDictionary
    from pfb.importers.gen3dict import _get_ontology_references, _parse_dictionary

    theirs_dd = DataDictionary(root_dir=gdc.SCHEMA_DIR)  # _parse_dictionary edits the schemas it reads
    records, ontology, links = _parse_dictionary(theirs_dd)
    theirs = make_avro_schema(records)
    ours_dictionary = from_gen3_dictionary(copy.deepcopy(gdc.gdcdictionary.schema))
    ours = avro_schema(ours_dictionary)
    assert ours["fields"][:2] == theirs["fields"][:2] and ours["fields"][3] == theirs["fields"][3]
    assert ours["fields"][2]["type"][0] == theirs["fields"][2]["type"][0]  # Metadata
    their_nodes = {n["name"]: {f["name"]: f for f in n["fields"]} for n in theirs["fields"][2]["type"][1:]}
    our_nodes = {n["name"]: {f["name"]: f for f in n["fields"]} for n in ours["fields"][2]["type"][1:]}
    assert our_nodes.keys() == their_nodes.keys()
    compared = 0
    for name, fields in their_nodes.items():
        assert our_nodes[name].keys() == fields.keys(), name
        for field_name, field in fields.items():
            if field_name != "state":
                assert our_nodes[name][field_name] == field, (name, field_name)
                compared += 1
    assert compared > 450
    their_meta = {n["name"]: n for n in _get_ontology_references(ontology, links)["nodes"]}
    for node in metadata_object(ours_dictionary, {})["nodes"]:
        theirs_node = their_meta[node["name"]]
        assert node["links"] == theirs_node["links"] and node["values"] == theirs_node["values"]
        termed = {p["name"]: p for p in theirs_node["properties"]}
        assert [p for p in node["properties"] if p["name"] in termed] == list(termed.values())


# --- round trips ------------------------------------------------------------------------------------------------


def test_round_trip_through_pypfbs_reader(entities):
    d = reference_dictionary()
    data = export(d, iter(entities))
    metadata, schema, records = read(data)
    assert [n["name"] for n in schema] == list(d.names)
    assert metadata["misc"] == {"cohort": "c-1", "members": '{"refA":"complete","refB":"unavailable"}'}
    nodes = {n["name"]: n for n in metadata["nodes"]}
    assert nodes["file"]["links"] == [
        {"multiplicity": "MANY_TO_ONE", "dst": "sample", "name": "samples"},
        {"multiplicity": "MANY_TO_ONE", "dst": "project", "name": "projects"},
    ]
    assert [p["name"] for p in nodes["subject"]["properties"]] == [p.name for p in d.node("subject").properties]
    assert records == [expected(d, e) for e in entities]
    kinds = {r["name"] for r in records}
    assert kinds == set(d.names)
    assert any(" " in r["object"]["race"] for r in records if r["name"] == "subject")  # decoded back


def test_write_pfb_returns_the_count_and_fastavro_reads_the_file_plainly(entities):
    buf = io.BytesIO()
    assert write_pfb(buf, reference_dictionary(), entities, misc={}) == len(entities)
    buf.seek(0)
    raw = list(fastavro.reader(buf))
    assert raw[0]["name"] == "Metadata" and raw[0]["id"] is None and len(raw) == len(entities) + 1


def test_awkward_enum_symbols_survive_the_round_trip():
    d = small_dictionary()
    people = [Entity("program", "p", {"name": "P"})] + [
        Entity("subject", f"s{i}", {"stage": symbol, "codes": ["a b", "3c"] if i % 2 else []},
               [("program", "p")])
        for i, symbol in enumerate(AWKWARD)
    ]
    data = export(d, people)
    _, schema, records = read(data)
    subject = next(n for n in schema if n["name"] == "subject")
    stage = next(f for f in subject["fields"] if f["name"] == "stage")
    assert stage["type"][0]["symbols"] == list(AWKWARD) and stage["default"] == "not reported"
    codes = next(f for f in subject["fields"] if f["name"] == "codes")
    items = {"type": "enum", "name": "subject_codes_anon_enum", "symbols": ["a b", "3c", "d"]}
    assert codes["type"][1]["items"] == items
    assert [r["object"]["stage"] for r in records[1:]] == list(AWKWARD)
    assert [r["object"]["codes"] for r in records[1:]] == [["a b", "3c"] if i % 2 else [] for i in range(len(AWKWARD))]
    # on disk they are escaped the way pypfb escapes them
    encoded = [r["object"]["stage"] for r in fastavro.reader(io.BytesIO(data)) if r["name"] == "subject"]
    assert encoded == [encode_enum(s) for s in AWKWARD]
    assert encoded[:4] == ["not_20_reported", "_31_st_20_line", "_31_0_25_", "_3e__3d__20_2"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x10, max_codepoint=0xFFFF, exclude_categories=("Cs",)),
               min_size=1, max_size=20))
def test_symbol_escaping_is_pypfbs_and_reversible(symbol):
    assert encode_symbol(symbol) == encode_enum(symbol)
    assert decode_enum(encode_symbol(symbol)) == symbol
    assert decode_symbol(encode_symbol(symbol)) == symbol
    Property("p", "enum", (symbol,))  # the dictionary accepts every symbol in that range


def test_unicode_values_and_nulls_for_optional_properties():
    d = small_dictionary()
    people = [
        Entity("program", "prog-ü", {"name": "Programme 🧬 ünïcödé 中文"}),
        Entity("subject", "s-null", {}, [("program", "prog-ü")]),
        Entity("subject", "s-all-none", {p.name: None for p in d.node("subject").properties}, [("program", "prog-ü")]),
        Entity("subject", "s-full", {
            "sex": "female", "stage": "é", "age": 2**40, "bmi": -1.25, "alive": False, "label": "\u0000 nul and 🙂",
            "aliases": ["α", "", "x" * 1000], "scores": [1.5, 2], "codes": ["d"],
        }, [("program", "prog-ü")]),
    ]
    _, _, records = read(export(d, people))
    assert records[0]["object"]["name"] == "Programme 🧬 ünïcödé 中文" and records[0]["id"] == "prog-ü"
    # an absent property takes its default (null unless the dictionary gives one), an explicit None is null
    assert records[1] == expected(d, people[1])
    assert {k: v for k, v in records[1]["object"].items() if v is not None} == {"stage": "not reported", "bmi": 0.5,
                                                                                 "label": ""}
    assert all(v is None for v in records[2]["object"].values())
    full = records[3]["object"]
    assert full == {**expected(d, people[3])["object"], "scores": [1.5, 2.0]}


def test_an_empty_export_is_a_metadata_only_file():
    d = reference_dictionary()
    buf = io.BytesIO()
    assert write_pfb(buf, d, [], misc={"members": "none accessible"}) == 0
    metadata, schema, records = read(buf.getvalue())
    assert records == [] and [n["name"] for n in schema] == list(d.names)
    assert metadata["misc"] == {"members": "none accessible"} and len(metadata["nodes"]) == 5
    assert b"".join(pfb_chunks(d, iter(()), {})).startswith(b"Obj\x01")


def test_deflate_codec(entities):
    d = reference_dictionary()
    plain, deflated = export(d, entities), export(d, entities, codec="deflate")
    assert len(deflated) < len(plain) / 2
    assert read(deflated)[2] == read(plain)[2]
    with pytest.raises(ValueError, match="codec"):
        export(d, entities, codec="nope")


def test_misc_values_must_be_keyed_by_strings():
    assert metadata_object(small_dictionary(), {"n": 3, "ok": True, "s": "x"})["misc"] == {
        "n": "3", "ok": "true", "s": "x"}
    with pytest.raises(PFBError, match="misc key"):
        export(small_dictionary(), [], misc={1: "x"})


def test_writing_into_a_file_that_already_holds_bytes_starts_a_new_file(entities):
    """fastavro appends to an Avro file when handed a readable, seekable file at a non-zero position; the writer
    never lets it."""
    d = reference_dictionary()
    first = export(d, entities[:3])
    buf = io.BytesIO()
    buf.write(first)
    write_pfb(buf, d, entities[:5], misc={})
    second = buf.getvalue()[len(first):]
    assert second.startswith(b"Obj\x01")
    assert read(second)[2] == [expected(d, e) for e in entities[:5]]


# --- order and validation ---------------------------------------------------------------------------------------


def test_parents_must_come_before_children():
    d = reference_dictionary()
    program = Entity("program", "prog", {"name": "P"})
    project = Entity("project", "proj", {"code": "C", "name": "N"}, [("program", "prog")])
    subject = Entity("subject", "subj", {"submitter_id": "S"}, [("project", "proj")])
    assert write_pfb(io.BytesIO(), d, [program, project, subject], misc={}) == 3
    with pytest.raises(OrderError, match="parent project 'proj' was not written"):
        write_pfb(io.BytesIO(), d, [program, subject, project], misc={})
    other = Entity("project", "other", {"code": "O", "name": "O"}, [("program", "prog")])
    with pytest.raises(OrderError, match="parent project 'proj'"):  # the node type was seen, not that id
        write_pfb(io.BytesIO(), d, [program, other, subject], misc={})
    selfish = Dictionary((Node("aliquot", links=(Link("aliquots", "aliquot"),)),))
    assert write_pfb(io.BytesIO(), selfish, [Entity("aliquot", "a"), Entity("aliquot", "b", {}, [("aliquot", "a")])],
                     misc={}) == 2
    with pytest.raises(OrderError):  # an entity is not its own parent
        write_pfb(io.BytesIO(), selfish, [Entity("aliquot", "a"), Entity("aliquot", "b", {}, [("aliquot", "b")])],
                  misc={})
    # with the check off, the order is the caller's business
    data = export(d, [subject, project, program], check_order=False)
    assert [r["id"] for r in read(data)[2]] == ["subj", "proj", "prog"]


def test_the_order_check_remembers_every_parent_it_wrote():
    """No false alarm (a Bloom filter has no false negatives), even with a tiny filter and many parents."""
    d = reference_dictionary()

    def entities() -> Iterator[Entity]:
        yield Entity("program", "prog", {"name": "P"})
        yield Entity("project", "proj", {"code": "C", "name": "N"}, [("program", "prog")])
        for i in range(3000):
            yield Entity("subject", f"s{i}", {}, [("project", "proj")])
        for i in range(3000):
            yield Entity("sample", f"m{i}", {}, [("subject", f"s{(i * 7919) % 3000}")])

    for bits in (3, 12, 24):
        assert write_pfb(io.BytesIO(), d, entities(), misc={}, order_filter_bits=bits) == 6002


def test_the_order_check_catches_out_of_order_ids_among_many():
    d = reference_dictionary()
    head = [Entity("program", "prog", {"name": "P"}), Entity("project", "proj", {"code": "C", "name": "N"},
                                                             [("program", "prog")])]
    subjects = [Entity("subject", str(uuid.UUID(int=i)), {}, [("project", "proj")]) for i in range(2000)]
    for i in range(20):
        orphan = Entity("sample", f"m{i}", {}, [("subject", str(uuid.uuid4()))])
        with pytest.raises(OrderError):  # odds of a miss: about 1 in 17 million each
            write_pfb(io.BytesIO(), d, [*head, *subjects, orphan], misc={})


def test_the_order_filter_false_positive_rate_is_as_documented():
    seen = _SeenFilter(ORDER_FILTER_BITS)
    for i in range(100_000):
        seen.add(("subject", str(uuid.UUID(int=i))))
    assert all(("subject", str(uuid.UUID(int=i))) in seen for i in range(0, 100_000, 7))
    false = sum(("subject", str(uuid.UUID(int=(1 << 100) + i))) in seen for i in range(20_000))
    assert false <= 20  # expected about 1.4e-4 x 20,000 = 3


@pytest.mark.parametrize("entity, message", [
    (Entity("case", "c"), "node 'case' is not in the dictionary"),
    (Entity("program", "", {"name": "x"}), "not a non-empty string"),
    (Entity("program", "p", {"nme": "x"}), r"unknown properties \['nme'\]"),
    (Entity("subject", "s", {"sex": "F"}, []), "sex='F' is not among"),
    (Entity("subject", "s", {"race": ["White"]}, []), "race=.* is not among"),
    (Entity("file", "f", {"data_format": "BAM"}, []), "data_format='BAM'"),
    (Entity("subject", "s", {}, [("sample", "m")]), "no link from subject to 'sample'"),
    (Entity("subject", "s", {"age_at_enrollment": "forty"}, []), "subject s: "),
    (Entity("program", "p", {"name": 5}), "program p: "),
])
def test_entities_the_dictionary_does_not_allow(entity, message):
    with pytest.raises(PFBError, match=message):
        write_pfb(io.BytesIO(), reference_dictionary(), [entity], misc={})


def test_an_array_of_enums_checks_every_element():
    d = small_dictionary()
    for codes in (["a b", "zz"], "d", ["d", None]):
        with pytest.raises(PFBError, match="codes="):
            write_pfb(io.BytesIO(), d, [Entity("program", "p", {"name": "P"}),
                                        Entity("subject", "s", {"codes": codes}, [("program", "p")])], misc={})
    # a tuple is as good as a list, and the caller's properties are left as they were
    props = {"codes": ("a b", "d"), "stage": "1st line"}
    data = export(d, [Entity("program", "p", {"name": "P"}), Entity("subject", "s", props, [("program", "p")])])
    assert read(data)[2][1]["object"]["codes"] == ["a b", "d"]
    assert props == {"codes": ("a b", "d"), "stage": "1st line"}


# --- streaming --------------------------------------------------------------------------------------------------


def test_pfb_chunks_streams_the_same_file(entities):
    d = reference_dictionary()
    chunks = list(pfb_chunks(d, iter(entities), MISC, chunk_size=4096))
    assert len(chunks) > 3
    assert all(len(c) >= 4096 for c in chunks[:-1]) and len(chunks[-1]) > 0
    assert chunks[0].startswith(b"Obj\x01")
    data = b"".join(chunks)
    assert read(data)[2] == [expected(d, e) for e in entities]
    assert len(data) == len(export(d, entities, block_size=4096))  # same blocks, another sync marker


def test_pfb_chunks_checks_its_arguments_now_and_pulls_entities_lazily(entities):
    d = reference_dictionary()
    pulled = []

    def source() -> Iterator[Entity]:
        for e in entities:
            pulled.append(e.id)
            yield e

    with pytest.raises(PFBError, match="misc key"):
        pfb_chunks(d, source(), {2: "x"})
    with pytest.raises(ValueError, match="codec"):
        pfb_chunks(d, source(), {}, codec="zip")
    with pytest.raises(ValueError, match="chunk_size"):
        pfb_chunks(d, source(), {}, chunk_size=0)
    stream = pfb_chunks(d, source(), {}, chunk_size=1024)
    assert pulled == []
    first, second = next(stream), next(stream)  # the header and Metadata, then the first entities
    assert first.startswith(b"Obj\x01") and 0 < len(pulled) < len(entities)
    rest = list(stream)
    assert len(pulled) == len(entities) and read(first + second + b"".join(rest))[2][-1]["id"] == entities[-1].id


def test_a_bad_entity_stops_the_stream_midway(entities):
    d = reference_dictionary()
    stream = pfb_chunks(d, iter([*entities, Entity("file", "x", {"md5sum": 5}, [])]), {}, chunk_size=1024)
    got = []
    with pytest.raises(PFBError, match="file x"):
        for chunk in stream:
            got.append(chunk)
    assert got  # earlier blocks were already out


def _peak(n: int) -> int:
    from bench_pfb import NullSink, entities  # bench/ is on sys.path (see _bench)

    d = reference_dictionary()
    tracemalloc.start()
    try:
        for chunk in pfb_chunks(d, entities(n), MISC):
            del chunk
        write_pfb(NullSink(), d, entities(n), misc=MISC)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))


def test_memory_stays_flat_as_the_export_grows(_bench):
    """Ten times the entities, from a generator: the peak (the 2 MiB order filter, a block, an entity) stays."""
    small, large = _peak(500), _peak(5_000)
    assert large < small + 512 * 1024, (small, large)
    assert large < 4 * 2**20


def test_the_bench_runs():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "bench_pfb.py"), "--entities", "1500", "--repeat", "1"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "PFB of 1,500 entities" in out and "ratio" in out and "peak RSS growth" in out


# --- pypfb's CLI ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(tmp_path_factory, entities) -> dict[str, Any]:
    """Our files through ``pfb show`` / ``pfb to tsv`` (run side by side: each start costs most of a second)."""
    tmp = tmp_path_factory.mktemp("pfb-cli")
    d = reference_dictionary()
    main = tmp / "export.avro"
    main.write_bytes(export(d, [*entities, *awkward_subjects(entities)]))
    commands = {
        "show": ["show", "-i", main],
        "schema": ["show", "-i", main, "schema"],
        "metadata": ["show", "-i", main, "metadata"],
        "tsv": ["to", "-i", main, "tsv", tmp / "tsv"],
    }
    procs = {k: subprocess.Popen([str(PFB_CLI), *map(str, args)], cwd=tmp, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for k, args in commands.items()}
    out = {}
    for k, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, (k, stderr)
        out[k] = stdout
    out["tsv_dir"] = tmp / "tsv"
    return out


def awkward_subjects(entities: list[Entity]) -> list[Entity]:
    """Three more subjects, with races that need escaping and unicode phenotypes."""
    project = next(e.id for e in entities if e.node == "project")
    return [Entity("subject", f"odd-{i}", {"race": race, "phenotype": f"‘{race}’ 🧬"}, [("project", project)])
            for i, race in enumerate(("not reported", "more than one race", "American Indian or Alaska Native"))]


def test_pfb_show(cli, entities):
    d = reference_dictionary()
    lines = [json.loads(line) for line in cli["show"].splitlines()]
    assert lines == [expected(d, e) for e in [*entities, *awkward_subjects(entities)]]


def test_pfb_show_schema_and_metadata(cli):
    schema = json.loads(cli["schema"])
    assert [n["name"] for n in schema] == ["program", "project", "subject", "sample", "file"]
    race = next(f for f in schema[2]["fields"] if f["name"] == "race")
    assert "Black or African American" in race["type"][1]["symbols"]
    metadata = json.loads(cli["metadata"])
    assert metadata["misc"]["cohort"] == "c-1"
    assert {n["name"]: [link["dst"] for link in n["links"]] for n in metadata["nodes"]} == {
        "program": [], "project": ["program"], "subject": ["project"], "sample": ["subject"],
        "file": ["sample", "project"]}


def test_pfb_to_tsv(cli, dataset):
    tsv: Path = cli["tsv_dir"]
    assert sorted(p.name for p in tsv.iterdir()) == [f"{n}.tsv" for n in sorted(reference_dictionary().names)]
    with open(tsv / "subject.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == len(dataset.subjects) + 3
    assert [r["race"] for r in rows[-3:]] == ["not reported", "more than one race", "American Indian or Alaska Native"]
    first, subject = rows[0], dataset.subjects[0]
    assert first["type"] == "subject" and first["id"] == subject.id and first["race"] == subject.race
    assert first["projects.id"] and first["age_at_enrollment"] == str(subject.age_at_enrollment)
    with open(tsv / "sample.tsv", newline="") as f:
        sample = next(csv.DictReader(f, delimiter="\t"))
    assert sample["subjects.id"] == dataset.samples[0].subject_id
    assert sample["subjects.submitter_id"] == dataset.subjects[0].submitter_id  # resolved from the earlier parent
    with open(tsv / "file.tsv", newline="") as f:
        files = {row["id"]: row for row in csv.DictReader(f, delimiter="\t") if row["id"]}
    first_file = dataset.files[0]
    assert files[first_file.guid]["md5sum"] == first_file.md5
    assert files[first_file.guid]["samples.submitter_id"] == dataset.samples[0].submitter_id
