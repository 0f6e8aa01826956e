"""The reference commons' Gen3 metadata service (MDS) content, built from the dataset; pure.

Two kinds of records, keyed by GUID:

* one ``discovery_metadata`` record per project, keyed by its ``project_id`` (e.g. ``REF0-OPEN``):
  ``{"_guid_type": "discovery_metadata", "gen3_discovery": {project_id, name, full_name, ...}}``,
  the study-level shape Gen3's Discovery page and AggMDS harvest;
* one ``indexed_file_object`` record per file, keyed by the file's GUID.

:meth:`MetadataCatalog.query` follows MDS ``GET /metadata`` filter semantics: a filter key is a dotted
path into the record (``gen3_discovery.project_id``); values compare as text (JSON text for numbers,
booleans and containers, like Postgres ``->>``); a repeated key ORs its values; different keys AND;
``*`` means "the key exists" and ``\\*`` a literal ``*``. Results are sorted by GUID.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from refcommons.model import Dataset, Project

Record = dict[str, Any]
_MISSING = object()


def _tags(project: Project, data_types: list[str]) -> list[dict[str, str]]:
    tags = [
        {"name": project.access.capitalize(), "category": "Access"},
        {"name": project.program, "category": "Program"},
    ]
    return tags + [{"name": t, "category": "Data Type"} for t in data_types]


def discovery_record(dataset: Dataset, project: Project) -> Record:
    """The ``discovery_metadata`` record of ``project``, with counts derived from ``dataset``."""
    files = [f for f in dataset.files if f.project_id == project.project_id]
    consents = project.consent_groups if project.access == "controlled" else (None,)
    data_types = sorted({f.data_type for f in files})
    return {
        "_guid_type": "discovery_metadata",
        "gen3_discovery": {
            "project_id": project.project_id,
            "name": project.name,
            "short_name": project.code,
            "full_name": f"{project.name} ({project.dbgap_accession or project.project_id})",
            "description": project.description,
            "program": project.program,
            "study_id": project.dbgap_accession or project.project_id,
            "dbgap_accession": project.dbgap_accession,
            "access": project.access,
            "consent_groups": list(project.consent_groups),
            "subjects_count": sum(1 for s in dataset.subjects if s.project_id == project.project_id),
            "samples_count": sum(1 for s in dataset.samples if s.project_id == project.project_id),
            "files_count": len(files),
            "files_size": sum(f.size for f in files),
            "data_types": data_types,
            "data_categories": sorted({f.data_category for f in files}),
            "data_formats": sorted({f.data_format for f in files}),
            "files_by_data_type": dict(sorted(Counter(f.data_type for f in files).items())),
            "authz": [project.authz_for(c) for c in consents],
            "tags": _tags(project, data_types),
        },
    }


def file_records(dataset: Dataset) -> dict[str, Record]:
    """One ``indexed_file_object`` record per file, keyed by GUID."""
    subjects = {s.id: s for s in dataset.subjects}
    samples = {s.id: s for s in dataset.samples}
    out: dict[str, Record] = {}
    for f in dataset.files:
        subject = subjects.get(f.subject_id)
        sample = samples.get(f.sample_id) if f.sample_id else None
        out[f.guid] = {
            "_guid_type": "indexed_file_object",
            "project_id": f.project_id,
            "data_category": f.data_category,
            "data_type": f.data_type,
            "data_format": f.data_format,
            "file_name": f.file_name,
            "file_size": f.size,
            "md5sum": f.md5,
            "subject_submitter_id": subject.submitter_id if subject else None,
            "sample_submitter_id": sample.submitter_id if sample else None,
            "authz": [f.authz],
            "created_date": f.created_date,
        }
    return out


def _lookup(record: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(record, dict) or part not in record:
            return _MISSING
        record = record[part]
    return record


def as_text(value: Any) -> str | None:
    """A JSON value as MDS compares it (Postgres ``->>``): strings as is, ``null`` as no value."""
    if value is None or value is _MISSING:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


def matches(record: Record, filters: Mapping[str, list[str]]) -> bool:
    """Whether ``record`` passes every filter (each a dotted path → values, any of which may match)."""
    for key, values in filters.items():
        found = _lookup(record, key.split("."))
        text = as_text(found)
        ok = False
        for wanted in values:
            if wanted == "*":
                ok = found is not _MISSING
            else:
                ok = text is not None and text == ("*" if wanted == "\\*" else wanted)
            if ok:
                break
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class MetadataCatalog:
    """Every MDS record of one commons, by GUID."""

    records: Mapping[str, Record] = field(default_factory=dict)

    @classmethod
    def build(cls, dataset: Dataset) -> MetadataCatalog:
        records: dict[str, Record] = {p.project_id: discovery_record(dataset, p) for p in dataset.projects}
        records.update(file_records(dataset))
        return cls(dict(sorted(records.items())))

    def get(self, guid: str) -> Record | None:
        return self.records.get(guid)

    def query(self, filters: Mapping[str, list[str]], limit: int, offset: int = 0) -> list[tuple[str, Record]]:
        """Records passing ``filters`` (see the module docstring), by GUID, ``offset``/``limit`` applied."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        hits = (item for item in self.records.items() if matches(item[1], filters))
        out: list[tuple[str, Record]] = []
        for index, item in enumerate(hits):
            if index >= offset + limit:
                break
            if index >= offset:
                out.append(item)
        return out
