"""Per-member circuit breaking for the cohort search (process-local; the clock is injected).

After ``breaker.failures`` consecutive failures (errors and timeouts; an ``unsupported`` answer is an answer) a member
is skipped for ``breaker.cooldown`` seconds, reported ``error`` with ``circuit open``; then requests try it again,
and one success closes the circuit. Each replica keeps its own view of member health.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.core.metrics import current


@dataclass
class Breaker:
    """Per-member consecutive-failure counting with a cooldown (process-local)."""

    failures: int
    cooldown: float
    clock: Callable[[], float] = time.monotonic
    _failed: dict[str, int] = field(default_factory=dict)
    _opened_at: dict[str, float] = field(default_factory=dict)

    def allows(self, member_id: str) -> bool:
        """Whether to ask the member now: closed, or open for ``cooldown`` already (then one trial goes through;
        while it runs, others go through too, which is harmless: they share its fate)."""
        opened = self._opened_at.get(member_id)
        return opened is None or self.clock() - opened >= self.cooldown

    def record(self, member_id: str, ok: bool) -> None:
        if ok:
            self._failed.pop(member_id, None)
            if self._opened_at.pop(member_id, None) is not None:
                current().breaker(f"search:{member_id}", False)
            return
        n = self._failed[member_id] = self._failed.get(member_id, 0) + 1
        if n >= self.failures:
            self._opened_at[member_id] = self.clock()
            current().breaker(f"search:{member_id}", True)

    def is_open(self, member_id: str) -> bool:
        return not self.allows(member_id)
