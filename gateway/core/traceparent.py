"""The W3C Trace Context ``traceparent`` header (https://www.w3.org/TR/trace-context/): its grammar, pure.

``traceparent: 00-<trace-id: 32 hex>-<parent-id: 16 hex>-<trace-flags: 2 hex>``, lowercase hex only. Rules kept:

* **Parsing is strict for version 00** (exactly 55 characters) and lenient for a future version (01–fe): its first
  four fields are read when the value is at least 55 characters and, if longer, the next character is ``-``.
  Version ``ff``, upper-case hex, an all-zero trace id or parent id, or any other shape is *invalid*: the caller
  starts a new trace rather than continue a broken one (:func:`parse` answers ``None``).
* **What is sent is always version 00** with the trace id kept, a parent id of our own, and the flags masked to the
  ones version 00 defines (``sampled``).
* **A trace the gateway starts is sampled** (flags ``01``): the gateway does not down-sample, so a member that samples
  by its parent's decision records the calls the gateway made.

Ids come from a PRNG seeded from the OS: they need to be unique, not secret (as request ids,
:mod:`gateway.web.requestid`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.core.prng import seeded

HEADER = "traceparent"
STATE_HEADER = "tracestate"
VERSION = "00"
SAMPLED = 0x01
MAX_STATE_CHARS = 512
"""A ``tracestate`` longer than this is not propagated (the spec lets a vendor drop what it cannot keep)."""

_V00 = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_FUTURE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16
_ids = seeded(32)


@dataclass(frozen=True, slots=True)
class TraceParent:
    """One span's place in a trace: the trace's id, the span's id (the *parent* of what it calls) and the flags."""

    trace_id: str
    span_id: str
    flags: int = SAMPLED

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    def header(self) -> str:
        """This span as a version-00 ``traceparent`` value: what a call made from this span sends."""
        return f"{VERSION}-{self.trace_id}-{self.span_id}-{self.flags & SAMPLED:02x}"

    def child(self) -> TraceParent:
        """A new span in the same trace, with the same flags."""
        return TraceParent(self.trace_id, new_span_id(), self.flags)


def parse(value: str | None) -> TraceParent | None:
    """The ``traceparent`` a caller sent, or ``None`` when absent or invalid (then a new trace is started)."""
    if not value:
        return None
    value = value.strip(" \t")
    match = _V00.match(value)
    if match:
        trace_id, parent_id, flags = match.groups()
    else:
        future = _FUTURE.match(value)
        if future is None or future.group(1) in ("00", "ff"):  # 00 must be exact; ff is never valid
            return None
        _, trace_id, parent_id, flags = future.groups()[:4]
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    return TraceParent(trace_id, parent_id, int(flags, 16) & SAMPLED)


def clean_state(value: str | None) -> str | None:
    """The ``tracestate`` to pass on unchanged, or ``None`` (absent, too long, or not printable ASCII)."""
    if not value or len(value) > MAX_STATE_CHARS or not value.isascii() or not value.isprintable():
        return None
    return value


def new_trace_id() -> str:
    """A random, non-zero 128-bit trace id in lowercase hex."""
    return f"{_ids.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    """A random, non-zero 64-bit span id in lowercase hex."""
    return f"{_ids.getrandbits(64) or 1:016x}"


def start() -> TraceParent:
    """The first span of a new, sampled trace."""
    return TraceParent(new_trace_id(), new_span_id(), SAMPLED)

