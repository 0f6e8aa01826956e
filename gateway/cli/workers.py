"""``gateway serve --workers N``: N worker processes serving listening sockets the parent bound, supervised.

How: the parent binds one listening socket per worker *slot* (and per listener: HTTP, HTTPS), all on the same
port with ``SO_REUSEPORT``, so an instance that cannot listen starts nothing and fails once; then it ``fork``\\ s N
workers, slot ``i``'s worker serving slot ``i``'s sockets (``web.SockSite``). The kernel spreads *connections* evenly
over the slots' sockets (a hash of each connection's addresses). One shared socket instead would let whichever
worker wakes first accept a whole burst of connections (asyncio accepts up to its backlog per wake-up): behind a
load balancer's or a benchmark's long-lived keep-alive connections one worker then serves nearly everything while
the others idle (measured: 416 vs 42 CPU ticks). The parent keeps every slot's socket open, so a worker that dies
does not take its socket with it: connections the kernel queued there wait for the replacement (a worker of the
same slot, started after :func:`restart_delay`) instead of being reset. The parent never runs an event loop or
builds an app, so forking it again to replace a worker is safe.

The parent supervises:

* a worker that exits is started again after :func:`restart_delay` (0.5 s, doubling per consecutive failure at
  start, at most 10 s); a worker that exits within :data:`START_WINDOW` seconds of its start counts as failing at
  start, and after :data:`MAX_START_FAILURES` in a row the parent stops the others and exits 1 (a worker that
  cannot open the store, say, would otherwise be restarted forever);
* a worker dies with its parent (SIGKILL from the kernel when the parent is gone, :func:`_die_with`);
* SIGTERM and SIGINT are forwarded (as SIGTERM) to every worker; each stops accepting, lets in-flight requests
  finish (up to ``shutdown_timeout``), runs the app's cleanup and exits 0. The parent waits for them
  (``shutdown_timeout`` plus :data:`KILL_GRACE`, then SIGKILL) and exits 0 when all exited 0, else 1.

The restart rules are plain functions (:func:`restart_delay`, :func:`failed_at_start`) over plain data.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

START_WINDOW = 5.0
"""A worker that exits sooner than this after it was started failed at start."""
MAX_START_FAILURES = 5
"""Consecutive failures at start after which the parent gives up (exit 1)."""
KILL_GRACE = 5.0
"""Seconds past ``shutdown_timeout`` the parent waits for a stopping worker before SIGKILL."""
POLL = 0.05


def restart_delay(start_failures: int) -> float:
    """Seconds to wait before starting a worker again, after ``start_failures`` consecutive failures at start."""
    return min(0.5 * 2.0 ** max(start_failures - 1, 0), 10.0)


def failed_at_start(started: float, exited: float) -> bool:
    """Whether a worker started at ``started`` and gone at ``exited`` (monotonic seconds) failed at start."""
    return exited - started < START_WINDOW


def _say(message: str) -> None:
    print(f"gateway: {message}", file=sys.stderr, flush=True)


@dataclass
class Supervisor:
    """Runs ``count`` workers, slots ``0 … count-1``, each ``worker(slot)`` in a forked child (its return value is the
    child's exit code); a worker that exits is replaced by one of the same slot."""

    count: int
    worker: Callable[[int], int]
    shutdown_timeout: float
    children: dict[int, tuple[int, float]] = field(default_factory=dict)  # pid -> (slot, monotonic start time)
    start_failures: int = 0
    stopping: bool = False

    def _spawn(self, slot: int) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _die_with(parent)
                code = self.worker(slot)
            except BaseException:  # os._exit below would drop it silently: say what failed
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = (slot, time.monotonic())

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def run(self) -> int:
        """Start the workers, keep ``count`` of them running until SIGTERM/SIGINT, then stop them; the exit code."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _run(self) -> int:
        code = 0
        due: list[tuple[float, int]] = []  # (when, slot) of a replacement to start
        for slot in range(self.count):
            self._spawn(slot)
        while not self.stopping:
            now = time.monotonic()
            for pid, status, slot, started in self._reap():
                if failed_at_start(started, now):
                    self.start_failures += 1
                else:
                    self.start_failures = 0
                if self.start_failures >= MAX_START_FAILURES:
                    _say(f"workers keep exiting at start ({self.start_failures} in a row); stopping")
                    self.stopping, code = True, 1
                    break
                delay = restart_delay(self.start_failures)
                _say(f"worker {pid} exited ({_describe(status)}); starting another in {delay:g}s")
                due.append((now + delay, slot))
            if self.stopping:
                break
            for entry in [d for d in due if d[0] <= now]:
                due.remove(entry)
                self._spawn(entry[1])
            time.sleep(POLL)
        return max(code, self._stop_all())

    def _reap(self) -> list[tuple[int, int, int, float]]:
        """The workers that exited (pid, wait status, slot, start time), no longer in :attr:`children`."""
        gone = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:  # none left (reaped elsewhere): nothing to wait for
                self.children.clear()
                break
            if pid == 0:
                break
            if pid in self.children:
                gone.append((pid, status, *self.children.pop(pid)))
        return gone

    def _stop_all(self) -> int:
        """SIGTERM every worker, wait for them to drain and exit; 0 when all exited 0."""
        for pid in self.children:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.shutdown_timeout + KILL_GRACE
        code = 0
        while self.children:
            for pid, status, _, _ in self._reap():
                if os.waitstatus_to_exitcode(status) != 0:
                    _say(f"worker {pid} stopped with {_describe(status)}")
                    code = 1
            if time.monotonic() > deadline:
                for pid in self.children:
                    _say(f"worker {pid} did not stop within {self.shutdown_timeout:g}s; killing it")
                    _signal(pid, signal.SIGKILL)
                deadline = float("inf")
                code = 1
            time.sleep(POLL)
        return code


def _die_with(parent: int) -> None:
    """Have the kernel SIGKILL this worker when its parent dies (Linux ``PR_SET_PDEATHSIG``): a parent killed
    with SIGKILL takes its workers with it, as a single-process server would die, instead of leaving orphans
    serving (and heartbeating export jobs) on. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
