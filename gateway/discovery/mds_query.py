"""Aggregate MDS query semantics over immutable per-member snapshots; pure (no I/O, no clock).

A :class:`Snapshot` is one member's harvested, mapped studies (``(guid, study)`` pairs, the study already in
the common schema, see :mod:`gateway.discovery.mapping.records`). A :class:`SnapshotSet` holds one snapshot per
configured member, in configured order, and is itself immutable: :meth:`SnapshotSet.succeeded` and
:meth:`SnapshotSet.failed` return a new set, so a publisher switches atomically by replacing its one
reference, and a reader that took the reference once sees one consistent state. A failed harvest never
replaces data: the member keeps its last good snapshot, marked :data:`STALE`, and its age (computed from the
``now`` the caller passes) is reported by :meth:`SnapshotSet.status`.

Ordering is deterministic everywhere: members in the order given (configured order), then GUIDs ascending.
A GUID repeated within one member keeps its last record; across members, :func:`by_guid` answers the first
member's.

Responses follow Gen3 Aggregate MDS (``metadata-service`` ``src/mds/agg_mds/query.py`` and its datastore).
A record ("document") is ``{"gen3_discovery": study}``, the study carrying ``commons_name`` (the member's
name, set here whatever the mapping produced):

* :func:`list_commons` → ``{"commons": [name, ...]}`` (members with at least one record);
* :func:`metadata` → ``{commons: [{guid: document}, ...], ...}`` (only commons on the page, in member
  order); ``flatten`` → ``[{guid: document}, ...]``; ``pagination`` wraps either as
  ``{"results": ..., "pagination": {"hits", "offset", "pageSize", "pages"}}``; ``counts`` replaces each named
  top-level study field holding an array or object by its length and ``null`` by 0 (other values unchanged);
* :func:`by_commons` → ``[document, ...]`` (every record of one commons, no GUIDs, no paging);
* :func:`by_guid` → ``document``; :func:`commons_info` → ``{"commons_url": ...}``;
* :func:`tags` → ``{category: {"total": n, "names": [{name: n, ...}]}}``;
* :func:`info` → ``schema`` as ``{field: {type, description[, default]}}``, a member's info, or an extra entry.

A function answering ``None`` means "not found" (Aggregate MDS answers 404 ``{"message", "code": 404}``).

Paging: ``limit`` defaults to :data:`DEFAULT_LIMIT` (20, as Aggregate MDS) and is capped at
:data:`MAX_LIMIT` (2000, MDS's ``METADATA_QUERY_RESULTS_LIMIT``); ``pageSize`` reports the capped limit. A
negative ``limit`` or ``offset`` is a :class:`ValueError`. ``limit`` 0 gives an empty page and ``pages`` 0
(Aggregate MDS divides by zero there); an offset past the end gives an empty page with the true ``hits``.

Differences from Aggregate MDS, on purpose: ``tags`` lists every category and name (Elasticsearch's
``terms`` aggregation stops at 10); ``list_commons`` is in member order (not by record count);
``by_commons`` answers ``[]`` for a configured member without records (Aggregate MDS: 404) and ``None``
only for an unknown one; the variable-level ``data_dictionaries`` field is not carried.

Additions Aggregate MDS lacks (:func:`search`, same shapes as :func:`metadata`):

* full text ``q``: split into words (``\\w+``, case-folded); a record matches when every word is contained
  (as a substring) in the case-folded text of the record's string values (any depth, plus its GUID). Each
  snapshot's text is built once; a search is one pass over it, linear in the text size per word. ``q`` may
  hold at most :data:`MAX_QUERY_LENGTH` characters and :data:`MAX_QUERY_WORDS` words.
* field filters ``{path: value | [values]}``: ``path`` is a dotted path into the study; arrays met on the
  way are searched element by element, and an array at the end is searched element by element. A value
  matches when its text equals one of the wanted values' text (exact, case-sensitive; strings as is,
  numbers as JSON, booleans ``true``/``false``; a ``{name, category}`` tag object as ``category:name``, so
  ``{"tags": "Data Type:Genotype"}`` selects by tag). Values of one path OR, different paths AND (as MDS).
  Two paths under one array match independently (``tags.name`` and ``tags.category`` need not hit the
  same tag). At most :data:`MAX_FILTER_FIELDS` paths and :data:`MAX_FILTER_VALUES` values per path.

Tiered counts hook: every function returning documents takes ``count_hider`` and ``counted_fields``. With
a hider, each integer value of a ``counts`` field (after the length replacement) and of each field named in
``counted_fields`` (e.g. ``_subjects_count``) is replaced by ``count_hider(commons, guid, field, value)``.
When that is ``None`` the count is hidden: the study lists such fields, in order, in :data:`HIDDEN_COUNTS`
(``"_hidden_counts": ["_subjects_count"]``; absent when nothing is hidden), and :func:`search` filters see the
count as null (a filter on a hidden count never matches, so ``hits`` cannot reveal it; full text looks at
strings only). Without a hider, nothing is hidden.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from gateway.discovery.mapping.records import FieldSpec, schema_json
from gateway.discovery.mapping.value_filters import scalar_text

STUDY_FIELD = "gen3_discovery"
COMMONS_NAME = "commons_name"
DEFAULT_LIMIT = 20
MAX_LIMIT = 2000
MAX_QUERY_LENGTH = 1000
MAX_QUERY_WORDS = 32
MAX_FILTER_FIELDS = 32
MAX_FILTER_VALUES = 100
MAX_ERROR_LENGTH = 500

OK = "ok"
STALE = "stale"
ERROR = "error"
PENDING = "pending"
Status = Literal["ok", "stale", "error", "pending"]
STATUSES = (OK, STALE, ERROR, PENDING)
"""``ok``: the last harvest succeeded; ``stale``: it failed, the last good records are served; ``error``: no
harvest has ever succeeded (no records); ``pending``: none attempted yet."""

Study = Mapping[str, Any]
Document = dict[str, Any]
CountHider = Callable[[str, str, str, int], Any]
"""``(commons, guid, field, count) -> value shown``; see the module docstring."""

HIDDEN_COUNTS = "_hidden_counts"
EMPTY_HARVEST = "harvest returned no records; keeping the last good snapshot"

_WORD = re.compile(r"\w+")


# --- snapshots ------------------------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    """Every string value inside ``value`` (not keys), depth-first, without recursion."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, (list, tuple)):
            stack.extend(reversed(node))


@dataclass(frozen=True)
class Snapshot:
    """One member's served records and harvest state; immutable (treat the study dicts as read-only).

    On construction the records are keyed by GUID (a repeated GUID keeps its last record), sorted by GUID,
    and each study gets ``commons_name`` = :attr:`commons`.
    """

    commons: str
    records: tuple[tuple[str, Study], ...] = ()
    harvested_at: float | None = None
    """When the served records were harvested (seconds since the epoch); ``None``: never."""
    status: Status = OK
    error: str | None = None
    attempted_at: float | None = None
    """When the last harvest attempt ended, successful or not."""
    commons_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.commons, str) or not self.commons:
            raise ValueError("a snapshot needs a commons name")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        by_guid: dict[str, dict[str, Any]] = {}
        for item in self.records:
            guid, study = item
            if not isinstance(guid, str) or not guid:
                raise ValueError(f"{self.commons}: a record GUID must be a non-empty string")
            if not isinstance(study, Mapping):
                raise ValueError(f"{self.commons}: record {guid!r} is not an object")
            by_guid[guid] = {**study, COMMONS_NAME: self.commons}
        object.__setattr__(self, "records", tuple(sorted(by_guid.items())))
        if self.error is not None and len(self.error) > MAX_ERROR_LENGTH:
            object.__setattr__(self, "error", self.error[: MAX_ERROR_LENGTH - 1] + "…")

    def age(self, now: float) -> float | None:
        """Seconds since :attr:`harvested_at` (never negative); ``None`` if never harvested."""
        return None if self.harvested_at is None else max(0.0, now - self.harvested_at)

    @cached_property
    def index(self) -> Mapping[str, Study]:
        """GUID → study."""
        return dict(self.records)

    @cached_property
    def texts(self) -> tuple[str, ...]:
        """Per record (aligned with :attr:`records`): the case-folded text full-text search looks in."""
        return tuple("\n".join((guid, *_strings(study))).casefold() for guid, study in self.records)


@dataclass(frozen=True)
class SnapshotSet:
    """One snapshot per configured member, in configured order; immutable (every change is a new set)."""

    snapshots: tuple[Snapshot, ...] = ()

    def __post_init__(self) -> None:
        names = [s.commons for s in self.snapshots]
        if len(set(names)) != len(names):
            raise ValueError("member names must be unique")

    @classmethod
    def initial(cls, members: Sequence[str], commons_urls: Mapping[str, str] | None = None) -> SnapshotSet:
        """Every member :data:`PENDING`, without records."""
        urls = commons_urls or {}
        return cls(tuple(Snapshot(m, (), None, PENDING, commons_url=urls.get(m)) for m in members))

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(s.commons for s in self.snapshots)

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self.snapshots)

    def __len__(self) -> int:
        return len(self.snapshots)

    def get(self, commons: str) -> Snapshot | None:
        for s in self.snapshots:
            if s.commons == commons:
                return s
        return None

    def _with(self, snapshot: Snapshot) -> SnapshotSet:
        return SnapshotSet(tuple(snapshot if s.commons == snapshot.commons else s for s in self.snapshots))

    def _member(self, commons: str) -> Snapshot:
        found = self.get(commons)
        if found is None:
            raise KeyError(f"unknown member {commons!r}")
        return found

    def succeeded(self, commons: str, records: Iterable[tuple[str, Study]], harvested_at: float, *,
                  allow_empty: bool = False) -> SnapshotSet:
        """The set with ``commons``'s records replaced by a complete, successful harvest.

        A result older than the served one (``harvested_at`` earlier) is ignored. An empty harvest of a
        member that has records counts as a failure (:data:`EMPTY_HARVEST`) unless ``allow_empty``.
        """
        prev = self._member(commons)
        if prev.harvested_at is not None and harvested_at < prev.harvested_at:
            return self
        records = tuple(records)
        if not records and prev.records and not allow_empty:
            return self.failed(commons, EMPTY_HARVEST, harvested_at)
        return self._with(Snapshot(commons, records, harvested_at, OK, None, harvested_at, prev.commons_url))

    def failed(self, commons: str, error: str, attempted_at: float) -> SnapshotSet:
        """The set after a failed (or partial) harvest of ``commons``: its last good records stay, marked
        :data:`STALE`; a member never harvested becomes :data:`ERROR`. A failure older than the served
        harvest is ignored."""
        prev = self._member(commons)
        if prev.harvested_at is not None and attempted_at < prev.harvested_at:
            return self
        if prev.harvested_at is None:
            return self._with(Snapshot(commons, (), None, ERROR, error, attempted_at, prev.commons_url))
        return self._with(dataclasses.replace(prev, status=STALE, error=error, attempted_at=attempted_at))

    def status(self, now: float) -> list[dict[str, Any]]:
        """:func:`sources` of this set."""
        return sources(self, now)


def sources(snapshots: Iterable[Snapshot], now: float) -> list[dict[str, Any]]:
    """Per member: ``{commons, status, count, last_success, last_attempt, age, error}`` (times in seconds
    since the epoch, ``age`` in seconds since ``last_success``)."""
    return [
        {
            "commons": s.commons,
            "status": s.status,
            "count": len(s.records),
            "last_success": s.harvested_at,
            "last_attempt": s.attempted_at,
            "age": s.age(now),
            "error": s.error,
        }
        for s in snapshots
    ]


# --- presenting records ---------------------------------------------------------------------------------


def parse_counts(text: str | None) -> tuple[str, ...]:
    """``"a, b,,a"`` → ``("a", "b")`` (the ``counts`` query parameter)."""
    if not text:
        return ()
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


def _count(value: Any) -> Any:
    if value is None:
        return 0
    if isinstance(value, (list, dict)):
        return len(value)
    return value


@dataclass(frozen=True)
class _Presenter:
    counts: tuple[str, ...] = ()
    hider: CountHider | None = None
    counted: tuple[str, ...] = ()

    def __call__(self, commons: str, guid: str, study: Study) -> Document:
        if not self.counts and self.hider is None:
            return {STUDY_FIELD: study}
        out = dict(study)
        for name in self.counts:
            if name in out:
                out[name] = _count(out[name])
        if self.hider is not None:
            hidden = []
            for name in dict.fromkeys((*self.counts, *self.counted)):
                value = out.get(name)
                if isinstance(value, int) and not isinstance(value, bool):
                    out[name] = self.hider(commons, guid, name, value)
                    if out[name] is None:
                        hidden.append(name)
            if hidden:
                out[HIDDEN_COUNTS] = hidden
        return {STUDY_FIELD: out}

    def masked(self, commons: str, guid: str, study: Study) -> Study:
        """``study`` as filters may see it: each integer count the hider hides is ``None`` (so no filter matches
        it, and ``hits`` cannot reveal it)."""
        if self.hider is None:
            return study
        out = None
        for name in dict.fromkeys((*self.counts, *self.counted)):
            value = study.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            if self.hider(commons, guid, name, value) is None:
                out = dict(study) if out is None else out
                out[name] = None
        return study if out is None else out


def _presenter(counts: Iterable[str], count_hider: CountHider | None, counted_fields: Iterable[str]) -> _Presenter:
    counts = parse_counts(counts) if isinstance(counts, str) else tuple(dict.fromkeys(counts))
    return _Presenter(counts, count_hider, tuple(counted_fields) if count_hider is not None else ())


def _page_bounds(limit: int, offset: int) -> int:
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    return min(limit, MAX_LIMIT)


def _shape(rows: list[tuple[str, str, Document]], hits: int, limit: int, offset: int, flatten: bool,
           pagination: bool) -> Any:
    results: Any
    if flatten:
        results = [{guid: doc} for _, guid, doc in rows]
    else:
        results = {}
        for commons, guid, doc in rows:
            results.setdefault(commons, []).append({guid: doc})
    if not pagination:
        return results
    return {
        "results": results,
        "pagination": {
            "hits": hits,
            "offset": offset,
            "pageSize": limit,
            "pages": math.ceil(hits / limit) if limit else 0,
        },
    }


# --- Aggregate MDS endpoints ----------------------------------------------------------------------------


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
    limit = _page_bounds(limit, offset)
    present = _presenter(counts, count_hider, counted_fields)
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
    return _shape(rows, hits, limit, offset, flatten, pagination)


def by_commons(snapshots: Iterable[Snapshot], commons: str, *, count_hider: CountHider | None = None,
               counted_fields: Iterable[str] = ()) -> list[Document] | None:
    """``GET /aggregate/metadata/{commons}``: every document of that member; ``None`` for an unknown one."""
    present = _presenter((), count_hider, counted_fields)
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
            return _presenter((), count_hider, counted_fields)(s.commons, guid, study)
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
    for _, _, study in _matching(snapshots, query):
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


def info(snapshots: Iterable[Snapshot], what: str, *, schema: Mapping[str, FieldSpec] | None = None,
         extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any] | None:
    """``GET /aggregate/info/{what}``: ``schema`` → the common schema (:func:`mapping.schema_json`), a member
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


# --- search (an addition) -------------------------------------------------------------------------------


def _as_text(value: Any) -> str | None:
    """A leaf as filter text: :func:`~gateway.discovery.mapping.value_filters.scalar_text`, or a tag as
    ``category:name``."""
    text = scalar_text(value)
    if text is not None:
        return text
    if isinstance(value, dict) and isinstance(value.get("category"), str) and isinstance(value.get("name"), str):
        return f"{value['category']}:{value['name']}"
    return None


def _leaves(study: Study, path: tuple[str, ...]) -> Iterator[Any]:
    frontier: list[Any] = [study]
    for part in path:
        nxt: list[Any] = []
        for node in frontier:
            for item in node if isinstance(node, list) else (node,):
                if isinstance(item, dict) and part in item:
                    nxt.append(item[part])
        frontier = nxt
        if not frontier:
            return
    for value in frontier:
        if isinstance(value, list):
            yield from value
        else:
            yield value


@dataclass(frozen=True)
class Query:
    """A checked :func:`search` query (see the module docstring)."""

    words: tuple[str, ...] = ()
    filters: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = ()

    def matches(self, study: Study, text: str) -> bool:
        """Whether the study (with ``text``, its :attr:`Snapshot.texts` entry) passes."""
        for word in self.words:
            if word not in text:
                return False
        return all(any(_as_text(v) in wanted for v in _leaves(study, path)) for path, wanted in self.filters)


def compile_query(q: str | None, filters: Mapping[str, Any] | None) -> Query:
    """A :class:`Query`; :class:`ValueError` for one over the limits or with a bad filter."""
    words: tuple[str, ...] = ()
    if q is not None:
        if not isinstance(q, str):
            raise ValueError("q must be a string")
        if len(q) > MAX_QUERY_LENGTH:
            raise ValueError(f"q is longer than {MAX_QUERY_LENGTH} characters")
        words = tuple(dict.fromkeys(_WORD.findall(q.casefold())))
        if len(words) > MAX_QUERY_WORDS:
            raise ValueError(f"q has more than {MAX_QUERY_WORDS} words")
    compiled = []
    if filters:
        if len(filters) > MAX_FILTER_FIELDS:
            raise ValueError(f"more than {MAX_FILTER_FIELDS} filter fields")
        for field, wanted in filters.items():
            path = tuple(field.split(".")) if isinstance(field, str) else ()
            if not path or any(not p for p in path):
                raise ValueError(f"bad filter field {field!r}")
            values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            if not values or len(values) > MAX_FILTER_VALUES:
                raise ValueError(f"filter {field!r} needs 1 to {MAX_FILTER_VALUES} values")
            texts = set()
            for v in values:
                text = _as_text(v) if isinstance(v, (str, int, float)) else None
                if text is None:
                    raise ValueError(f"filter {field!r}: values are strings, numbers or booleans")
                texts.add(text)
            compiled.append((path, frozenset(texts)))
    return Query(words, tuple(compiled))


def _matching(snapshots: Iterable[Snapshot], query: Query,
              present: _Presenter | None = None) -> Iterator[tuple[str, str, Study]]:
    """``(commons, guid, study)`` of the records matching; with ``present``, filters see hidden counts as null."""
    masked = present is not None and present.hider is not None and bool(query.filters)
    for s in snapshots:
        if not query.words and not query.filters:
            for guid, study in s.records:
                yield s.commons, guid, study
            continue
        texts = s.texts if query.words else None
        for i, (guid, study) in enumerate(s.records):
            seen = present.masked(s.commons, guid, study) if masked and present is not None else study
            if query.matches(seen, texts[i] if texts is not None else ""):
                yield s.commons, guid, study


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
    """:func:`metadata` restricted to records matching ``q`` and ``filters`` (``hits`` counts matches)."""
    limit = _page_bounds(limit, offset)
    query = compile_query(q, filters)
    present = _presenter(counts, count_hider, counted_fields)
    rows: list[tuple[str, str, Document]] = []
    hits = 0
    for commons, guid, study in _matching(snapshots, query, present):
        if offset <= hits < offset + limit:
            rows.append((commons, guid, present(commons, guid, study)))
        hits += 1
    return _shape(rows, hits, limit, offset, flatten, pagination)
