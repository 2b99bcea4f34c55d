"""The app for ``hypercorn -k trio dersim_trio.asgi:app`` (the plain ASGI launch mode).

Flags come from the ``DERSIM_ARGS`` environment variable (the same flags as the command line,
e.g. ``DERSIM_ARGS="-d Batt -N 3"``; ``-wi``/``-wp`` are hypercorn's ``-b`` here). In this mode
hypercorn owns the sockets, so the telemetry stream is served by the quart-trio WebSocket route
(same contract, more CPU per message than the front door's fast path) and the tick loop runs in
the app's lifespan nursery (with the SunSpec Modbus server when ``--modbus_port`` is given).
Should the tick loop fail, the process exits at once (code 70)
rather than keep serving stale data.

Recommended hypercorn flag: ``--graceful-timeout 1`` (WebSocket streams never finish on their
own, so a shutdown otherwise waits the default 3 s). Idle keep-alive connections close after
hypercorn's keep-alive timeout (see ``web/asgi_shield.py`` for why that needed help).
This module also contains hypercorn#225 (one malformed upgrade request crashing the worker) by
guarding each connection, see ``hypercorn_bridge.install_connection_guard``.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from typing import Any

import trio

from dersim_trio.errors import ConfigError
from dersim_trio.service.logbuffer import InstalledHandler
from dersim_trio.service.run import ServiceParts, manage_gc, utc_now
from dersim_trio.setup.config import parse_args
from dersim_trio.web.hypercorn_bridge import install_connection_guard, install_websocket_rules

log = logging.getLogger("dersim_trio.Lab")

FAILED_EXIT_CODE = 70


def create_asgi_app(argv: list[str] | None = None, *, tune_gc: bool = True) -> Any:
    """Build the quart-trio app with its own tick loop (started by the ASGI lifespan).

    ``tune_gc`` applies ``service.manage_gc`` at start-up (process-wide: tests pass False).
    """
    if argv is None:
        argv = shlex.split(os.environ.get("DERSIM_ARGS", ""))
    try:
        parts = ServiceParts.assemble(parse_args(argv), utc_now(), started_trio_time=0.0)
    except ConfigError as exc:
        print(f"dersim-trio: error: DERSIM_ARGS: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app, hub, context = parts.app, parts.hub, parts.context
    install_connection_guard()
    install_websocket_rules()
    installed: list[InstalledHandler] = []

    async def run_ticks(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await parts.run_ticks(utc_now, task_status=task_status)
        except BaseException as exc:
            if isinstance(exc, trio.Cancelled):
                raise
            log.critical("tick loop failed; exiting so no stale data is served", exc_info=exc)
            hub.close_all()
            os._exit(FAILED_EXIT_CODE)

    @app.before_serving
    async def start_ticking() -> None:
        if tune_gc:
            manage_gc(fast_path=False)
        context.started_trio_time = trio.current_time()
        installed.append(parts.capture_logs())
        await app.nursery.start(run_ticks)
        if parts.config.modbus is not None:
            await app.nursery.start(parts.run_modbus)

    @app.after_serving
    async def stop_streams() -> None:
        hub.close_all()
        while installed:
            installed.pop().remove()

    return app


app = create_asgi_app()
