"""The metadata service: discovery records derived from the dataset, MDS filter semantics, paging, HTTP shape."""

from __future__ import annotations

import pytest

from refcommons.mds.catalog import MetadataCatalog, matches
from refcommons.synth import generate_dataset


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(prefix="dg.MD01", seed=11, subjects=30)


@pytest.fixture(scope="module")
def catalog(dataset) -> MetadataCatalog:
    return MetadataCatalog.build(dataset)


# --- records built from the dataset ---------------------------------------------------------------


def test_one_discovery_record_per_project_with_derived_counts(dataset, catalog):
    assert dataset.projects and dataset.files
    studies = dict(catalog.query({"_guid_type": ["discovery_metadata"]}, limit=2000))
    assert set(studies) == {p.project_id for p in dataset.projects}
    for project in dataset.projects:
        d = studies[project.project_id]["gen3_discovery"]
        files = [f for f in dataset.files if f.project_id == project.project_id]
        assert d["project_id"] == project.project_id and d["program"] == project.program
        assert d["name"] == project.name and d["description"] == project.description
        assert d["subjects_count"] == sum(s.project_id == project.project_id for s in dataset.subjects) > 0
        assert d["samples_count"] == sum(s.project_id == project.project_id for s in dataset.samples)
        assert d["files_count"] == len(files) > 0
        assert d["data_types"] == sorted({f.data_type for f in files})
        assert sum(d["files_by_data_type"].values()) == len(files)
        assert set(d["authz"]) == {f.authz for f in files}
        assert d["study_id"] == (project.dbgap_accession or project.project_id)
        assert {"name": project.access.capitalize(), "category": "Access"} in d["tags"]
    assert sum(s["gen3_discovery"]["files_count"] for s in studies.values()) == len(dataset.files)


def test_one_file_record_per_file(dataset, catalog):
    files = dict(catalog.query({"_guid_type": ["indexed_file_object"]}, limit=2000))
    assert set(files) == {f.guid for f in dataset.files}
    subjects = {s.id: s.submitter_id for s in dataset.subjects}
    samples = {s.id: s.submitter_id for s in dataset.samples}
    for f in dataset.files:
        rec = files[f.guid]
        assert (rec["project_id"], rec["data_type"], rec["data_format"], rec["file_name"]) == (
            f.project_id, f.data_type, f.data_format, f.file_name
        )
        assert rec["authz"] == [f.authz]
        assert rec["subject_submitter_id"] == subjects.get(f.subject_id)  # None for project-level files
        assert rec["sample_submitter_id"] == (samples[f.sample_id] if f.sample_id else None)


# --- query semantics ------------------------------------------------------------------------------


def test_dotted_paths_repeated_keys_or_different_keys_and(dataset, catalog):
    a, b = dataset.projects[0].project_id, dataset.projects[1].project_id
    assert [g for g, _ in catalog.query({"gen3_discovery.project_id": [a]}, 10)] == [a]
    assert [g for g, _ in catalog.query({"gen3_discovery.project_id": [b, a]}, 10)] == sorted([a, b])
    assert catalog.query({"gen3_discovery.project_id": [a], "gen3_discovery.program": ["nope"]}, 10) == []
    program = dataset.projects[0].program
    both = {"gen3_discovery.project_id": [a], "gen3_discovery.program": [program]}
    assert [g for g, _ in catalog.query(both, 10)] == [a]
    in_a = sorted(f.guid for f in dataset.files if f.project_id == a)
    assert [g for g, _ in catalog.query({"project_id": [a], "_guid_type": ["indexed_file_object"]}, 2000)] == in_a


def test_values_compare_as_text_and_star_means_present():
    record = {"a": {"b": 3, "t": True, "n": None, "s": "*", "l": ["x"]}}
    assert matches(record, {"a.b": ["3"]}) and not matches(record, {"a.b": ["3.0"]})
    assert matches(record, {"a.t": ["true"]})
    assert matches(record, {"a.l": ['["x"]']})
    assert not matches(record, {"a.n": ["None"]}) and not matches(record, {"a.n": ["null"]})
    assert matches(record, {"a.n": ["*"]})  # the key exists
    assert not matches(record, {"a.zz": ["*"]}) and not matches(record, {"a.b.c": ["*"]})
    assert matches(record, {"a.s": ["\\*"]}) and not matches({"a": {"s": "x"}}, {"a.s": ["\\*"]})
    assert matches(record, {})


def test_ordering_and_paging(catalog):
    everything = [g for g, _ in catalog.query({}, limit=5000)]
    assert everything == sorted(everything) == sorted(catalog.records)
    pages = [g for offset in range(0, len(everything), 7) for g, _ in catalog.query({}, limit=7, offset=offset)]
    assert pages == everything
    assert catalog.query({}, limit=0) == [] and catalog.query({}, limit=5, offset=len(everything)) == []
    with pytest.raises(ValueError):
        catalog.query({}, limit=-1)


# --- over HTTP ------------------------------------------------------------------------------------


async def test_status_and_version(commons_server):
    r = await commons_server.client.get("/mds/_status")
    assert r.status_code == 200 and r.json()["status"] == "OK"
    r = await commons_server.client.get("/mds/version")
    assert r.status_code == 200 and isinstance(r.json(), str) and r.json()


async def test_query_over_http(commons_server):
    client = commons_server.client
    dataset = commons_server.commons.dataset
    project_ids = sorted(p.project_id for p in dataset.projects)
    r = await client.get("/mds/metadata", params={"_guid_type": "discovery_metadata", "data": "False"})
    assert r.status_code == 200 and r.json() == project_ids[:10]
    r = await client.get("/mds/metadata", params={"_guid_type": "discovery_metadata", "data": "True", "limit": "2000"})
    body = r.json()
    assert list(body) == project_ids
    assert all(doc["_guid_type"] == "discovery_metadata" for doc in body.values())
    for project in dataset.projects:
        counted = body[project.project_id]["gen3_discovery"]["files_count"]
        assert counted == sum(f.project_id == project.project_id for f in dataset.files)
    for value in ("true", "TRUE"):
        r = await client.get("/mds/metadata", params={"data": value, "limit": "1"})
        assert isinstance(r.json(), dict) and len(r.json()) == 1
    r = await client.get(
        "/mds/metadata",
        params=[("gen3_discovery.project_id", project_ids[0]), ("gen3_discovery.project_id", project_ids[-1])],
    )
    assert r.json() == [project_ids[0], project_ids[-1]]


async def test_limits_and_offsets_over_http(commons_server):
    client = commons_server.client
    catalog = commons_server.commons.metadata
    everything = sorted(catalog.records)
    assert len(everything) > 10
    assert (await client.get("/mds/metadata")).json() == everything[:10]  # default limit 10
    r = await client.get("/mds/metadata", params={"limit": "5", "offset": "3"})
    assert r.json() == everything[3:8]
    r = await client.get("/mds/metadata", params={"limit": "999999"})
    assert r.json() == everything
    for params in ({"limit": "ten"}, {"offset": "-1"}, {"limit": "1.5"}, {"data": "maybe"}):
        r = await client.get("/mds/metadata", params=params)
        assert r.status_code == 400 and r.json()["status_code"] == 400, params


async def test_get_one_record_over_http(commons_server):
    client = commons_server.client
    dataset = commons_server.commons.dataset
    f = dataset.files[0]
    r = await client.get(f"/mds/metadata/{f.guid}")  # the prefix's slash stays raw
    assert r.status_code == 200 and r.json()["file_name"] == f.file_name
    project = dataset.projects[-1]
    r = await client.get(f"/mds/metadata/{project.project_id}")
    assert r.json()["gen3_discovery"]["project_id"] == project.project_id
    r = await client.get(f"/mds/metadata/{f.guid}/aliases")
    assert r.json() == {"guid": f.guid, "aliases": []}
    r = await client.get("/mds/metadata/dg.TST1/no-such-guid")
    assert r.status_code == 404 and r.json() == {"error": "no metadata record dg.TST1/no-such-guid", "status_code": 404}


async def test_limit_is_capped_at_2000(commons_server):
    big = {f"guid-{i:05d}": {"_guid_type": "bulk", "i": i} for i in range(2100)}
    commons_server.commons.metadata = MetadataCatalog(big)
    r = await commons_server.client.get("/mds/metadata", params={"limit": "5000", "_guid_type": "bulk"})
    assert r.json() == sorted(big)[:2000]
    r = await commons_server.client.get("/mds/metadata", params={"limit": "5000", "offset": "2000", "data": "true"})
    assert r.json() == {g: big[g] for g in sorted(big)[2000:]}
