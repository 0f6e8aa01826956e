"""The reference commons' Guppy "indices" (``subject`` and ``file``), built from its dataset as Gen3's ETL
would flatten them, and what Guppy computes over them: selection, sort and pages, ``_totalCount``, text and
numeric histograms, and the ``regular`` tier-access rules (:func:`plan`, :func:`hide_total`,
:func:`hide_buckets`). Pure, in memory.

Every row carries ``auth_resource_path`` (:data:`AUTH_FIELD`), the Gen3 authz resource its data sits under.
A field a row lacks (a subject's ``consent`` in the open project, a project-level file's ``subject_id``) is
missing, and counts as :data:`~gateway.wire.guppy.MISSING_DATA_ALIAS` in text histograms.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.wire.guppy import MISSING_DATA_ALIAS
from refcommons.guppy.filter import FieldKind, Filter, matches, values_of
from refcommons.model import Dataset
from refcommons.settings import TierLevel

AUTH_FIELD = "auth_resource_path"
ENCRYPT_COUNT = -1
"""What a hidden count reads as (Guppy's ``ENCRYPT_COUNT``)."""
MAX_WINDOW = 10_000
"""Most ``offset + first`` a raw query may reach (Elasticsearch's window; larger needs ``/download``)."""
DEFAULT_FIRST = 10
OUT_OF_SCOPE = ("You don't have access to all the data you are querying. "
                "Try using 'accessibility: accessible' in your query")

GqlType = Literal["String", "Int", "Float"]
Accessibility = Literal["all", "accessible", "unaccessible"]
Row = Mapping[str, Any]
ACCESSIBILITIES: tuple[Accessibility, ...] = ("all", "accessible", "unaccessible")


class QueryError(ValueError):
    """A bad sort, page or histogram argument (Guppy's ``BAD_USER_INPUT``)."""


class OutOfScope(Exception):
    """A raw-row request touches data the caller may not read (Guppy's 401)."""

    def __init__(self) -> None:
        super().__init__(OUT_OF_SCOPE)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    gql: GqlType
    """``Int``/``Float`` are number fields (``long`` maps to ``Float``, as in Guppy); ``String`` is text."""

    @property
    def kind(self) -> FieldKind:
        return "text" if self.gql == "String" else "number"


@dataclass(frozen=True)
class GuppyIndex:
    type: str
    """The Guppy type (GraphQL field name): ``subject`` or ``file``."""
    index: str
    """The Elasticsearch index name Guppy would read it from."""
    fields: tuple[Field, ...]
    rows: tuple[Row, ...]
    _by_name: dict[str, Field] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    def field(self, name: str) -> Field | None:
        return self._by_name.get(name)

    @property
    def kinds(self) -> dict[str, FieldKind]:
        return {f.name: f.kind for f in self.fields}

    def mapping(self) -> list[str]:
        """The field names, sorted (as Elasticsearch lists a mapping)."""
        return sorted(self._by_name)

    def resources(self) -> frozenset[str]:
        return frozenset(v for row in self.rows for v in values_of(row, AUTH_FIELD))

    def select(self, flt: Filter, within: frozenset[str] | None = None) -> list[Row]:
        """The rows matching ``flt`` whose :data:`AUTH_FIELD` is in ``within`` (``None``: any)."""
        return [r for r in self.rows if (within is None or r.get(AUTH_FIELD) in within) and matches(flt, r)]


# --- building the indices from the dataset ------------------------------------------------------------

SUBJECT_FIELDS = (
    Field("subject_id", "String"), Field("submitter_id", "String"), Field("project_id", "String"),
    Field(AUTH_FIELD, "String"), Field("consent", "String"), Field("sex", "String"), Field("population", "String"),
    Field("race", "String"), Field("ethnicity", "String"), Field("phenotype", "String"),
    Field("smoking_status", "String"), Field("age_at_enrollment", "Int"), Field("bmi", "Float"),
    Field("_samples_count", "Int"), Field("_files_count", "Int"),
)
FILE_FIELDS = (
    Field("object_id", "String"), Field("file_name", "String"), Field("file_size", "Float"),
    Field("md5sum", "String"), Field("data_format", "String"), Field("data_type", "String"),
    Field("data_category", "String"), Field("project_id", "String"), Field("subject_id", "String"),
    Field("sample_id", "String"), Field(AUTH_FIELD, "String"), Field("created_datetime", "String"),
)


def _present(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None and v != ""}


def subject_rows(dataset: Dataset) -> list[dict[str, Any]]:
    samples = Counter(s.subject_id for s in dataset.samples)
    files = Counter(f.subject_id for f in dataset.files if f.subject_id)
    projects = {p.project_id: p for p in dataset.projects}
    return [_present({
        "subject_id": s.id, "submitter_id": s.submitter_id, "project_id": s.project_id,
        AUTH_FIELD: projects[s.project_id].authz_for(s.consent), "consent": s.consent, "sex": s.sex,
        "population": s.population, "race": s.race, "ethnicity": s.ethnicity, "phenotype": s.phenotype,
        "smoking_status": s.smoking_status, "age_at_enrollment": s.age_at_enrollment, "bmi": s.bmi,
        "_samples_count": samples[s.id], "_files_count": files[s.id],
    }) for s in dataset.subjects]


def file_rows(dataset: Dataset) -> list[dict[str, Any]]:
    return [_present({
        "object_id": f.guid, "file_name": f.file_name, "file_size": f.size, "md5sum": f.md5,
        "data_format": f.data_format, "data_type": f.data_type, "data_category": f.data_category,
        "project_id": f.project_id, "subject_id": f.subject_id, "sample_id": f.sample_id, AUTH_FIELD: f.authz,
        "created_datetime": f.created_date,
    }) for f in dataset.files]


def build_indices(dataset: Dataset, name: str = "refcommons") -> dict[str, GuppyIndex]:
    """The ``subject`` and ``file`` indices of ``dataset`` (Elasticsearch names ``<name>-subject`` …)."""
    return {
        "subject": GuppyIndex("subject", f"{name}-subject", SUBJECT_FIELDS, tuple(subject_rows(dataset))),
        "file": GuppyIndex("file", f"{name}-file", FILE_FIELDS, tuple(file_rows(dataset))),
    }


# --- sort and pages -----------------------------------------------------------------------------------


def parse_sort(raw: object, index: GuppyIndex) -> list[tuple[str, bool]]:
    """Guppy's ``sort``: ``[{field: "asc"|"desc"}, ...]`` or ``{field: dir, ...}`` → ``[(field, descending)]``."""
    if raw is None:
        return []
    items = [{k: v} for k, v in raw.items()] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list):
        raise QueryError("Invalid sort argument")
    out: list[tuple[str, bool]] = []
    for item in items:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise QueryError("Invalid sort argument")
        name, method = next(iter(item.items()))
        if method not in ("asc", "desc") or index.field(name) is None:
            raise QueryError(f"Invalid sort argument: {name!r} {method!r}"[:200])
        out.append((name, method == "desc"))
    return out


def sort_rows(rows: Sequence[Row], keys: Sequence[tuple[str, bool]]) -> list[Row]:
    """``rows`` ordered by ``keys``; a missing value sorts last either way (Elasticsearch's ``_last``)."""
    out = list(rows)
    for name, descending in reversed(keys):
        have = [r for r in out if values_of(r, name)]
        lacking = [r for r in out if not values_of(r, name)]
        pick = max if descending else min
        have.sort(key=lambda r: pick(values_of(r, name)), reverse=descending)
        out = have + lacking
    return out


def page(rows: Sequence[Row], offset: int | None, first: int | None) -> list[Row]:
    start = 0 if offset is None else offset
    size = DEFAULT_FIRST if first is None else first
    if start < 0 or size < 0:
        raise QueryError("offset and first must not be negative")
    if start + size > MAX_WINDOW:
        raise QueryError(f"Large graphql query forbidden for offset + size > {MAX_WINDOW}, offset = {start} and "
                         f"size = {size}, please use download endpoint for large data queries instead.")
    return list(rows[start:start + size])


# --- aggregations -------------------------------------------------------------------------------------


def _key_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def text_histogram(
    rows: Iterable[Row], name: str, *, numeric: bool = False, include_missing: bool = True
) -> list[dict[str, Any]]:
    """``[{key, count}]`` by count, descending; ties by key, descending for text and ascending for numbers
    (Elasticsearch's composite order). Rows without a text value form a last :data:`MISSING_DATA_ALIAS`
    bucket (never for a number field, as in Guppy)."""
    counts: Counter[Any] = Counter()
    missing = 0
    for row in rows:
        present = set(values_of(row, name))
        counts.update(present)
        missing += not present
    ordered = sorted(counts, reverse=not numeric)
    buckets: list[dict[str, Any]] = [{"key": _key_text(k), "count": counts[k]} for k in ordered]
    buckets.sort(key=lambda b: -b["count"])
    if include_missing and missing and not numeric:
        buckets.append({"key": MISSING_DATA_ALIAS, "count": missing})
    return buckets


def sub_aggregations(
    rows: Sequence[Row], name: str, buckets: list[dict[str, Any]], terms_fields: Sequence[str],
    missing_fields: Sequence[str],
) -> list[dict[str, Any]]:
    """``buckets`` of ``name`` with Guppy's ``nestedAggFields``: per bucket, ``termsFields`` (each field's
    ``[{key, count}]`` within the bucket) and ``missingFields`` (how many of its rows lack each field)."""
    out = []
    for bucket in buckets:
        members = [r for r in rows if bucket["key"] in {_key_text(v) for v in values_of(r, name)}]
        terms = []
        for other in terms_fields:
            counts = Counter(_key_text(v) for r in members for v in set(values_of(r, other)))
            found = [{"key": k, "count": c} for k, c in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0]))]
            terms.append({"field": other, "count": sum(counts.values()), "terms": found or [{"key": None, "count": 0}]})
        missing = [{"field": f, "count": sum(1 for r in members if not values_of(r, f))} for f in missing_fields]
        out.append({**bucket, **({"termsFields": terms} if terms_fields else {}),
                    **({"missingFields": missing} if missing_fields else {})})
    return out


def field_count(rows: Iterable[Row], name: str) -> int:
    """How many values ``rows`` hold for ``name`` (Elasticsearch's ``value_count``)."""
    return sum(len(values_of(r, name)) for r in rows)


def cardinality(rows: Iterable[Row], name: str) -> int:
    return len({v for r in rows for v in values_of(r, name)})


def _numbers(rows: Iterable[Row], name: str) -> list[float]:
    return [float(v) for r in rows for v in values_of(r, name) if isinstance(v, int | float)]


def _stats(key: list[float | None], values: list[float]) -> dict[str, Any]:
    return {"key": key, "count": len(values), "min": min(values, default=None), "max": max(values, default=None),
            "avg": sum(values) / len(values) if values else None, "sum": sum(values)}


def numeric_histogram(
    rows: Iterable[Row], name: str, *, range_start: float | None = None, range_end: float | None = None,
    range_step: float | None = None, bin_count: int | None = None,
) -> list[dict[str, Any]]:
    """Guppy's numeric ``histogram``: one ``[min, max]`` stats bucket by default; ``rangeStep`` gives buckets
    ``[k, k + step)`` aligned on ``rangeStart`` (else on multiples of the step) from the first to the last
    value present, empty ones included; ``binCount`` splits ``[rangeStart or min, rangeEnd or max + 1)``."""
    if range_step is not None and range_step <= 0:
        raise QueryError(f"Invalid rangeStep {range_step}")
    if range_start is not None and range_end is not None and range_start > range_end:
        raise QueryError(f"Invalid rangeStart ({range_start}) > rangeEnd ({range_end})")
    if bin_count is not None and bin_count <= 0:
        raise QueryError(f"Invalid binCount {bin_count}")
    if range_step is not None and bin_count is not None:
        raise QueryError('Invalid to set "rangeStep" and "binCount" at same time')
    values = [v for v in _numbers(rows, name) if (range_start is None or v >= range_start)
              and (range_end is None or v < range_end)]
    if range_step is None and bin_count is None:
        low = range_start if range_start is not None else min(values, default=None)
        high = range_end if range_end is not None else max(values, default=None)
        return [_stats([low, high], values)]
    if bin_count is not None:
        if not values and (range_start is None or range_end is None):
            return []
        start = range_start if range_start is not None else min(values)
        end = range_end if range_end is not None else max(values) + 1
        range_step, range_start = (end - start) / bin_count, start
        if range_step <= 0:
            return []
    assert range_step is not None
    return _fixed_step(values, range_step, _offset(range_start, range_step))


def _offset(range_start: float | None, step: float) -> float:
    if range_start is None:
        return 0.0
    offset = range_start
    while offset - step > 0:
        offset -= step
    return offset


def _fixed_step(values: list[float], step: float, offset: float) -> list[dict[str, Any]]:
    if not values:
        return []

    def bucket_of(v: float) -> int:
        return int((v - offset) // step)

    first, last = bucket_of(min(values)), bucket_of(max(values))
    by_bucket: dict[int, list[float]] = {}
    for v in values:
        by_bucket.setdefault(bucket_of(v), []).append(v)
    return [_stats([offset + i * step, offset + (i + 1) * step], by_bucket.get(i, [])) for i in range(first, last + 1)]


def numeric_bucket_count(rows: Iterable[Row], name: str, key: Sequence[float | None], closed: bool) -> int:
    """How many of ``rows``' values fall in a numeric bucket ``key`` (``[low, high)``, ``[low, high]`` when
    ``closed``): the same bucket recounted over other rows."""
    low, high = key
    if low is None or high is None:
        return 0
    return sum(1 for v in _numbers(rows, name) if low <= v and (v <= high if closed else v < high))


# --- tiered access ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """The resources a caller may read (``accessible``) and the other resources the indices hold."""

    accessible: frozenset[str]
    unaccessible: frozenset[str]


@dataclass(frozen=True)
class Plan:
    within: Literal["accessible", "unaccessible"] | None
    """Which rows the request is narrowed to (``None``: as its filter says)."""
    encrypt: bool
    """Whether counts whose unaccessible part is small are hidden (:func:`hide_total`, :func:`hide_buckets`)."""


def plan(level: TierLevel, accessibility: Accessibility, out_of_scope: bool, *, raw: bool) -> Plan:
    """Guppy's tier-access decision for one index query. ``out_of_scope``: the filter's rows (before any
    narrowing) include some the caller may not read. Raises :class:`OutOfScope` for raw rows Guppy refuses."""
    if level == "libre":
        return Plan(None, False)
    if level == "private":
        return Plan("accessible", False)
    if accessibility == "accessible":
        return Plan("accessible" if out_of_scope else None, False)
    if raw and out_of_scope:
        raise OutOfScope
    return Plan("unaccessible" if accessibility == "unaccessible" else None, True)


def download_plan(level: TierLevel, accessibility: Accessibility, out_of_scope: bool) -> Plan:
    """Guppy's ``/download`` rule: ``private`` narrows to accessible rows; ``regular`` narrows for
    ``accessible`` and otherwise refuses (:class:`OutOfScope`) a filter touching other data; ``libre`` serves all."""
    if level == "libre":
        return Plan(None, False)
    if level == "private" or accessibility == "accessible":
        return Plan("accessible", False)
    if out_of_scope:
        raise OutOfScope
    return Plan(None, False)


def hidden(unaccessible_count: int, limit: int) -> bool:
    """Whether a count whose unaccessible part is ``unaccessible_count`` is hidden: that part is in ``(0, limit)``."""
    return 0 < unaccessible_count < limit


def hide_total(total: int, unaccessible_total: int, limit: int) -> int:
    """``total``, or :data:`ENCRYPT_COUNT` when its unaccessible part is in ``(0, limit)``."""
    return ENCRYPT_COUNT if hidden(unaccessible_total, limit) else total


def hide_buckets(
    buckets: list[dict[str, Any]], unaccessible: Mapping[str, int], limit: int, whitelist: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Guppy's ``hideNumberResolver`` for text buckets: a bucket whose key has an unaccessible count in
    ``(0, limit)`` becomes ``{key, count: -1}`` whole (its accessible part too), unless whitelisted."""
    allowed = {w.lower() for w in whitelist}
    return [
        {"key": b["key"], "count": ENCRYPT_COUNT}
        if str(b["key"]).lower() not in allowed and hidden(unaccessible.get(b["key"], 0), limit) else b
        for b in buckets
    ]
