"""How a worker's metric values reach the shared files of multiprocess mode: counted in process memory, written in
batches.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) ``prometheus_client`` writes every change of every value to the
process's memory-mapped file at once: a lock, a ``getpid`` system call and a file write per value, four to six per
request (a request's counter and duration histogram, a member call's), about a tenth of a cached DRS hit's CPU.
:func:`value_class` makes ``prometheus_client``'s value class for this mode keep counters and histograms in plain
floats instead, each changed value remembered once until :func:`flush` writes it (through ``prometheus_client``'s
own value, so the files stay exactly its format). Gauges are written at once, as before (they are rare, and a
``mostrecent`` gauge carries its time).

:func:`flush` runs every :data:`FLUSH_INTERVAL` seconds while an app runs (:func:`metrics_flusher`), before this
process exposes ``/metrics`` (:meth:`gateway.core.metrics.Metrics.exposition`), when the app stops and when the
process exits. So ``/metrics`` shows the answering worker's own counts exactly and another worker's as of at most
:data:`FLUSH_INTERVAL` ago; a worker killed outright loses at most that much of its counts.

After a fork the child starts from its own file (as ``prometheus_client``'s own values do): nothing counted in the
parent is flushed by the child.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from typing import Any

from gateway.core.concurrency import while_running

FLUSH_INTERVAL = 0.25
"""Seconds a counted value may wait before it is written to the process's file."""
BUFFERED_TYPES = frozenset({"counter", "histogram", "summary"})
"""Value types counted in memory (gauges are written at once)."""

_changed: list[Any] = []
"""Values changed since the last :func:`flush`, each once."""
_values: list[Any] = []
"""Every buffered value of this process."""


def value_class(process_identifier: Callable[[], int]) -> type:
    """``prometheus_client``'s value class for multiprocess mode (``values.ValueClass``), counters and histograms
    buffered as the module says; ``process_identifier`` as ``MultiProcessValue``'s."""
    from prometheus_client import values

    written = values.MultiProcessValue(process_identifier)  # type: ignore[no-untyped-call]

    class BufferedValue:
        """One value: in memory for counters and histograms, written through for gauges."""

        _multiprocess = True

        def __init__(self, typ: str, metric_name: str, name: str, labelnames: Any, labelvalues: Any, help_text: str,
                     multiprocess_mode: str = "", **kwargs: Any) -> None:
            self._file = written(typ, metric_name, name, labelnames, labelvalues, help_text,
                                 multiprocess_mode=multiprocess_mode, **kwargs)
            self._buffered = typ in BUFFERED_TYPES
            self._value: float = self._file.get()
            self._changed = False
            if self._buffered:
                _values.append(self)

        def inc(self, amount: float) -> None:
            if not self._buffered:
                self._file.inc(amount)
                return
            self._value += amount
            self._mark()

        def set(self, value: float, timestamp: float | None = None) -> None:
            if not self._buffered:
                self._file.set(value, timestamp)
                return
            self._value = value
            self._mark()

        def _mark(self) -> None:
            """Remembered for the next :func:`flush`, once."""
            if not self._changed:
                self._changed = True
                _changed.append(self)

        def get(self) -> float:
            return self._value if self._buffered else float(self._file.get())

        def set_exemplar(self, exemplar: Any) -> None:
            return None  # multiprocess mode keeps no exemplars

        def get_exemplar(self) -> None:
            return None

        def write(self) -> None:
            self._changed = False
            self._file.set(self._value)

        def restart(self) -> None:
            """In a forked child: start from the child's own file (read anew by ``prometheus_client``)."""
            self._changed = False
            self._value = self._file.get()

    return BufferedValue


def flush() -> None:
    """Write every value changed since the last flush to this process's file."""
    while _changed:
        pending = _changed[:]
        _changed.clear()
        for value in pending:
            value.write()


def _forked() -> None:
    _changed.clear()  # the parent's counts are the parent's to write
    for value in _values:
        value.restart()


os.register_at_fork(after_in_child=_forked)
atexit.register(flush)  # a process that ends normally writes what it counted, app or not


metrics_flusher = while_running(FLUSH_INTERVAL, flush)
"""An aiohttp ``cleanup_ctx``: counted values are written at least every :data:`FLUSH_INTERVAL` seconds while the
app runs, and when it stops."""
