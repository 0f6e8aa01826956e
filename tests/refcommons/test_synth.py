"""The synthetic dataset: deterministic, collision-free across seeds and prefixes, plausible, and fast."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from refcommons.blobs import CRAM_EOF, CRAM_MAGIC, file_bytes
from refcommons.synth import generate_dataset, program_name


@pytest.fixture(scope="module")
def big():
    return generate_dataset(prefix="dg.TST1", seed=7, subjects=500)


@pytest.fixture(scope="module")
def small():
    return generate_dataset(prefix="dg.TST1", seed=7, subjects=40)


def _uuids(dataset) -> set[str]:
    return {f.guid.split("/", 1)[1] for f in dataset.files} | {s.id for s in dataset.subjects} | {
        s.id for s in dataset.samples
    }


def test_same_arguments_give_equal_datasets(small):
    again = generate_dataset(prefix="dg.TST1", seed=7, subjects=40)
    assert again == small
    assert [f.guid for f in again.files] == [f.guid for f in small.files]


def test_other_seed_or_prefix_gives_disjoint_ids(small):
    other_seed = generate_dataset(prefix="dg.TST1", seed=8, subjects=40)
    other_prefix = generate_dataset(prefix="dg.TST2", seed=7, subjects=40)
    assert _uuids(small).isdisjoint(_uuids(other_seed))
    assert _uuids(small).isdisjoint(_uuids(other_prefix))
    assert all(f.guid.startswith("dg.TST2/") for f in other_prefix.files)
    assert {p.name for p in small.programs} != {p.name for p in other_seed.programs}  # phs numbers move too


def test_guids_are_prefixed_uuid4_and_unique(big):
    guids = [f.guid for f in big.files]
    assert len(set(guids)) == len(guids)
    for guid in guids:
        prefix, _, rest = guid.partition("/")
        assert prefix == "dg.TST1"
        assert uuid.UUID(rest).version == 4 and str(uuid.UUID(rest)) == rest
    assert big.file(guids[3]) is big.files[3]


def test_sizes_and_checksums_come_from_the_served_bytes(small):
    for f in small.files:
        data = file_bytes(f)
        assert len(data) == f.size
        assert hashlib.md5(data).hexdigest() == f.md5
        assert hashlib.sha256(data).hexdigest() == f.sha256


def test_file_contents_look_like_their_format(small):
    by_format = {f.data_format: f for f in small.files}
    assert set(by_format) == {"CRAM", "CRAI", "VCF", "TBI", "TSV"}
    cram = file_bytes(by_format["CRAM"])
    assert cram.startswith(CRAM_MAGIC) and cram.endswith(CRAM_EOF)
    vcf = file_bytes(by_format["VCF"]).decode()
    assert vcf.startswith("##fileformat=VCFv4.2\n")
    header = next(line for line in vcf.splitlines() if line.startswith("#CHROM"))
    assert header.split("\t")[-1] == by_format["VCF"].file_name.split(".")[0]
    assert len(vcf.splitlines()) > 20
    tsv = [line.split("\t") for line in file_bytes(by_format["TSV"]).decode().splitlines()]
    assert len({len(row) for row in tsv}) == 1 and len(tsv) > 1
    for f in small.files:
        assert (4 * 1024 <= f.size <= 48 * 1024) if f.data_format == "CRAM" else True
        assert (2 * 1024 <= f.size <= 17 * 1024) if f.data_format == "VCF" else True


def test_shape_one_open_and_two_controlled_projects(big):
    assert program_name("dg.TST1") == "TST1"
    open_projects = [p for p in big.projects if p.access == "open"]
    controlled = [p for p in big.projects if p.access == "controlled"]
    assert [p.project_id for p in open_projects] == ["TST1-OPEN"]
    assert len(controlled) == 2 and len({p.program for p in controlled}) == 2
    for p in controlled:
        assert re.fullmatch(r"phs\d{6}", p.program)
        assert p.dbgap_accession == f"{p.program}.v1.p1"
        assert p.consent_groups == ("c1", "c2")
        assert p.project_id.startswith(p.program + "-")
    assert {p.name for p in big.programs} == {p.program for p in big.projects}
    per_project = Counter(s.project_id for s in big.subjects)
    assert len(big.subjects) == 500
    assert 180 <= per_project["TST1-OPEN"] <= 220
    assert all(130 <= per_project[p.project_id] <= 170 for p in controlled)


def test_every_sample_has_reads_and_variants_and_projects_have_tables(big):
    samples = {s.id: s for s in big.samples}
    by_sample: dict[str, list] = {}
    for f in big.files:
        if f.sample_id is not None:
            by_sample.setdefault(f.sample_id, []).append(f)
    assert set(by_sample) == set(samples)
    for sample_id, files in by_sample.items():
        assert sorted(f.data_format for f in files) == ["CRAI", "CRAM", "TBI", "VCF"]
        cram = next(f for f in files if f.data_format == "CRAM")
        assert cram.file_name == f"{samples[sample_id].submitter_id}.cram"
        assert cram.data_category == "Sequencing Reads" and cram.data_type == "Aligned Reads"
        vcf = next(f for f in files if f.data_format == "VCF")
        assert vcf.data_category == "Variant Calling" and vcf.data_type == "Simple Nucleotide Variation"
        assert vcf.file_name.endswith((".g.vcf", ".vcf"))
    project_level = [f for f in big.files if f.sample_id is None]
    assert {f.project_id for f in project_level} == {p.project_id for p in big.projects}
    assert all(f.data_format == "TSV" and f.data_category == "Clinical" for f in project_level)
    samples_per_subject = Counter(s.subject_id for s in big.samples)
    assert set(samples_per_subject.values()) == {1, 2}
    assert set(samples_per_subject) == {s.id for s in big.subjects}


def test_authz_follows_access(big):
    projects = {p.project_id: p for p in big.projects}
    subjects = {s.id: s for s in big.subjects}
    for f in big.files:
        p = projects[f.project_id]
        if p.access == "open":
            assert f.authz == "/programs/TST1/projects/OPEN"
        else:
            assert re.fullmatch(r"/programs/phs\d{6}\.c[12]", f.authz)
            assert f.authz.startswith(f"/programs/{p.program}.")
            if f.subject_id:
                assert f.authz == p.authz_for(subjects[f.subject_id].consent)
    assert {r.path for r in big.authz_resources()} == {f.authz for f in big.files}


def test_distributions_are_plausible(big):
    subjects = big.subjects
    sexes = Counter(s.sex for s in subjects)
    assert sexes["female"] > 150 and sexes["male"] > 150
    assert len({s.population for s in subjects}) >= 3
    assert Counter(s.population for s in subjects).most_common(1)[0][0] == "EUR"
    assert len({s.phenotype for s in subjects}) >= 4
    assert Counter(s.phenotype for s in subjects).most_common(1)[0][0] == "control"
    assert all(18 <= s.age_at_enrollment <= 90 for s in subjects)
    assert 40 <= sum(s.age_at_enrollment for s in subjects) / len(subjects) <= 65
    assert all(15 <= s.bmi <= 55 and round(s.bmi, 1) == s.bmi for s in subjects)
    assert {s.smoking_status for s in subjects} >= {"never", "former", "current"}
    assert all(s.race == "Black or African American" or s.population != "AFR" or s.race in (
        "more than one race", "not reported") for s in subjects)
    consents = Counter(s.consent for s in subjects if s.consent is not None)
    assert consents["c1"] > consents["c2"] > 0
    assert all((s.consent is None) == s.project_id.endswith("-OPEN") for s in subjects)
    assert {s.sample_type for s in big.samples} >= {"Blood Derived Normal", "Saliva"}


def test_created_dates_are_rfc3339_utc_in_2023_2024(big):
    for f in big.files:
        assert f.created_date.endswith("Z")
        moment = datetime.fromisoformat(f.created_date)
        assert datetime(2023, 1, 1, tzinfo=UTC) <= moment < datetime(2025, 1, 1, tzinfo=UTC)


def test_five_hundred_subjects_take_well_under_a_second():
    started = time.perf_counter()
    generate_dataset(prefix="dg.FAST", seed=99, subjects=500)
    assert time.perf_counter() - started < 1.0


def test_zero_subjects_still_has_projects_and_tables():
    empty = generate_dataset(prefix="dg.NONE", seed=1, subjects=0)
    assert empty.subjects == () and empty.samples == ()
    assert len(empty.projects) == 3
    assert {f.data_format for f in empty.files} == {"TSV"}
