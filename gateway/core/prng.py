"""Fast pseudo-random generators for what must be unique or fair but not secret (request ids, trace and span ids,
log sampling): a :class:`random.Random` seeded from ``os.urandom`` avoids a system call per draw.

Each is reseeded in every child forked after it was made (``os.register_at_fork``): ``gateway serve --workers N``
forks its workers from one parent that imported these modules, and a generator copied by ``fork`` would give every
worker the parent's sequence — the same request ids and trace ids for different requests.
"""

from __future__ import annotations

import os
import random


def seeded(seed_bytes: int = 32) -> random.Random:
    """A generator seeded from ``os.urandom(seed_bytes)``, reseeded so in each forked child."""
    generator = random.Random(os.urandom(seed_bytes))
    os.register_at_fork(after_in_child=lambda: generator.seed(os.urandom(seed_bytes)))
    return generator


__all__ = ["seeded"]
