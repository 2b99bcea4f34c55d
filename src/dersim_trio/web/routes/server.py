"""``GET /api/dersim/server-info`` (version, run facts, broadcaster counters) and
``POST /api/dersim/stop`` (graceful shutdown of the whole service)."""

from __future__ import annotations

import dataclasses
import logging
import platform
from importlib import metadata

import trio
from quart import Blueprint, Response
from quart_schema import document_response

from dersim_trio import __version__
from dersim_trio.api.common import ErrorBody
from dersim_trio.api.server import HubStatisticsModel, ServerInfo, ShardInfo, StopAccepted
from dersim_trio.service.hub import Hub
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_response
from dersim_trio.web.context import ServerContext
from dersim_trio.web.http_errors import RequestError
from dersim_trio.web.routes import API_PREFIX

log = logging.getLogger("dersim_trio.API")


def _clock_time_of(payload_text: str) -> str:
    marker = '"clock_time":"'
    start = payload_text.find(marker) + len(marker)
    return payload_text[start : start + 8]


def server_blueprint(hub: Hub, context: ServerContext) -> Blueprint:
    """server-info over ``hub`` and ``context``; stop through ``context.request_shutdown``
    (None: stop answers 501)."""
    bp = tagged(Blueprint("server", __name__, url_prefix=API_PREFIX), "server")
    versions = {name: metadata.version(name) for name in ("trio", "hypercorn")}

    @bp.get("/server-info")
    @document_response(ServerInfo, 200)
    async def server_info() -> Response:
        """Version, build and run facts, with the broadcaster's counters."""
        stats = hub.statistics()
        last = hub.last
        info = ServerInfo(
            name="dersim-trio",
            version=__version__,
            python_version=platform.python_version(),
            trio_version=versions["trio"],
            hypercorn_version=versions["hypercorn"],
            device_type=context.device_type,
            device_count=context.device_count,
            first_device=hub.devices.start,
            shard=None
            if (shard := context.shard) is None
            else ShardInfo(
                index=shard.index,
                count=shard.count,
                first_device=shard.devices.start,
                fleet_device_count=shard.fleet_device_count,
            ),
            device_profile_name=context.device_profile_name,
            periodic_time_s=context.periodic_time_s,
            time_scale=context.time_scale,
            wall_clock=context.wall_clock,
            timezone=context.timezone,
            seed=context.seed,
            started_at=context.started_at,
            uptime_s=trio.current_time() - context.started_trio_time,
            tick=last.tick,
            clock_time=_clock_time_of(last.payload(0).decode()),
            fast_path=context.fast_path,
            statistics=HubStatisticsModel.model_validate(dataclasses.asdict(stats)),
        )
        return json_response(info)

    @bp.post("/stop")
    @document_response(StopAccepted, 202)
    @document_response(ErrorBody, 501)
    async def stop() -> Response:
        """Shut the server down gracefully.

        WebSocket clients get close 1001 and the process exits 0.

        Not available when the app runs under plain hypercorn (501): stop hypercorn instead.
        """
        if context.request_shutdown is None:
            raise RequestError(
                501,
                "not_implemented",
                "this server runs under plain hypercorn (dersim_trio.asgi), which owns the "
                "process: stop it with SIGTERM or SIGINT",
            )
        log.info("shutdown requested through POST /api/dersim/stop")
        context.request_shutdown()
        return json_response(StopAccepted(status="shutting down"), 202)

    return bp
