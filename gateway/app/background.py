"""Background services that live as long as the app: started when it starts, stopped at its cleanup."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web

from gateway.core.metrics import bind
from gateway.web.keys import METRICS


class Background(Protocol):
    """A service with its own tasks (the health prober, the discovery harvester, the export jobs' sweeper)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


def run_with_app(app: web.Application, service: Background, *, start: bool = True) -> None:
    """Start ``service`` when ``app`` starts (unless ``start`` is false) and stop it at the app's cleanup. Its
    tasks start in a context where the app's metrics are current (:mod:`gateway.core.metrics`)."""

    async def running(_: web.Application) -> AsyncIterator[None]:
        if start:
            context = contextvars.copy_context()
            context.run(bind, app[METRICS])
            context.run(service.start)
        yield
        await service.stop()

    app.cleanup_ctx.append(running)
