"""Background services that live as long as the app: started when it starts, stopped at its cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web


class Background(Protocol):
    """A service with its own tasks (the health prober, the discovery harvester, the export jobs' sweeper)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


def run_with_app(app: web.Application, service: Background, *, start: bool = True) -> None:
    """Start ``service`` when ``app`` starts (unless ``start`` is false) and stop it at the app's cleanup."""

    async def running(_: web.Application) -> AsyncIterator[None]:
        if start:
            service.start()
        yield
        await service.stop()

    app.cleanup_ctx.append(running)
