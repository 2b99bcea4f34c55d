"""The ``dersim-trio fleet`` supervisor's own HTTP server: ``GET /fleet`` (every shard's
devices, port, process and restarts, ``api/fleet.py``) and ``GET /metrics`` (the same as
Prometheus metrics), on ``--fleet_port``.

A small quart-trio app served by hypercorn's trio ``serve`` on the socket the supervisor
opened (hypercorn binds ``fd://``), behind the same Host rule as the simulator
(``web/hosts.py``). Read-only: the supervisor is stopped with SIGINT/SIGTERM.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from quart import Response, request
from quart_trio import QuartTrio

from dersim_trio.api.fleet import FleetSummary
from dersim_trio.web.bodies import json_response
from dersim_trio.web.hosts import HostGuard, HostPolicy


class ShardCollector:
    """``dersim_fleet_shard_up``, ``dersim_fleet_shard_restarts_total`` and device counts."""

    def __init__(self, summary: Callable[[], FleetSummary]) -> None:
        self._summary = summary

    def collect(self) -> Iterator[Metric]:
        """One sample per shard, labelled with its index."""
        up = GaugeMetricFamily(
            "dersim_fleet_shard_up", "1 while the shard's process runs, else 0.", labels=["shard"]
        )
        devices = GaugeMetricFamily(
            "dersim_fleet_shard_devices", "Devices the shard simulates.", labels=["shard"]
        )
        restarts = CounterMetricFamily(
            "dersim_fleet_shard_restarts",
            "Times the shard was started again after exiting.",
            labels=["shard"],
        )
        for s in self._summary().shards:
            label = [str(s.index)]
            up.add_metric(label, 1 if s.state == "running" else 0)
            devices.add_metric(label, s.device_count)
            restarts.add_metric(label, s.restarts)
        yield up
        yield devices
        yield restarts


def create_fleet_app(summary: Callable[[], FleetSummary], policy: HostPolicy) -> QuartTrio:
    """The summary app over ``summary`` (the supervisor's shards, now)."""
    app = QuartTrio("dersim_trio.fleet", static_folder=None)
    app.asgi_app = HostGuard(app.asgi_app, policy)  # type: ignore[method-assign]
    registry = CollectorRegistry()
    registry.register(ShardCollector(summary))

    @app.get("/fleet")
    async def fleet() -> Response:
        """Every shard of the fleet."""
        return json_response(summary())

    @app.get("/metrics")
    async def metrics() -> Response:
        """The shards as Prometheus metrics."""
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(registry), status=200, content_type=content_type)

    return app


async def serve_fleet_summary(
    summary: Callable[[], FleetSummary],
    sock: socket.socket,
    policy: HostPolicy,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the summary on the listening ``sock`` until cancelled; ``started`` with its port."""
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn closes the descriptor it gets
    config.accesslog = None
    config.errorlog = logging.getLogger("dersim_trio.hypercorn")
    config.graceful_timeout = 0.5
    app = create_fleet_app(summary, policy)
    port: int = sock.getsockname()[1]
    task_status.started(port)
    await serve(app, config, mode="asgi")
