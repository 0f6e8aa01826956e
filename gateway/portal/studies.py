"""Study discovery (``/studies`` and ``/studies/{guid}``): full-text search and tag filters over the studies
harvested from every member; each row names its member and a stale snapshot says how old it is.

A thin client of the Aggregate MDS routes: :func:`search_page` calls the same
:func:`gateway.discovery.mds_query.search` and :func:`~gateway.discovery.mds_query.tags` as ``GET
/mds/aggregate/search`` and ``GET /mds/aggregate/tags``, on the same harvested snapshots (the harvester's
:class:`~gateway.discovery.harvest.DiscoveryView`), with the same count hider the web edge builds for the API
(tiered study counts: a count the caller may not see arrives here as ``null`` and is shown as hidden, never as a
number); :func:`study_page` is ``GET /mds/aggregate/metadata/guid/{guid}``. Tag filters use the MDS filter
``tags=<category>:<name>`` (several OR: studies with any of the selected tags).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.discovery import mds_query
from gateway.discovery.documents import CountHider
from gateway.discovery.harvest import DiscoveryView

PAGE_SIZE = 20
COUNT_LABELS = {"_subjects_count": "Subjects", "_samples_count": "Samples", "_files_count": "Files"}
DISCOVERY_KEY = "gen3_discovery"
STALE_AFTER_STATUSES = frozenset({"stale"})
HIDDEN = "hidden"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class StudyRow:
    guid: str
    member_id: str
    title: str
    description: str
    counts: tuple[tuple[str, int | str], ...]
    """``(label, count)``; a count this caller may not see (tiered access) is the word ``hidden``, one the member
    did not give ``unknown``: never a number."""
    tags: tuple[tuple[str, str], ...]
    stale_age: float | None
    """The age in seconds of the member's snapshot when its last harvest failed (served from an older one)."""

    @property
    def stale_text(self) -> str | None:
        return None if self.stale_age is None else f"snapshot {age_text(self.stale_age)} old"


@dataclass(frozen=True)
class TagChoice:
    category: str
    name: str
    count: int
    selected: bool

    @property
    def value(self) -> str:
        return f"{self.category}:{self.name}"


@dataclass(frozen=True)
class Source:
    member_id: str
    status: str
    count: int
    age_text: str | None
    error: str | None


@dataclass(frozen=True)
class StudiesPage:
    q: str
    selected: tuple[str, ...]
    rows: tuple[StudyRow, ...]
    hits: int
    offset: int
    limit: int
    facets: tuple[tuple[str, tuple[TagChoice, ...]], ...]
    sources: tuple[Source, ...]

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.hits else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None


def age_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _study(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = doc.get(DISCOVERY_KEY)
    return inner if isinstance(inner, Mapping) else doc


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _counts(study: Mapping[str, Any]) -> tuple[tuple[str, int | str], ...]:
    hidden = study.get("_hidden_counts")
    hidden = set(hidden) if isinstance(hidden, list) else set()
    out: list[tuple[str, int | str]] = []
    for field, label in COUNT_LABELS.items():
        value = _count(study.get(field))
        if field in hidden:
            out.append((label, HIDDEN))
        elif value is not None:
            out.append((label, value))
        elif field in study:
            out.append((label, UNKNOWN))
    return tuple(out)


def study_row(guid: str, doc: Mapping[str, Any], stale_ages: Mapping[str, float]) -> StudyRow:
    study = _study(doc)
    member_id = _text(study.get("commons_name"))
    tags = tuple((str(t["category"]), str(t["name"])) for t in study.get("tags") or []
                 if isinstance(t, Mapping) and isinstance(t.get("category"), str) and isinstance(t.get("name"), str))
    return StudyRow(
        guid=guid, member_id=member_id,
        title=_text(study.get("full_name")) or _text(study.get("name")) or _text(study.get("short_name")) or guid,
        description=_text(study.get("study_description")),
        counts=_counts(study),
        tags=tags, stale_age=stale_ages.get(member_id),
    )


def _stale_ages(view: DiscoveryView, now: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for snapshot in view.snapshots:
        age = snapshot.age(now)
        if snapshot.status in STALE_AFTER_STATUSES and age is not None:
            out[snapshot.commons] = age
    return out


def _sources(view: DiscoveryView, now: float) -> tuple[Source, ...]:
    return tuple(Source(str(s["commons"]), str(s["status"]), int(s["count"] or 0),
                        None if s["age"] is None else age_text(float(s["age"])), s.get("error"))
                 for s in view.status(now))


def _facets(tag_counts: Mapping[str, Mapping[str, Any]], selected: Iterable[str]) -> tuple[
        tuple[str, tuple[TagChoice, ...]], ...]:
    chosen = set(selected)
    out = []
    for category, entry in tag_counts.items():
        names: dict[str, int] = {}
        for block in entry.get("names") or []:
            names.update(block)
        out.append((category, tuple(TagChoice(category, n, c, f"{category}:{n}" in chosen) for n, c in names.items())))
    return tuple(out)


def search_page(view: DiscoveryView, now: float, *, q: str, selected: Sequence[str], offset: int,
                count_hider: CountHider | None, counted_fields: Iterable[str], limit: int = PAGE_SIZE) -> StudiesPage:
    """One page of studies matching ``q`` and any of the ``selected`` tags (``category:name``), the tag counts of
    the studies matching ``q`` (so a person sees what each tag would add), and each member's harvest status.
    Raises :class:`ValueError` for a query over the search's limits, as the API answers 400."""
    filters = {"tags": list(selected)} if selected else None
    found = mds_query.search(view.snapshots, q=q or None, filters=filters, limit=limit, offset=offset, flatten=True,
                             pagination=True, count_hider=count_hider, counted_fields=tuple(counted_fields))
    stale = _stale_ages(view, now)
    rows = tuple(study_row(guid, doc, stale) for item in found["results"] for guid, doc in item.items())
    return StudiesPage(q, tuple(selected), rows, int(found["pagination"]["hits"]), offset, limit,
                       _facets(mds_query.tags(view.snapshots, q=q or None), selected), _sources(view, now))


@dataclass(frozen=True)
class StudyPage:
    row: StudyRow
    fields: tuple[tuple[str, str], ...]
    """Every other field of the study, as text (lists joined)."""


SHOWN_ELSEWHERE = frozenset({"tags", "commons_name", "_hidden_counts", *COUNT_LABELS})


def _field_text(value: Any) -> str | None:
    if value is None or value == [] or value == "":
        return None
    if isinstance(value, list):
        parts = [_field_text(v) for v in value]
        return ", ".join(p for p in parts if p)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_field_text(v)}" for k, v in value.items() if _field_text(v))
    return str(value)


def study_page(view: DiscoveryView, now: float, guid: str, *, count_hider: CountHider | None,
               counted_fields: Iterable[str]) -> StudyPage | None:
    doc = mds_query.by_guid(view.snapshots, guid, count_hider=count_hider, counted_fields=tuple(counted_fields))
    if doc is None:
        return None
    row = study_row(guid, doc, _stale_ages(view, now))
    fields = []
    for key, value in _study(doc).items():
        text = _field_text(value)
        if key not in SHOWN_ELSEWHERE and text:
            fields.append((key, text))
    return StudyPage(row, tuple(fields))
