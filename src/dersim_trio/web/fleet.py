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
from collections.abc import Iterator

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from quart import Response, request
from quart_trio import QuartTrio

from dersim_trio.api.fleet import FleetSummary, ShardStatus
from dersim_trio.service.fleet import FleetSupervisor
from dersim_trio.web.bodies import json_response
from dersim_trio.web.hosts import HostGuard, HostPolicy


def fleet_summary(supervisor: FleetSupervisor) -> FleetSummary:
    """The supervisor's shards as the ``/fleet`` body."""
    config = supervisor.options.config
    host = config.website_ip if ":" not in config.website_ip else f"[{config.website_ip}]"
    return FleetSummary(
        device_type=config.device_type,
        device_count=config.device_count,
        shard_count=len(supervisor.shards),
        seed=config.seed,
        shards=[
            ShardStatus(
                index=s.index,
                first_device=s.devices.start,
                device_count=len(s.devices),
                port=s.port,
                url=f"http://{host}:{s.port}",
                state=s.state,
                pid=s.pid,
                restarts=s.restarts,
                last_exit_code=s.last_exit_code,
            )
            for s in supervisor.shards
        ],
    )


class ShardCollector:
    """``dersim_fleet_shard_up``, ``dersim_fleet_shard_restarts_total`` and device counts."""

    def __init__(self, supervisor: FleetSupervisor) -> None:
        self._supervisor = supervisor

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
        for s in self._supervisor.shards:
            label = [str(s.index)]
            up.add_metric(label, 1 if s.state == "running" else 0)
            devices.add_metric(label, len(s.devices))
            restarts.add_metric(label, s.restarts)
        yield up
        yield devices
        yield restarts


def create_fleet_app(supervisor: FleetSupervisor, policy: HostPolicy) -> QuartTrio:
    """The summary app over ``supervisor``."""
    app = QuartTrio("dersim_trio.fleet", static_folder=None)
    app.asgi_app = HostGuard(app.asgi_app, policy)  # type: ignore[method-assign]
    registry = CollectorRegistry()
    registry.register(ShardCollector(supervisor))

    @app.get("/fleet")
    async def fleet() -> Response:
        """Every shard of the fleet."""
        return json_response(fleet_summary(supervisor))

    @app.get("/metrics")
    async def metrics() -> Response:
        """The shards as Prometheus metrics."""
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(registry), status=200, content_type=content_type)

    return app


async def serve_fleet_summary(
    supervisor: FleetSupervisor,
    sock: socket.socket,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the summary on the listening ``sock`` until cancelled; ``started`` with its port."""
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn closes the descriptor it gets
    config.accesslog = None
    config.errorlog = logging.getLogger("dersim_trio.hypercorn")
    config.graceful_timeout = 0.5
    options = supervisor.options.config
    policy = HostPolicy.for_server(options.website_ip, options.allowed_hosts)
    app = create_fleet_app(supervisor, policy)
    port: int = sock.getsockname()[1]
    task_status.started(port)
    await serve(app, config, mode="asgi")
