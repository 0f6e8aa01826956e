"""What a serving worker imports (issue 17: RSS per worker at most 80 MB idle): a gateway on SQLite and the in-process
cache, started as ``gateway serve`` starts it, never loads the Redis or PostgreSQL client libraries or fastavro (each
is loaded where it is first used: a Redis or PostgreSQL URL, a PFB written; those paths have their own tests). rich is
not checked: ``import httpx`` loads it for httpx's own CLI wherever click is installed (the test environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

NEVER_AT_IDLE = ("redis", "asyncpg", "fastavro", "gateway.cache.redis", "gateway.store.redis",
                 "gateway.store.postgres")

SCRIPT = """
import asyncio, json, sys
from gateway.cli import main  # what `gateway serve` imports before it builds the app
from gateway.app import create_app
from gateway.settings.gateway import Settings

async def run():
    app = await create_app(Settings(store={"url": "sqlite:///" + sys.argv[1]}, cache={"url": "memory://"},
                                    refcommons={"enabled": False}))
    loaded = sorted({name for name in sys.modules if name.split(".")[0] in json.loads(sys.argv[2])
                     or name in json.loads(sys.argv[2])})
    for cleanup in reversed(app.on_cleanup):
        await cleanup(app)
    print(json.dumps(loaded))

asyncio.run(run())
"""


def loaded_modules(tmp_path: Path, script: str, names: tuple[str, ...]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "g.sqlite3"), json.dumps(names)],
                         check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_worker_on_sqlite_and_the_memory_cache_loads_no_unused_backend(tmp_path):
    assert loaded_modules(tmp_path, SCRIPT, NEVER_AT_IDLE) == []

