"""``GET /metrics``: the process's Prometheus registry in the text exposition format.

The registry is the service's own (``service/metrics.py``), never prometheus-client's global
one. The format follows the ``Accept`` header through prometheus-client's ``choose_encoder``:
the Prometheus text format 0.0.4 by default, OpenMetrics when the scraper asks for it. Reading
needs no token, like every GET.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from quart import Blueprint, Response, request


def metrics_blueprint(registry: CollectorRegistry) -> Blueprint:
    """``/metrics`` over ``registry``."""
    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics: ticks, tick timing, devices, fleet totals, clients, requests."""
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(registry), status=200, content_type=content_type)

    return bp
