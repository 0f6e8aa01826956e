"""``GET /metrics``: the gateway's Prometheus metrics in the text exposition format (``metrics.enabled``).

The families are defined in :mod:`gateway.core.metrics`; under several worker processes
(``PROMETHEUS_MULTIPROC_DIR``) every process's values are summed, so any worker answers for the deployment's
processes on this host.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.metrics import CONTENT_TYPE
from gateway.web.keys import METRICS
from gateway.web.openapi import operation

OPERATION_ID_PREFIX = "gateway.metrics"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()


@routes.get("/metrics")
@operation("Prometheus metrics of this gateway (text exposition format)", tags=("operations",),
           content="text/plain")
async def get_metrics(request: web.Request) -> web.Response:
    """Prometheus metrics."""
    return web.Response(body=request.app[METRICS].exposition(), headers={"Content-Type": CONTENT_TYPE})
