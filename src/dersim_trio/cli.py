"""The ``dersim-trio`` command: flags → validated config → the service, with signal handling.

Exit codes: 0 after a graceful shutdown (SIGINT/SIGTERM or ``POST /api/dersim/stop``), 2 for a
bad flag or input file (one line on stderr naming the flag and what is allowed), 1 if the
simulator itself fails (the traceback is printed: a crashed tick loop never leaves a server
serving stale data).
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
import sys
from datetime import datetime

import trio

from dersim_trio.engine.core import Engine
from dersim_trio.errors import ConfigError
from dersim_trio.protocols.modbus.server import DESCRIPTOR_RESERVE, open_modbus_sockets
from dersim_trio.protocols.mqtt.link import tls_context
from dersim_trio.service.build import build_engine
from dersim_trio.service.run import RunningService, run_service, utc_now
from dersim_trio.setup.config import SimConfig, parse_args
from dersim_trio.setup.nameplates import list_profiles_text
from dersim_trio.web.fastpath.door import open_listener


def _configure_logging(level: str) -> None:
    """stderr shows ``--log_level`` and up; the Logs tab's buffer (installed by ``run_service``
    on the ``dersim_trio`` logger) keeps debug too, so the level is set on the console handler.
    """
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(getattr(logging, level))
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        handlers=[console],
    )
    logging.getLogger("dersim_trio.hypercorn").setLevel(logging.WARNING)


async def _main_async(
    config: SimConfig,
    engine: tuple[Engine, datetime],
    listen_socket: socket.socket,
    modbus_sockets: list[socket.socket] | None,
) -> None:
    async with trio.open_nursery() as nursery:

        async def serve(*, task_status: trio.TaskStatus[RunningService]) -> None:
            await run_service(
                config,
                listen_socket=listen_socket,
                modbus_sockets=modbus_sockets,
                fast_path=config.fast_path,
                prebuilt=engine,
                task_status=task_status,
            )
            # Stopped from inside (POST /api/dersim/stop): stop waiting for signals too.
            nursery.cancel_scope.cancel()

        service: RunningService = await nursery.start(serve)
        if config.stop_on_stdin_close:
            nursery.start_soon(_stop_when_stdin_closes, service)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logging.getLogger("dersim_trio.Lab").info(
                    "received %s", signal.Signals(signum).name
                )
                service.request_shutdown()
                break


async def _stop_when_stdin_closes(service: RunningService) -> None:
    """``--stop_on_stdin_close``: shut down once standard input reaches its end (the fleet
    supervisor holds the pipe's other end, so a shard stops when its supervisor is gone)."""
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stdin:
        while await stdin.receive_some(4096):
            pass
    logging.getLogger("dersim_trio.Lab").warning("standard input closed: shutting down")
    service.request_shutdown()


def _raise_open_file_limit() -> None:
    """Allow as many sockets as the hard limit permits (each client is one descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    """Run the simulator (or the ``watch``/``record`` tools); return the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "fleet":
        from dersim_trio.service.fleet import main as fleet_main

        return fleet_main(args[1:])
    if args and args[0] in ("watch", "record"):
        from dersim_trio.tools import (
            main as tools_main,  # the client stack loads only for the tools
        )

        return tools_main(args)
    try:
        config = parse_args(args)
        if config.list_profiles:
            print(list_profiles_text())
            return 0
        # device type, files and models are checked by building the engine before binding;
        # the service runs this engine (built once: for a large fleet it is most of start-up)
        started_wall = utc_now()
        engine = build_engine(config, started_wall)
        if config.mqtt is not None and config.mqtt.tls:
            tls_context(config.mqtt)  # an unreadable --mqtt_ca is a bad flag, not a crash
    except ConfigError as exc:
        print(f"dersim-trio: error: {exc}", file=sys.stderr)
        return 2
    _configure_logging(config.log_level)
    _raise_open_file_limit()
    try:
        sock = (
            open_listener(config.website_ip, config.website_port)
            if config.listen_fd is None
            else inherited_listener(config.listen_fd)
        )
    except OSError as exc:
        if config.listen_fd is not None:
            print(f"dersim-trio: error: --listen_fd: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(
            f"dersim-trio: error: --website_ip/--website_port: cannot listen on "
            f"{config.website_ip}:{config.website_port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    modbus_sockets = None
    if config.modbus is not None:
        try:
            modbus_sockets = _open_modbus(config)
        except (ConfigError, OSError) as exc:
            sock.close()
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"dersim-trio: error: {text}", file=sys.stderr)
            return 2
    trio.run(_main_async, config, (engine, started_wall), sock, modbus_sockets)
    return 0


def inherited_listener(fd: int) -> socket.socket:
    """The listening TCP socket inherited as descriptor ``fd`` (raises ``OSError`` when it is
    not one)."""
    sock = socket.socket(fileno=fd)
    try:
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_ACCEPTCONN
        ):
            raise OSError(f"descriptor {fd} is not a listening TCP socket")
    except BaseException:
        sock.detach()
        raise
    return sock


def _open_modbus(config: SimConfig) -> list[socket.socket]:
    """Bind every device's Modbus listener (raises ``ConfigError`` when N listeners cannot fit
    the open-file limit, ``OSError`` naming the port that cannot be bound)."""
    options = config.modbus
    assert options is not None
    n = config.device_count
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and n + DESCRIPTOR_RESERVE > soft:
        raise ConfigError(
            f"--modbus_port: {n} devices need {n} listening sockets plus {DESCRIPTOR_RESERVE} "
            f"descriptors for clients and files; the open-file limit is {soft} (raise it with "
            "ulimit -n, or use fewer devices)"
        )
    try:
        return open_modbus_sockets(options.ip, options.ports(n))
    except OSError as exc:
        raise OSError(
            exc.errno, f"--modbus_ip/--modbus_port: cannot listen on {exc.strerror or exc}"
        ) from None
