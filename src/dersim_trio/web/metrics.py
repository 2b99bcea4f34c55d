"""HTTP requests by route, method and status for ``GET /metrics``, counted by the app itself.

``install_request_counter`` adds an ``after_request`` hook that adds one to a plain dict keyed by
(route template, method, status); ``RequestCounter.collect`` turns the dict into a Prometheus
counter at scrape time, so a request costs one dict update, not a labelled metric lookup. The
route is the rule's template (``/api/dersim/devices/<device_index:index>/controls``), never the
raw path, so the label set stays bounded whatever clients send; a request that matched no route
counts under ``(unmatched)``. Requests refused before the app (the Host rule's 421, ambiguous
framing) and the fast path's WebSocket upgrades do not pass through it; the telemetry stream has
its own counters (``dersim_websocket_subscribers``, ``dersim_messages_*``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from quart import Response, request
from quart_trio import QuartTrio

UNMATCHED_ROUTE = "(unmatched)"


class RequestCounter:
    """Answered HTTP requests by (route, method, status); a Prometheus collector."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def count(self, route: str, method: str, status: int) -> None:
        """One answered request."""
        self.counts[(route, method, str(status))] += 1

    def collect(self) -> Iterator[Metric]:
        """``dersim_http_requests_total{route, method, status}``."""
        family = CounterMetricFamily(
            "dersim_http_requests",
            "HTTP requests answered by the app, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        for labels, value in sorted(self.counts.items()):
            family.add_metric(list(labels), value)
        yield family


def install_request_counter(app: QuartTrio, counter: RequestCounter) -> None:
    """Count every response the app gives (error handlers' answers included)."""

    @app.after_request
    async def count_request(response: Response) -> Response:
        rule = request.url_rule
        counter.count(
            rule.rule if rule is not None else UNMATCHED_ROUTE, request.method, response.status_code
        )
        return response
