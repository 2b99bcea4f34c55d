"""``GET /metrics``: the process's Prometheus registry in the text exposition format.

The registry is the service's own (``service/metrics.py``), never prometheus-client's global
one. With ``THREAD_SUM_MIN_DEVICES`` devices or more the fleet's sums (one pass over every
snapshot) run in a worker thread, one scrape's at a time, so the tick loop is not held up; the
rest of the scrape (counters read from records) is rendered on the trio thread. The format
follows the ``Accept`` header through prometheus-client's ``choose_encoder``: the Prometheus
text format 0.0.4 by default, OpenMetrics when the scraper asks for it. Reading needs no token,
like every GET.
"""

from __future__ import annotations

import trio
from prometheus_client.exposition import choose_encoder
from quart import Blueprint, Response, request

from dersim_trio.service.metrics import ServiceMetrics


def metrics_blueprint(service: ServiceMetrics) -> Blueprint:
    """``/metrics`` over the service's registry."""
    bp = Blueprint("metrics", __name__)
    one_sum_at_a_time = trio.CapacityLimiter(1)

    @bp.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics: ticks, tick timing, devices, fleet totals, clients, requests."""
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        totals = None
        if service.sums_in_thread:  # a large fleet: sum it beside the tick loop, not in it
            totals = await trio.to_thread.run_sync(service.fleet.totals, limiter=one_sum_at_a_time)
        return Response(service.render(encoder, totals), status=200, content_type=content_type)

    return bp
