"""A circuit breaker: the pure state machine that decides whether a call to a failing backend is tried at all.

``closed`` (normal): every call is tried; ``threshold`` consecutive failures open it. ``open``: no call is tried
until ``cooldown`` seconds have passed since it opened; then it is ``half_open``: exactly one call (the probe) is
let through, and its outcome closes the breaker (success) or opens it again for another cool-down (failure).
A success in any state resets the count of consecutive failures.

The breaker is per process: it describes this process's view of its own connection, so replicas need not agree.
It holds no I/O and reads time only from the injected ``clock``; :meth:`allow`, :meth:`succeeded` and
:meth:`failed` return the state change they caused (or ``None``), so the caller logs once per change, never per
call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change: from ``before`` to ``after``, and the consecutive failures counted when it happened."""

    before: State
    after: State
    failures: int


@dataclass(eq=False)
class Breaker:
    """Opens after ``threshold`` consecutive failures; lets one probe through every ``cooldown`` seconds."""

    threshold: int = 5
    cooldown: float = 5.0
    clock: Callable[[], float] = time.monotonic
    state: State = field(default="closed", init=False)
    failures: int = field(default=0, init=False)
    opened_at: float = field(default=0.0, init=False)
    probing: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"threshold must be at least 1, not {self.threshold}")
        if self.cooldown <= 0:
            raise ValueError(f"cooldown must be positive, not {self.cooldown}")

    def _move(self, after: State) -> Transition | None:
        before = self.state
        if before == after:
            return None
        self.state = after
        return Transition(before, after, self.failures)

    def allow(self) -> tuple[bool, Transition | None]:
        """Whether to try the call now (and the state change deciding that caused). While ``half_open`` only one
        call at a time is let through: the probe; the caller reports its outcome."""
        if self.state == "closed":
            return True, None
        if self.state == "open":
            if self.clock() - self.opened_at < self.cooldown:
                return False, None
            change = self._move("half_open")
            self.probing = True
            return True, change
        if self.probing:  # half-open, probe in flight: everyone else is bypassed
            return False, None
        self.probing = True
        return True, None

    def succeeded(self) -> Transition | None:
        """A tried call worked: the breaker closes."""
        self.failures = 0
        self.probing = False
        return self._move("closed")

    def failed(self) -> Transition | None:
        """A tried call failed: the breaker opens at ``threshold`` consecutive failures, or at once after a
        failed probe."""
        self.failures += 1
        self.probing = False
        if self.state == "half_open" or self.failures >= self.threshold:
            self.opened_at = self.clock()
            return self._move("open")  # None when already open (a call let through before it opened)
        return None

    def released(self) -> None:
        """A tried call ended with no outcome (cancelled): while half-open, the next call is let through as the
        probe instead (otherwise a cancelled probe would keep the breaker bypassing for good)."""
        self.probing = False

    @property
    def bypassing(self) -> bool:
        """``True`` while calls are not tried (open, or half-open with the probe in flight)."""
        return self.state != "closed"


__all__ = ["Breaker", "State", "Transition"]
