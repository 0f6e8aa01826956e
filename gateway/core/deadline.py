"""The deadline a whole operation runs under: an absolute point in ``time.monotonic()`` time, handed down to every
call the operation makes so that each caps its own timeouts by what is left (no stacked timeouts)."""

from __future__ import annotations

import time
from dataclasses import dataclass

BACKSTOP_GRACE = 0.05
"""How much later than the deadline a backstop timeout fires (:meth:`Deadline.backstop`)."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute point in ``time.monotonic()`` time by which a whole operation must finish."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (0 when passed)."""
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def within(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now, but never later than this one: a step's own deadline inside an
        operation's."""
        return Deadline(min(self.at, time.monotonic() + seconds))

    def cap(self, seconds: float) -> float:
        """``seconds``, but never beyond the deadline."""
        return min(seconds, self.remaining())

    def backstop(self) -> float:
        """Seconds for a backstop timeout around work that honours this deadline itself: a little past it, so that
        the work's own answer at the deadline (which names the member it was waiting for) wins the race."""
        return self.remaining() + BACKSTOP_GRACE
