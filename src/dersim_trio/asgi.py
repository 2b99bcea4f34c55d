"""The app for ``hypercorn -k trio dersim_trio.asgi:app`` (the ASGI launch mode).

Flags come from the ``DERSIM_ARGS`` environment variable (the same flags as the command line,
e.g. ``DERSIM_ARGS="-d Batt -N 3"``; ``-wi``/``-wp`` are hypercorn's ``-b`` here). hypercorn
owns the listening socket and the worker; the app plugs the front door's routing into
hypercorn's own connection handling (``service/hypercorn_launch.py``, through
``web/hypercorn_bridge.py``), so telemetry upgrades are served by the same pre-framed
broadcaster as under ``dersim-trio`` and everything else by hypercorn and quart-trio as usual
(``--fast_path no`` in ``DERSIM_ARGS`` leaves the stream to the quart route). At shutdown every
telemetry client gets close 1001 and whatever is left after hypercorn's graceful timeout is
aborted. The tick loop runs in the app's lifespan nursery (with the SunSpec Modbus server when
``--modbus_port`` is given, the MQTT front end with ``--mqtt``); should it fail, the process
exits at once (code 70) rather than keep serving stale data.

Recommended command line (README "Under hypercorn"):
``hypercorn -k trio -w 0 -b 127.0.0.1:8111 --graceful-timeout 1 dersim_trio.asgi:app``; more
than one worker is refused (exit code 2). Connections that fail inside hypercorn (hypercorn#225:
one malformed upgrade request crashing the worker) are contained per connection.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from typing import Any

import trio

from dersim_trio.errors import ConfigError
from dersim_trio.service.hypercorn_launch import HypercornLaunch
from dersim_trio.service.logbuffer import InstalledHandler
from dersim_trio.service.run import ServiceParts, host_policy, manage_gc, utc_now
from dersim_trio.setup.config import parse_args
from dersim_trio.web.hypercorn_bridge import (
    install_connection_guard,
    install_websocket_rules,
    serve_in_hypercorn_worker,
)

log = logging.getLogger("dersim_trio.Lab")

FAILED_EXIT_CODE = 70


def create_asgi_app(argv: list[str] | None = None, *, tune_gc: bool = True) -> Any:
    """Build the quart-trio app with its own tick loop (started by the ASGI lifespan).

    ``tune_gc`` applies ``service.manage_gc`` at start-up (process-wide: tests pass False).
    Served by hypercorn's trio worker (the CLI, or ``hypercorn.trio.serve``), telemetry
    upgrades take the fast path unless ``--fast_path no``.
    """
    if argv is None:
        argv = shlex.split(os.environ.get("DERSIM_ARGS", ""))
    try:
        config = parse_args(argv)
        if config.listen_fd is not None or config.stop_on_stdin_close:
            flag = "--listen_fd" if config.listen_fd is not None else "--stop_on_stdin_close"
            raise ConfigError(f"{flag}: not under hypercorn, which owns the socket and process")
        parts = ServiceParts.assemble(
            config, utc_now(), started_trio_time=0.0, fast_path=config.fast_path
        )
    except ConfigError as exc:
        print(f"dersim-trio: error: DERSIM_ARGS: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app, hub, context = parts.app, parts.hub, parts.context
    install_connection_guard()
    install_websocket_rules()
    launch = HypercornLaunch(hub, fast_path=config.fast_path, hosts=host_policy(config))
    serve_in_hypercorn_worker(app, launch)
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
        context.started_trio_time = trio.current_time()
        installed.append(parts.capture_logs())
        await app.nursery.start(run_ticks)
        if parts.config.modbus is not None:
            await app.nursery.start(parts.run_modbus)
        if parts.mqtt is not None:
            await app.nursery.start(parts.run_mqtt)
        launch.start(app.nursery)
        if tune_gc:
            manage_gc(fast_path=config.fast_path, device_count=config.device_count)

    @app.after_serving
    async def stop_streams() -> None:
        hub.close_all()
        while installed:
            installed.pop().remove()

    return app


app = create_asgi_app()
