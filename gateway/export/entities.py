"""Cohort exports (pure): Guppy rows of the federated cohort search as PFB entities or manifest entries.

The dictionary the export plan chose (the reference commons' by default: ``program → project → subject → sample →
file``; any dictionary with ``program``, ``project`` and the index node, linked child to parent, see
:func:`~gateway.export.dictionary_choice.misfit`) describes the entities. An export of the ``subject`` index
writes, parents first:

* one ``program`` and one ``project`` entity per distinct ``(member, project_id)`` (found up front from the
  accessible ``project_id`` histogram of each member; a project a row names that was not listed is written just
  before that row). Programs and projects have no ids of their own: theirs are uuid5s of the member and the name
  (:func:`program_id`, :func:`project_id_of`), stable from one export to the next. The program is the
  ``project_id``'s part before the first ``-`` (Gen3's ``<program>-<project code>``);
* each row as a ``subject`` (id ``subject_id``) related to its project; a ``file`` export writes each row as a
  ``file`` (id ``object_id``) related to its project only: the export holds no ``sample`` entities, so a file's
  ``sample_id`` is not a relation (the link is optional in the dictionary; ``project`` is the required one).

Values (rows', and the programs' and projects' own) are fitted to the dictionary: properties the node does not
have are dropped, integers given as whole floats become integers, and a value of the wrong type (or an enum value
outside the symbols) is left out rather than failing the export. A row without its id or ``project_id`` is skipped
(:class:`Skipped` counts them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.export.dictionary import Dictionary, Node, Property
from gateway.export.formats.manifest import ManifestEntry, commons_host
from gateway.export.formats.pfb import Entity

NAMESPACE = uuid.UUID("0b6f4d9e-3c1a-5e8f-9a7d-2f4e6c8b1a35")
INDICES = ("subject", "file")
ID_FIELD = {"subject": "subject_id", "file": "object_id"}
AUTH_FIELD = "auth_resource_path"
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "subject": ("subject_id", "submitter_id", "project_id", "consent", "sex", "population", "race", "ethnicity",
                "phenotype", "smoking_status", "age_at_enrollment", "bmi"),
    "file": ("object_id", "file_name", "file_size", "md5sum", "data_format", "data_type", "data_category",
             "project_id", "sample_id", AUTH_FIELD, "created_datetime"),
}
"""The Guppy fields an export asks each member for (those of the reference commons' indices it uses)."""
MANIFEST_FIELDS = ("object_id", "file_name", "file_size", "md5sum")


def program_id(commons: str, program: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{commons}/program/{program}"))


def project_id_of(commons: str, project: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{commons}/project/{project}"))


def split_project(project: str) -> tuple[str, str]:
    """``<program>-<code>`` → ``(program, code)``; a project id without ``-`` is its own program and code."""
    program, sep, code = project.partition("-")
    return (program, code) if sep and program and code else (project, project)


def _fit(prop: Property, value: Any) -> Any:
    """``value`` as the property's type, or ``None`` when it does not fit."""
    kind = prop.items if prop.type == "array" else prop.type
    if prop.type == "array":
        items = value if isinstance(value, list | tuple) else [value]
        out = [_fit_scalar(kind, prop, v) for v in items]
        return None if any(v is None for v in out) else out
    return _fit_scalar(kind, prop, value)


def _fit_scalar(kind: str | None, prop: Property, value: Any) -> Any:
    if isinstance(value, bool):
        return value if kind == "boolean" else None
    if kind == "string":
        return value if isinstance(value, str) else None
    if kind == "enum":
        return value if isinstance(value, str) and value in prop.symbols else None
    if kind == "integer":
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, float) and value.is_integer() else None
    if kind == "number":
        return value if isinstance(value, int | float) else None
    return None


def fit_properties(node: Node, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values ``node`` has a property for, fitted to its types (what does not fit is left out)."""
    out: dict[str, Any] = {}
    for prop in node.properties:
        value = values.get(prop.name)
        if value is None:
            continue
        fitted = _fit(prop, value)
        if fitted is not None:
            out[prop.name] = fitted
    return out


@dataclass
class Skipped:
    rows: int = 0


@dataclass
class EntityBuilder:
    """Rows → entities for one export, writing each member's programs and projects before their first child.

    Holds the set of programs and projects written (a handful per member), nothing per row."""

    dictionary: Dictionary
    index: str
    skipped: Skipped = field(default_factory=Skipped)
    _programs: set[tuple[str, str]] = field(default_factory=set)
    _projects: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.index not in INDICES:
            raise ValueError(f"cannot export index {self.index!r}")

    def projects(self, commons: str, project_ids: Iterable[str]) -> Iterator[Entity]:
        """The program and project entities of ``project_ids`` of ``commons`` not written yet, programs first."""
        fresh = {p for p in project_ids if isinstance(p, str) and p and (commons, p) not in self._projects}
        wanted = sorted(fresh)
        for program in sorted({split_project(p)[0] for p in wanted}):
            if (commons, program) not in self._programs:
                self._programs.add((commons, program))
                yield Entity("program", program_id(commons, program), self._fit("program", {"name": program}))
        for p in wanted:
            self._projects.add((commons, p))
            program, code = split_project(p)
            yield Entity("project", project_id_of(commons, p),
                         self._fit("project", {"code": code, "name": p, "project_id": p}),
                         [("program", program_id(commons, program))])

    def row(self, row: Mapping[str, Any]) -> Iterator[Entity]:
        """The entity of one row (tagged with its ``commons``), after its program and project if they are new."""
        commons, project = row.get("commons"), row.get("project_id")
        entity_id = row.get(ID_FIELD[self.index])
        if not (isinstance(commons, str) and isinstance(project, str) and project and isinstance(entity_id, str)
                and entity_id):
            self.skipped.rows += 1
            return
        yield from self.projects(commons, [project])
        values = dict(row)
        if self.index == "file":
            if AUTH_FIELD in values:
                values["authz"] = [values[AUTH_FIELD]]
            values.setdefault("submitter_id", values.get("file_name"))
        parent = ("project", project_id_of(commons, project))
        yield Entity(self.index, entity_id, self._fit(self.index, values), [parent])

    def _fit(self, node: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return fit_properties(self.dictionary.node(node), values)


def manifest_entry(row: Mapping[str, Any], commons_url: str | None) -> ManifestEntry | None:
    """The manifest entry of a ``file`` row (``None`` without an ``object_id``); values that do not fit the
    manifest (a negative size, a malformed md5) are left out."""
    object_id = row.get("object_id")
    if not isinstance(object_id, str) or not object_id:
        return None
    size = row.get("file_size")
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
        size = None
    name = row.get("file_name") if isinstance(row.get("file_name"), str) else None
    md5 = row.get("md5sum")
    try:
        return ManifestEntry(object_id, commons_url, name, size, md5 if isinstance(md5, str) else None)
    except ValueError:
        return ManifestEntry(object_id, commons_url, name, size)


def host_of(base_url: str) -> str | None:
    """The manifest's ``commons_url`` for a member's base URL, ``None`` if it is not a bare host."""
    try:
        return commons_host(base_url)
    except ValueError:
        return None
