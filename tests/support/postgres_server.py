"""A PostgreSQL server a test owns, on its own free port and data directory under the test's tmp_path: stopped the
hard way (``pg_ctl stop -m immediate``: every backend killed at once, as in a crash) and restarted on the same port,
to produce a PostgreSQL outage for real. Importable as ``postgres_server`` (``tests/support/`` is on ``sys.path``).
Run as the ``postgres`` user when the tests run as root (PostgreSQL refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
from pathlib import Path

from servers import free_port


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb): .ci/postgres installs Debian's postgresql")
    return Path(initdb).parent


class OwnPostgres:
    """``initdb`` + ``pg_ctl start`` in ``directory``; :attr:`url` is its ``postgres`` database (trust auth)."""

    def __init__(self, directory: Path) -> None:
        self.bindir = _bindir()
        self.data = directory / "pgdata"
        self.port = free_port()
        self.data.mkdir(parents=True)
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            for path in (directory, self.data):
                shutil.chown(path, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "-N")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bindir / tool), *args], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        # fsync=off survives a server crash (the OS keeps the writes); synchronous_commit=off would not
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.data / "server.log"), "-o",
                  f"-h 127.0.0.1 -p {self.port} -k {self.data} -c fsync=off", "start")

    def stop(self) -> None:
        """Every backend killed at once (a crash, as far as clients can tell)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _pids(self) -> list[int]:
        """The postmaster and its children (every backend and helper of this server)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[1]) == postmaster:
                children.append(int(Path(stat).parent.name))
        return [postmaster, *children]

    def pause(self) -> None:
        """SIGSTOP every process of the server: connections stay open, nothing answers (a hung server)."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)
