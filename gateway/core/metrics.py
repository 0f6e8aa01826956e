"""The gateway's Prometheus metrics: every metric family in one place, one registry per app.

:class:`Metrics` defines the families (names, labels, buckets) on its own
:class:`prometheus_client.CollectorRegistry`, so many gateways in one process (the tests) never collide. The app
builds one (``metrics.enabled``; off: :data:`OFF`, whose methods do nothing) and binds it to the context of every
request (the web edge's middleware) and of its background tasks (:func:`bind`). Every layer records through
:func:`current` with a one-liner (``current().cache_lookup("drs", hit)``): members, cache users, store, Passports,
resolver and export never hold the object.

Labels stay bounded: routes by their template (the aiohttp resource's canonical path, ``unmatched`` for a 404),
members by their registry id, caches by a fixed name given at the call site, outcomes from fixed sets.

Several worker processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts, emptied at every
deployment start), ``prometheus_client`` keeps values in files in that directory and :meth:`Metrics.exposition`
sums every process's files (gauges: the most recent value of a live process). Counters and histograms are counted in
memory and written to the files in batches (:mod:`gateway.core.metric_files`): another worker's counts show within
a quarter of a second. Only one app per process then: two
in one process would share and overwrite each other's value files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.core import metric_files

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404): never the raw path."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def multiprocess_dir() -> str | None:
    """The multiprocess directory when ``PROMETHEUS_MULTIPROC_DIR`` names one, else ``None``."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


def use_multiprocess_dir(path: str) -> None:
    """Count in ``path`` from now on (multiprocess mode), also in this already-started process: sets
    ``PROMETHEUS_MULTIPROC_DIR`` for the processes it starts and makes metrics created afterwards write files there
    (``prometheus_client`` chose its value class when it was imported). ``gateway serve --workers N`` calls it
    before it starts its workers."""
    os.environ[MULTIPROC_ENV] = path
    _count_in_files()


def _count_in_files() -> None:
    """Metrics created from now on keep their values in this process's file, counted in memory and written in
    batches (:mod:`gateway.core.metric_files`)."""
    from prometheus_client import values

    values.ValueClass = metric_files.value_class(os.getpid)


if multiprocess_dir() is not None:  # set before this process started: prometheus_client chose its own value class
    _count_in_files()


class Metrics:
    """The metric families of one gateway app, on their own registry."""

    enabled = True

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("gateway_http_requests", "HTTP requests served, by route template, method and status",
                                ["route", "method", "status"], registry=r)
        self.request_seconds = Histogram("gateway_http_request_duration_seconds",
                                         "Time to answer an HTTP request, by route template and method",
                                         ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.upstream_calls = Counter("gateway_upstream_calls", "Calls to members (retries included once), by member "
                                      "and outcome (HTTP status class, or the error kind)",
                                      ["member", "outcome"], registry=r)
        self.upstream_seconds = Histogram("gateway_upstream_call_duration_seconds",
                                          "Time of a call to a member, its retries included", ["member"],
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.upstream_errors = Counter("gateway_upstream_errors", "Calls to members that failed, by member and "
                                       "error kind", ["member", "kind"], registry=r)
        self.upstream_retries = Counter("gateway_upstream_retries", "Retried attempts of calls to members",
                                        ["member"], registry=r)
        self.member_healthy = Gauge("gateway_member_healthy", "1 when the member's last health probe passed, else 0",
                                    ["member"], registry=r, multiprocess_mode="mostrecent")
        self.breaker_open = Gauge("gateway_breaker_open", "1 while a circuit breaker is open (bypassing), else 0",
                                  ["breaker"], registry=r, multiprocess_mode="mostrecent")
        self.cache_lookups = Counter("gateway_cache_lookups", "Cache lookups, by cache and result (hit, miss)",
                                     ["cache", "result"], registry=r)
        self.passport_decisions = Counter("gateway_passport_decisions", "Passport admissions and per-member access "
                                          "decisions, by stage and outcome", ["stage", "outcome"], registry=r)
        self.fanout_members = Histogram("gateway_fanout_members", "Members asked at once by one fan-out, by kind",
                                        ["kind"], buckets=SIZE_BUCKETS, registry=r)
        self.bulk_ids = Histogram("gateway_bulk_ids", "Identifiers in one bulk request, by operation",
                                  ["operation"], buckets=SIZE_BUCKETS, registry=r)
        self.coalesced_ids = Histogram("gateway_coalesced_lookups", "Lookups the resolver queued while a member was "
                                       "busy and then sent in one call, by member", ["member"], buckets=SIZE_BUCKETS,
                                       registry=r)
        self.export_jobs = Counter("gateway_export_jobs", "Export jobs, by event (submitted, done, failed, "
                                   "cancelled)", ["event"], registry=r)
        self.store_seconds = Histogram("gateway_store_operation_duration_seconds", "Time of a store operation",
                                       ["operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.store_errors = Counter("gateway_store_errors", "Store operations that failed (the backend did not "
                                    "answer)", ["operation"], registry=r)
        # the children of the hot families by their labels (bounded, as the labels are): a plain dict read per
        # request instead of prometheus_client's locked lookup
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._cache_children: dict[tuple[str, bool], Any] = {}
        self._store_children: dict[str, Any] = {}
        self._upstream_children: dict[tuple[str, str], tuple[Any, Any]] = {}

    # --- recording: one call per site --------------------------------------------------------------------------

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        children = self._request_children.get((route, method, status))
        if children is None:
            children = self._request_children[route, method, status] = (
                self.requests.labels(route, method, str(status)), self.request_seconds.labels(route, method))
        children[0].inc()
        children[1].observe(seconds)

    def upstream(self, member: str, outcome: str, seconds: float) -> None:
        children = self._upstream_children.get((member, outcome))
        if children is None:
            children = self._upstream_children[member, outcome] = (
                self.upstream_calls.labels(member, outcome), self.upstream_seconds.labels(member))
        children[0].inc()
        children[1].observe(seconds)

    def upstream_error(self, member: str, kind: str) -> None:
        self.upstream_errors.labels(member, kind).inc()

    def retry(self, member: str) -> None:
        self.upstream_retries.labels(member).inc()

    def health(self, member: str, healthy: bool) -> None:
        self.member_healthy.labels(member).set(1 if healthy else 0)

    def breaker(self, name: str, is_open: bool) -> None:
        self.breaker_open.labels(name).set(1 if is_open else 0)

    def cache_lookup(self, cache: str, hit: bool) -> None:
        child = self._cache_children.get((cache, hit))
        if child is None:
            child = self._cache_children[cache, hit] = self.cache_lookups.labels(cache, "hit" if hit else "miss")
        child.inc()

    def cache_lookups_many(self, cache: str, hits: int, misses: int) -> None:
        if hits:
            self.cache_lookups.labels(cache, "hit").inc(hits)
        if misses:
            self.cache_lookups.labels(cache, "miss").inc(misses)

    def passport(self, stage: str, outcome: str) -> None:
        self.passport_decisions.labels(stage, outcome).inc()

    def fanout(self, kind: str, members: int) -> None:
        self.fanout_members.labels(kind).observe(members)

    def bulk(self, operation: str, ids: int) -> None:
        self.bulk_ids.labels(operation).observe(ids)

    def coalesced(self, member: str, ids: int) -> None:
        self.coalesced_ids.labels(member).observe(ids)

    def export_job(self, event: str) -> None:
        self.export_jobs.labels(event).inc()

    def store(self, operation: str, seconds: float, failed: bool) -> None:
        child = self._store_children.get(operation)
        if child is None:
            child = self._store_children[operation] = self.store_seconds.labels(operation)
        child.observe(seconds)
        if failed:
            self.store_errors.labels(operation).inc()

    # --- exposition ---------------------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format of every family: this registry's values, or, in multiprocess mode, the sum
        over every process's value files."""
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        metric_files.flush()  # this process's own counts, exactly
        merged = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


class _Off(Metrics):
    """Metrics disabled (``metrics.enabled: false``, or no app bound): every recording does nothing."""

    enabled = False

    def __init__(self) -> None:  # no registry, no families
        pass

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        pass

    def upstream(self, member: str, outcome: str, seconds: float) -> None:
        pass

    def upstream_error(self, member: str, kind: str) -> None:
        pass

    def retry(self, member: str) -> None:
        pass

    def health(self, member: str, healthy: bool) -> None:
        pass

    def breaker(self, name: str, is_open: bool) -> None:
        pass

    def cache_lookup(self, cache: str, hit: bool) -> None:
        pass

    def cache_lookups_many(self, cache: str, hits: int, misses: int) -> None:
        pass

    def passport(self, stage: str, outcome: str) -> None:
        pass

    def fanout(self, kind: str, members: int) -> None:
        pass

    def bulk(self, operation: str, ids: int) -> None:
        pass

    def coalesced(self, member: str, ids: int) -> None:
        pass

    def export_job(self, event: str) -> None:
        pass

    def store(self, operation: str, seconds: float, failed: bool) -> None:
        pass

    def exposition(self) -> bytes:
        return b""


OFF: Metrics = _Off()
_current: ContextVar[Metrics] = ContextVar("gateway_metrics", default=OFF)


def current() -> Metrics:
    """The metrics of the app serving this context (:data:`OFF` outside any)."""
    return _current.get()


def bind(metrics: Metrics) -> None:
    """Make ``metrics`` the current ones in this context (a copied context for background tasks, the request's
    task at the web edge, which resets it with :func:`bound`)."""
    _current.set(metrics)


def bind_token(metrics: Metrics) -> Token[Metrics]:
    """Make ``metrics`` current in this context until :func:`unbind` with the token answered (what :func:`bound` does,
    without a context manager object: the web edge's per-request form)."""
    return _current.set(metrics)


def unbind(token: Token[Metrics]) -> None:
    _current.reset(token)


@contextmanager
def bound(metrics: Metrics) -> Iterator[None]:
    """``metrics`` current inside the block, the previous ones again after it."""
    token = _current.set(metrics)
    try:
        yield
    finally:
        _current.reset(token)

