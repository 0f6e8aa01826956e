"""A budget of bytes held at once: the in-flight byte budget of member answers being read.

:class:`ByteBudget` counts bytes taken and not yet given back against a ``limit``. :meth:`ByteBudget.take` never
waits: what does not fit is refused at once (:class:`OverBudget`), so a caller fails fast (the gateway answers 503
with ``Retry-After``) instead of holding a connection and its memory while it waits for others to finish. Plain
data, no I/O, no locks: every taker runs on one event loop, and taking or giving back never awaits.
"""

from __future__ import annotations


class OverBudget(Exception):
    """``wanted`` more bytes did not fit in a budget of ``limit`` (``held`` already taken)."""

    def __init__(self, wanted: int, held: int, limit: int) -> None:
        super().__init__(f"{wanted} more bytes do not fit: {held} of {limit} held")
        self.wanted = wanted
        self.held = held
        self.limit = limit


class ByteBudget:
    """At most ``limit`` bytes held at once, by every taker together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> None:
        """Hold ``size`` more bytes, or :class:`OverBudget` (nothing taken)."""
        if self.held + size > self.limit:
            raise OverBudget(size, self.held, self.limit)
        self.held += size

    def give(self, size: int) -> None:
        """Give back ``size`` bytes taken before."""
        self.held = max(0, self.held - size)


_SHARED: dict[int, ByteBudget] = {}


def shared_budget(limit: int) -> ByteBudget:
    """The process's one budget of ``limit`` bytes: every caller configured with the same limit (in a gateway, every
    member client) shares its count."""
    budget = _SHARED.get(limit)
    if budget is None:
        budget = _SHARED[limit] = ByteBudget(limit)
    return budget
