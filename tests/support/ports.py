"""Free TCP ports on 127.0.0.1 for the suite's servers: the one way every helper picks one.

A port the kernel hands out for ``bind(0)`` comes from its ephemeral range, the range every outgoing connection's
local port comes from too: between the check and the server's own bind, another process's connection (or another
xdist worker's server) could take it, and a test failed with "address already in use" (seen on a clean clone). So
ports are drawn below the ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``), each xdist worker from its
own slice, and checked free before they are handed out.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_FLOOR = 10_000


def _below_ephemeral() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _slice() -> tuple[int, int]:
    """This process's ports: its xdist worker's share of ``[_FLOOR, ephemeral start)``."""
    top = max(_below_ephemeral(), _FLOOR + 2_000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    width = (top - _FLOOR) // count
    low = _FLOOR + (index % count) * width
    return low, low + width


_draw = random.Random(os.getpid())


def free_port() -> int:
    """A port of this worker's slice nothing listens on or holds now."""
    low, high = _slice()
    for _ in range(500):
        port = _draw.randrange(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {low}..{high}")
