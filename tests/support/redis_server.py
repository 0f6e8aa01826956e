"""A ``redis-server`` subprocess a test owns, on its own free port: killed with SIGKILL and restarted on the same
port, to produce a Redis outage for real (the ``own_redis`` fixture of ``tests/conftest.py``). Importable as
``redis_server`` (``tests/support/`` is on ``sys.path``).
"""

from __future__ import annotations

import signal
import subprocess
import time

import redis
from servers import free_port


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with redis.Redis(port=port, socket_connect_timeout=0.2) as client:
                if client.ping():
                    return proc
        except redis.RedisError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


class OwnRedis:
    """A redis-server subprocess this test owns: killed with SIGKILL and restarted on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = _start_redis(self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.proc = _start_redis(self.port)


__all__ = ["OwnRedis"]
