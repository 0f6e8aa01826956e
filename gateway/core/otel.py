"""OpenTelemetry spans, only when ``tracing.otlp_endpoint`` is set: a server span per request, a client span per
call to a member, exported in batches over OTLP/HTTP.

Zero cost when off: nothing here imports the SDK at module level. :func:`enable` (called by the app at start when an
endpoint is configured) imports it and installs the process's :class:`Spans`; until then :func:`active` answers
``None``, the web edge adds no middleware and :mod:`gateway.members.http` makes no span object, only the
``X-Request-Id`` and ``traceparent`` headers it sends anyway (:mod:`gateway.core.propagation`).

The ids are one: a span's parent is built from the request's :class:`~gateway.core.traceparent.TraceParent` (the
caller's, continued, or the gateway's own trace), and what the span gets as ids is what the next hop is told. So the
``traceparent`` a member receives names the client span of that call, whose parent is the request's server span,
whose parent is the caller's span. The ids come from the SDK's generator when enabled.

One process-wide pipeline (like OpenTelemetry's own global provider, which is *not* set: the gateway's tracer is its
own, so a library's instrumentation cannot double its spans): :func:`disable` flushes and shuts it down.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.core.traceparent import TraceParent

if TYPE_CHECKING:  # the SDK is imported by enable() only
    from opentelemetry.trace import Span, Tracer

_active: Spans | None = None


@dataclass
class Call:
    """The span of one call: its ids (what the next hop is sent) and its status, set once answered."""

    trace: TraceParent
    span: Span

    def answered(self, status: int) -> None:
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            from opentelemetry.trace import Status, StatusCode

            self.span.set_status(Status(StatusCode.ERROR))


class Spans:
    """An OTLP/HTTP span pipeline (batched, exported off the event loop by the SDK's worker thread)."""

    def __init__(self, endpoint: str, service_name: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self._tracer: Tracer = self._provider.get_tracer("gateway")

    @contextmanager
    def span(self, name: str, parent: TraceParent | None, *, server: bool, **attributes: Any) -> Iterator[Call]:
        """A span named ``name`` under ``parent`` (a remote or our own span; ``None``: a new trace), ended on exit.
        An exception escaping it marks the span an error by its type's name only (its text may quote a member's
        answer: the log, which redacts, tells the rest under the same request id)."""
        from opentelemetry.trace import (
            NonRecordingSpan,
            SpanContext,
            SpanKind,
            Status,
            StatusCode,
            TraceFlags,
            set_span_in_context,
        )

        context = None
        if parent is not None:
            context = set_span_in_context(NonRecordingSpan(SpanContext(
                int(parent.trace_id, 16), int(parent.span_id, 16), is_remote=server,
                trace_flags=TraceFlags(parent.flags))))
        kind = SpanKind.SERVER if server else SpanKind.CLIENT
        with self._tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes,
                                                record_exception=False, set_status_on_exception=False) as span:
            ids = span.get_span_context()
            try:
                yield Call(TraceParent(f"{ids.trace_id:032x}", f"{ids.span_id:016x}", int(ids.trace_flags)), span)
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    def shutdown(self) -> None:
        """Export what is pending and stop."""
        self._provider.shutdown()


def enable(endpoint: str, service_name: str) -> Spans:
    """Start the process's span pipeline (replacing, after shutting it down, any earlier one)."""
    global _active
    disable()
    _active = Spans(endpoint, service_name)
    return _active


def disable() -> None:
    """Flush and stop the process's span pipeline, if any."""
    global _active
    spans, _active = _active, None
    if spans is not None:
        spans.shutdown()


def active() -> Spans | None:
    """The process's span pipeline, or ``None`` (tracing off)."""
    return _active
