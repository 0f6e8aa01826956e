"""The deterministic synthetic dataset of a reference commons.

:func:`generate_dataset` is pure: the same ``(prefix, seed, subjects)`` always gives an equal
:class:`~refcommons.model.Dataset`, and every GUID is drawn from a generator seeded by a SHA-256 of
``(prefix, seed)``, so another seed *or* another prefix gives disjoint GUIDs.

Shape: one open program/project (``<P>-OPEN``, ``P`` from the prefix, e.g. ``dg.TST1`` → ``TST1``)
and two controlled dbGaP-style studies, each its own program named after its ``phs`` accession with
consent groups ``c1``/``c2``. Subjects are split about 40/30/30 between them; each has one or two
samples, each sample an aligned-reads CRAM+CRAI and a (g)VCF+TBI. Every project also carries a
phenotype extract and a data dictionary (TSV) per authz scope; those project-level files have
``sample_id=None`` and ``subject_id=""``. Sizes and checksums come from the bytes
:func:`refcommons.blobs.render` produces.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from refcommons.blobs import render
from refcommons.model import DataFile, Dataset, Program, Project, Sample, Subject

CONSENTS = ("c1", "c2")
SEXES = (("female", 505), ("male", 488), ("unknown", 7))
POPULATIONS = (("EUR", 44), ("AFR", 21), ("AMR", 16), ("EAS", 12), ("SAS", 7))
RACES = {
    "AFR": (("Black or African American", 95), ("more than one race", 4), ("not reported", 1)),
    "AMR": (("White", 45), ("American Indian or Alaska Native", 25), ("more than one race", 25), ("not reported", 5)),
    "EAS": (("Asian", 96), ("more than one race", 3), ("not reported", 1)),
    "EUR": (("White", 96), ("more than one race", 3), ("not reported", 1)),
    "SAS": (("Asian", 95), ("more than one race", 4), ("not reported", 1)),
}
SMOKING = (("never", 55), ("former", 27), ("current", 15), ("unknown", 3))
SAMPLE_TYPES = (("Blood Derived Normal", 80), ("Saliva", 16), ("Primary Tumor", 4))
TUMOR_TISSUES = ("Lung", "Breast", "Colon", "Kidney")
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_SECONDS = int((datetime(2025, 1, 1, tzinfo=UTC) - EPOCH).total_seconds())


@dataclass(frozen=True)
class StudyTheme:
    code: str
    name: str
    phenotypes: tuple[tuple[str, int], ...]


OPEN_PHENOTYPES = (
    ("control", 62), ("hypertension", 12), ("type 2 diabetes", 8), ("asthma", 9), ("coronary artery disease", 5),
    ("obesity", 4),
)
THEMES = (
    StudyTheme("HEART", "Heart and Vascular Health Cohort", (
        ("control", 48), ("hypertension", 24), ("coronary artery disease", 16), ("atrial fibrillation", 8),
        ("heart failure", 4),
    )),
    StudyTheme("METAB", "Metabolic Disease Genomics Study", (
        ("control", 50), ("type 2 diabetes", 28), ("obesity", 14), ("hypertension", 8),
    )),
    StudyTheme("LUNG", "Lung Health Sequencing Project", (
        ("control", 52), ("asthma", 26), ("chronic obstructive pulmonary disease", 16), ("hypertension", 6),
    )),
    StudyTheme("SLEEP", "Sleep and Circadian Genomics Study", (
        ("control", 55), ("obstructive sleep apnea", 25), ("hypertension", 12), ("type 2 diabetes", 8),
    )),
)


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from a SHA-256 of ``parts`` (stable across processes, unlike ``hash()``)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def program_name(prefix: str) -> str:
    """The open program's name: the prefix's last dotted part, alphanumerics only (``dg.TST1`` → ``TST1``)."""
    tail = re.sub(r"[^A-Za-z0-9]", "", prefix.rsplit(".", 1)[-1])
    return tail or "REF"


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


class _Builder:
    """Accumulates one dataset; holds the two generators (GUIDs and attributes) and the output lists."""

    def __init__(self, prefix: str, seed: int) -> None:
        self.prefix = prefix
        self.ids = random.Random(stable_seed("refcommons-guids", prefix, seed))
        self.rng = random.Random(stable_seed("refcommons-data", prefix, seed))
        self.subjects: list[Subject] = []
        self.samples: list[Sample] = []
        self.files: list[DataFile] = []

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    def date(self) -> str:
        moment = EPOCH + timedelta(seconds=self.rng.randrange(SPAN_SECONDS))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def file(
        self, project: Project, consent: str | None, name: str, fmt: str, category: str, data_type: str,
        subject_id: str, sample_id: str | None,
    ) -> None:
        content_seed = self.rng.getrandbits(63)
        data = render(content_seed, fmt, name)
        self.files.append(DataFile(
            guid=f"{self.prefix}/{self.uuid()}",
            file_name=name,
            size=len(data),
            md5=hashlib.md5(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            data_category=category,
            data_type=data_type,
            data_format=fmt,
            project_id=project.project_id,
            subject_id=subject_id,
            sample_id=sample_id,
            authz=project.authz_for(consent),
            created_date=self.date(),
            content_seed=content_seed,
        ))

    def subject(self, project: Project, index: int, phenotypes: Sequence[tuple[str, int]]) -> Subject:
        rng = self.rng
        population = _pick(rng, POPULATIONS)
        hispanic = 85 if population == "AMR" else 3
        ethnicity = _pick(rng, (("Hispanic or Latino", hispanic), ("Not Hispanic or Latino", 97 - hispanic),
                                ("not reported", 3)))
        return Subject(
            id=self.uuid(),
            submitter_id=f"{project.project_id}-S{index:05d}",
            project_id=project.project_id,
            consent=None if project.access == "open" else ("c1" if rng.random() < 0.7 else "c2"),
            sex=_pick(rng, SEXES),
            population=population,
            race=_pick(rng, RACES[population]),
            ethnicity=ethnicity,
            age_at_enrollment=max(18, min(90, round(rng.gauss(52, 15)))),
            bmi=round(max(15.0, min(55.0, rng.gauss(27.0, 5.0))), 1),
            phenotype=_pick(rng, phenotypes),
            smoking_status=_pick(rng, SMOKING),
        )

    def sample(self, subject: Subject, index: int) -> Sample:
        sample_type = _pick(self.rng, SAMPLE_TYPES)
        tissue = {"Blood Derived Normal": "Blood", "Saliva": "Saliva"}.get(sample_type) or self.rng.choice(
            TUMOR_TISSUES
        )
        return Sample(
            id=self.uuid(),
            submitter_id=f"{subject.submitter_id}-SM{index}",
            subject_id=subject.id,
            project_id=subject.project_id,
            sample_type=sample_type,
            tissue=tissue,
        )

    def sample_files(self, project: Project, subject: Subject, sample: Sample) -> None:
        base = sample.submitter_id
        args = (subject.id, sample.id)
        reads = ("Sequencing Reads", "Aligned Reads")
        self.file(project, subject.consent, f"{base}.cram", "CRAM", *reads, *args)
        self.file(project, subject.consent, f"{base}.cram.crai", "CRAI", *reads, *args)
        vcf = f"{base}.g.vcf" if self.rng.random() < 0.5 else f"{base}.vcf"
        variants = ("Variant Calling", "Simple Nucleotide Variation")
        self.file(project, subject.consent, vcf, "VCF", *variants, *args)
        self.file(project, subject.consent, f"{vcf}.tbi", "TBI", *variants, *args)

    def project_files(self, project: Project) -> None:
        for consent in project.consent_groups or (None,):
            scope = project.project_id + (f".{consent}" if consent else "")
            self.file(project, consent, f"{scope}.phenotypes.tsv", "TSV", "Clinical", "Phenotype", "", None)
            self.file(project, consent, f"{scope}.data_dictionary.tsv", "TSV", "Clinical", "Data Dictionary", "",
                      None)

    def populate(self, project: Project, count: int, phenotypes: Sequence[tuple[str, int]]) -> None:
        for i in range(1, count + 1):
            subject = self.subject(project, i, phenotypes)
            self.subjects.append(subject)
            n_samples = 2 if self.rng.random() < 0.25 else 1
            for j in range(1, n_samples + 1):
                sample = self.sample(subject, j)
                self.samples.append(sample)
                self.sample_files(project, subject, sample)
        self.project_files(project)


def _studies(rng: random.Random) -> list[tuple[str, StudyTheme]]:
    numbers = rng.sample(range(1000, 1_000_000), 2)
    themes = rng.sample(THEMES, 2)
    return [(f"phs{n:06d}", theme) for n, theme in zip(numbers, themes, strict=True)]


def generate_dataset(*, prefix: str, seed: int, subjects: int) -> Dataset:
    """The dataset of a commons with GUID ``prefix``, ``seed`` and about ``subjects`` subjects."""
    b = _Builder(prefix, seed)
    open_program = program_name(prefix)
    open_project = Project(
        project_id=f"{open_program}-OPEN", program=open_program, code="OPEN",
        name=f"{open_program} open-access cohort", description="Open-access synthetic genomes and phenotypes.",
        access="open",
    )
    programs = [Program(open_program)]
    projects = [open_project]
    themes: list[StudyTheme] = []
    for phs, theme in _studies(b.rng):
        accession = f"{phs}.v1.p1"
        programs.append(Program(phs, dbgap_accession=accession))
        projects.append(Project(
            project_id=f"{phs}-{theme.code}", program=phs, code=theme.code, name=theme.name,
            description=f"Controlled-access dbGaP study {accession}: {theme.name.lower()}.",
            access="controlled", dbgap_accession=accession, consent_groups=CONSENTS,
        ))
        themes.append(theme)
    n_open = round(subjects * 0.4)
    n_first = round(subjects * 0.3)
    counts = (n_open, n_first, max(0, subjects - n_open - n_first))
    phenotypes = (OPEN_PHENOTYPES, themes[0].phenotypes, themes[1].phenotypes)
    for project, count, weights in zip(projects, counts, phenotypes, strict=True):
        b.populate(project, count, weights)
    return Dataset(
        prefix=prefix, seed=seed, programs=tuple(programs), projects=tuple(projects),
        subjects=tuple(b.subjects), samples=tuple(b.samples), files=tuple(b.files),
    )
