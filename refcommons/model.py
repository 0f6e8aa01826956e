"""The reference commons' data model, shaped like Gen3's: programs → projects → subjects → samples → files.

Plain frozen dataclasses; built deterministically by :func:`refcommons.synth.generate_dataset`.
Access control follows Gen3 ``authz`` resource paths: open data sits under
``/programs/<program>/projects/<project code>``; controlled (dbGaP-style) data under
``/programs/<phs accession>.<consent>`` (e.g. ``/programs/phs001234.c1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Access = Literal["open", "controlled"]


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    """Gen3 program name, e.g. ``REF0`` for open data or the study's ``phs`` accession for controlled data."""
    dbgap_accession: str | None = None


@dataclass(frozen=True, slots=True)
class Project:
    project_id: str
    """Gen3 ``<program>-<code>``, e.g. ``REF0-OPEN`` or ``phs001234-HEART``."""
    program: str
    code: str
    name: str
    description: str
    access: Access
    dbgap_accession: str | None = None
    """``phs`` accession with version, e.g. ``phs001234.v1.p1``; ``None`` for open projects."""
    consent_groups: tuple[str, ...] = ()
    """For controlled studies: ``("c1", "c2")``."""

    @property
    def phs(self) -> str | None:
        return self.dbgap_accession.split(".", 1)[0] if self.dbgap_accession else None

    def authz_for(self, consent: str | None) -> str:
        """The Gen3 authz resource path covering data of this project (and consent group)."""
        if self.access == "open":
            return f"/programs/{self.program}/projects/{self.code}"
        if consent is None:
            raise ValueError(f"controlled project {self.project_id} needs a consent group")
        return f"/programs/{self.phs}.{consent}"


@dataclass(frozen=True, slots=True)
class Subject:
    id: str
    """Node UUID."""
    submitter_id: str
    project_id: str
    consent: str | None
    """Consent group (``c1``/``c2``) for controlled studies, else ``None``."""
    sex: str
    population: str
    race: str
    ethnicity: str
    age_at_enrollment: int
    bmi: float
    phenotype: str
    """Primary phenotype / disease status, e.g. ``control``, ``hypertension``."""
    smoking_status: str


@dataclass(frozen=True, slots=True)
class Sample:
    id: str
    submitter_id: str
    subject_id: str
    """``Subject.id`` of the donor."""
    project_id: str
    sample_type: str
    tissue: str


@dataclass(frozen=True, slots=True)
class DataFile:
    guid: str
    """``<prefix>/<uuid>`` (the indexd ``did``)."""
    file_name: str
    size: int
    md5: str
    sha256: str
    data_category: str
    data_type: str
    data_format: str
    """``CRAM``, ``CRAI``, ``VCF``, ``TBI``, ``TSV``…"""
    project_id: str
    subject_id: str
    sample_id: str | None
    authz: str
    """Gen3 authz resource path (see :meth:`Project.authz_for`)."""
    created_date: str
    """RFC 3339 UTC, e.g. ``2024-03-01T12:00:00Z``; deterministic from the seed."""
    content_seed: int
    """Seed of this file's deterministic bytes (:func:`refcommons.blobs.file_bytes`)."""


@dataclass(frozen=True, slots=True)
class AuthzResource:
    path: str
    access: Access
    description: str


@dataclass(frozen=True)
class Dataset:
    prefix: str
    seed: int
    programs: tuple[Program, ...]
    projects: tuple[Project, ...]
    subjects: tuple[Subject, ...]
    samples: tuple[Sample, ...]
    files: tuple[DataFile, ...]
    _files_by_guid: dict[str, DataFile] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._files_by_guid.update({f.guid: f for f in self.files})

    def file(self, guid: str) -> DataFile | None:
        return self._files_by_guid.get(guid)

    def project(self, project_id: str) -> Project:
        return next(p for p in self.projects if p.project_id == project_id)

    def authz_resources(self) -> list[AuthzResource]:
        """Every authz resource path the data uses, open ones first (for policies and user.yaml)."""
        out: list[AuthzResource] = []
        for p in self.projects:
            if p.access == "open":
                out.append(AuthzResource(p.authz_for(None), "open", p.name))
            else:
                out.extend(AuthzResource(p.authz_for(c), "controlled", f"{p.name} ({c})") for c in p.consent_groups)
        return out
