"""Aggregate MDS query semantics over immutable per-member snapshots; pure (no I/O, no clock).

The snapshots are :mod:`gateway.discovery.snapshots`'s; ordering is deterministic everywhere: members in the order
given (configured order), then GUIDs ascending. A GUID repeated across members: :func:`by_guid` answers the first
member's.

Responses follow Gen3 Aggregate MDS (``metadata-service`` ``src/mds/agg_mds/query.py`` and its datastore), with the
documents and pages of :mod:`gateway.discovery.documents` (a study carries ``commons_name``, the member's name):

* :func:`list_commons` → ``{"commons": [name, ...]}`` (members with at least one record);
* :func:`metadata` → one page of every member's documents (``flatten``, ``pagination``, ``counts``);
* :func:`by_commons` → ``[document, ...]`` (every record of one commons, no GUIDs, no paging);
* :func:`by_guid` → ``document``; :func:`commons_info` → ``{"commons_url": ...}``;
* :func:`tags` → ``{category: {"total": n, "names": [{name: n, ...}]}}``;
* :func:`info` → ``schema`` as ``{field: {type, description[, default]}}``, a member's info, or an extra entry;
* :func:`search` (an addition): :func:`metadata` over the records matching full text ``q`` and field filters
  (:mod:`gateway.discovery.study_search`).

A function answering ``None`` means "not found" (Aggregate MDS answers 404 ``{"message", "code": 404}``). An offset
past the end gives an empty page with the true ``hits``.

Differences from Aggregate MDS, on purpose: ``tags`` lists every category and name (Elasticsearch's
``terms`` aggregation stops at 10); ``list_commons`` is in member order (not by record count);
``by_commons`` answers ``[]`` for a configured member without records (Aggregate MDS: 404) and ``None``
only for an unknown one; the variable-level ``data_dictionaries`` field is not carried.

Tiered counts: every function returning documents takes ``count_hider`` and ``counted_fields``
(:class:`~gateway.discovery.documents.Presenter`); hidden counts are null, listed in ``_hidden_counts``, and
invisible to :func:`search` filters (full text looks at strings only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.discovery.documents import DEFAULT_LIMIT, CountHider, Document, page_bounds, presenter, shape
from gateway.discovery.snapshots import Snapshot
from gateway.discovery.study_search import compile_query, matching
from gateway.settings.discovery import FieldSpec


def list_commons(snapshots: Iterable[Snapshot]) -> dict[str, list[str]]:
    """``GET /aggregate/commons``: ``{"commons": [...]}``, members with records, in member order."""
    return {"commons": list(dict.fromkeys(s.commons for s in snapshots if s.records))}


def metadata(
    snapshots: Iterable[Snapshot],
    *,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    flatten: bool = False,
    pagination: bool = False,
    counts: Iterable[str] = (),
    count_hider: CountHider | None = None,
    counted_fields: Iterable[str] = (),
) -> Any:
    """``GET /aggregate/metadata``: one page of every member's records (see the module docstring)."""
    limit = page_bounds(limit, offset)
    present = presenter(counts, count_hider, counted_fields)
    snaps = tuple(snapshots)
    hits = sum(len(s.records) for s in snaps)
    rows: list[tuple[str, str, Document]] = []
    skip, need = offset, limit
    for s in snaps:
        if need <= 0:
            break
        n = len(s.records)
        if skip >= n:
            skip -= n
            continue
        chunk = s.records[skip: skip + need]
        skip = 0
        need -= len(chunk)
        rows.extend((s.commons, guid, present(s.commons, guid, study)) for guid, study in chunk)
    return shape(rows, hits, limit, offset, flatten, pagination)


def by_commons(snapshots: Iterable[Snapshot], commons: str, *, count_hider: CountHider | None = None,
               counted_fields: Iterable[str] = ()) -> list[Document] | None:
    """``GET /aggregate/metadata/{commons}``: every document of that member; ``None`` for an unknown one."""
    present = presenter((), count_hider, counted_fields)
    found = False
    out: list[Document] = []
    for s in snapshots:
        if s.commons == commons:
            found = True
            out.extend(present(s.commons, guid, study) for guid, study in s.records)
    return out if found else None


def commons_info(snapshots: Iterable[Snapshot], commons: str) -> dict[str, Any] | None:
    """``GET /aggregate/metadata/{commons}/info``: ``{"commons_url": ...}``; ``None`` for an unknown member."""
    for s in snapshots:
        if s.commons == commons:
            return {"commons_url": s.commons_url}
    return None


def by_guid(snapshots: Iterable[Snapshot], guid: str, *, count_hider: CountHider | None = None,
            counted_fields: Iterable[str] = ()) -> Document | None:
    """``GET /aggregate/metadata/guid/{guid}``: the document (first member holding it); ``None``: 404."""
    for s in snapshots:
        study = s.index.get(guid)
        if study is not None:
            return presenter((), count_hider, counted_fields)(s.commons, guid, study)
    return None


def tags(snapshots: Iterable[Snapshot], *, q: str | None = None,
         filters: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``GET /aggregate/tags``: per tag category, how many tags it has (``total``) and per name how many
    (``names``, one object), over every record (or those matching ``q``/``filters``, see :func:`search`).

    Tags are the study's ``tags`` array of ``{name, category}`` objects; one without a string ``category``
    is skipped, one without a string ``name`` counts in ``total`` only. Categories by ``total``, names by
    count, both descending then by name. Aggregate MDS answers 404 when this is empty.
    """
    query = compile_query(q, filters)
    totals: dict[str, int] = {}
    names: dict[str, dict[str, int]] = {}
    for _, _, study in matching(snapshots, query):
        tag_list = study.get("tags")
        if not isinstance(tag_list, list):
            continue
        for tag in tag_list:
            if not isinstance(tag, dict) or not isinstance(tag.get("category"), str):
                continue
            category = tag["category"]
            totals[category] = totals.get(category, 0) + 1
            per = names.setdefault(category, {})
            if isinstance(tag.get("name"), str):
                per[tag["name"]] = per.get(tag["name"], 0) + 1
    out: dict[str, dict[str, Any]] = {}
    for category in sorted(totals, key=lambda c: (-totals[c], c)):
        ranked = sorted(names[category].items(), key=lambda kv: (-kv[1], kv[0]))
        out[category] = {"total": totals[category], "names": [dict(ranked)]}
    return out


def schema_json(schema: Mapping[str, FieldSpec]) -> dict[str, dict[str, Any]]:
    """The schema as ``/aggregate/info/schema`` answers it: ``{field: {type, description[, default]}}``."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in schema.items():
        entry: dict[str, Any] = {"type": spec.type, "description": spec.description}
        if spec.default is not None:
            entry["default"] = spec.default
        out[name] = entry
    return out


def info(snapshots: Iterable[Snapshot], what: str, *, schema: Mapping[str, FieldSpec] | None = None,
         extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any] | None:
    """``GET /aggregate/info/{what}``: ``schema`` → the common schema (:func:`schema_json`), a member
    name → :func:`commons_info`, a key of ``extra`` (e.g. cached DRS prefixes → ``{host, name, type}``) →
    its value; else ``None`` (404)."""
    if what == "schema":
        return schema_json(schema) if schema is not None else None
    found = commons_info(snapshots, what)
    if found is not None:
        return found
    if extra is not None and what in extra:
        return dict(extra[what])
    return None


def search(
    snapshots: Iterable[Snapshot],
    *,
    q: str | None = None,
    filters: Mapping[str, Any] | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    flatten: bool = False,
    pagination: bool = False,
    counts: Iterable[str] = (),
    count_hider: CountHider | None = None,
    counted_fields: Iterable[str] = (),
) -> Any:
    """``GET /aggregate/search`` (an addition): :func:`metadata` restricted to records matching ``q`` and ``filters``
    (:mod:`gateway.discovery.study_search`); ``hits`` counts matches."""
    limit = page_bounds(limit, offset)
    query = compile_query(q, filters)
    present = presenter(counts, count_hider, counted_fields)
    rows: list[tuple[str, str, Document]] = []
    hits = 0
    for commons, guid, study in matching(snapshots, query, present):
        if offset <= hits < offset + limit:
            rows.append((commons, guid, present(commons, guid, study)))
        hits += 1
    return shape(rows, hits, limit, offset, flatten, pagination)
