"""``dersim-trio fleet``: one fleet of ``-N`` devices simulated by K shard processes.

``dersim-trio fleet --shards K -N 100000 [every simulator flag]`` validates the flags once,
opens one listening socket per shard (shard k on ``-wp`` + k; every shard on a free port with
``-wp 0``) and one for its own summary (``--fleet_port``, default ``-wp`` + K), then runs shard
k as ``python -m dersim_trio [the same flags] --shard_index k --shard_count K --listen_fd FD
--stop_on_stdin_close yes``, each with ``trio.run_process`` in the supervisor's nursery:

* Shard k simulates the contiguous fleet indices [k·N // K, (k+1)·N // K) with the fleet's
  indices and seeds (device i uses ``--seed`` + i whatever the shard count), so the fleet is
  the same however it is sharded; its API takes and reports fleet indices.
* The listening sockets belong to the supervisor and are inherited by the shards (socket
  activation), so a shard's port never changes, not even across a restart, and clients that
  connect while a shard restarts wait in the listen backlog instead of being refused.
* A shard that exits on its own (a crash, a kill, its own ``POST /api/dersim/stop``) is started
  again after a back-off (``RESTART_BACKOFF_S``, doubling to ``RESTART_BACKOFF_MAX_S``, back to
  the start once a shard has run ``RESTART_RESET_S``); its devices come back with fresh state
  (tick 0, the start clock, the configured start energy).
* SIGINT or SIGTERM is forwarded to every shard (each shuts down gracefully: its WebSocket
  clients get close 1001); the supervisor exits 0 once every shard has exited 0 (1 if one did
  not, or had to be killed after ``STOP_GRACE_S``). Each shard's standard input is a pipe whose
  other end only the supervisor holds, so shards stop by themselves should the supervisor die.
* ``GET /fleet`` on the fleet port: every shard's devices, port, process id, state and restarts
  (``api/fleet.py``); ``GET /metrics`` there: the same as Prometheus gauges and counters.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, NoReturn

import trio

from dersim_trio.api.fleet import FleetSummary, ShardStatus
from dersim_trio.errors import ConfigError
from dersim_trio.service.build import build_engine
from dersim_trio.service.run import utc_now
from dersim_trio.setup.config import (
    MAX_SHARD_COUNT,
    HelpFormatter,
    SimConfig,
    parse_args,
    shard_slices,
)
from dersim_trio.web.hosts import HostPolicy

log = logging.getLogger("dersim_trio.Fleet")

RESTART_BACKOFF_S = 0.5
RESTART_BACKOFF_MAX_S = 30.0
RESTART_RESET_S = 60.0
"""A shard that ran this long before exiting is restarted after ``RESTART_BACKOFF_S`` again."""
STOP_GRACE_S = 15.0
"""How long shards may take to stop after the forwarded signal before they are killed."""
SUPERVISOR_FLAGS = ("--shard_index", "--shard_count", "--listen_fd", "--stop_on_stdin_close")
"""Flags the supervisor sets for each shard; refused on the ``fleet`` command line."""

ShardState = Literal["starting", "running", "restarting", "stopping", "stopped"]


@dataclass(slots=True)
class Shard:
    """One shard process as the supervisor sees it."""

    index: int
    devices: range
    sock: socket.socket
    state: ShardState = "starting"
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    started_at: float | None = None
    """trio time of the current process's start."""
    process: trio.Process | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        """The shard's HTTP/WebSocket port."""
        port: int = self.sock.getsockname()[1]
        return port


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """The ``fleet`` command line: the supervisor's own flags and the shards' flags."""

    shards: int
    fleet_port: int
    config: SimConfig
    """The whole fleet's configuration (validated as one simulator's)."""
    shard_argv: tuple[str, ...]
    """The flags every shard gets (before its own shard flags)."""


_FLEET_USAGE = "dersim-trio fleet --shards K [--fleet_port P] [simulator flags]"

_FLEET_EPILOG = """\
Every other flag is a simulator flag (dersim-trio --help) and is passed to every shard as
given, except --shard_index, --shard_count, --listen_fd and --stop_on_stdin_close, which the
supervisor sets for each shard. Shard k simulates the devices [k*N // K, (k+1)*N // K)
and serves on -wp + k (every shard on a free port with -wp 0).

A bad flag or file prints one line naming the flag and what is allowed and exits with code 2."""


def fleet_parser() -> argparse.ArgumentParser:
    """The supervisor's own flags (``dersim-trio fleet --help``)."""
    parser = _Parser(
        prog="dersim-trio fleet",
        usage=_FLEET_USAGE,
        description="Run the -N devices of one fleet in K shard processes, restarted when they\n"
        "exit, with a summary of the shards (GET /fleet, GET /metrics) on --fleet_port.",
        epilog=_FLEET_EPILOG,
        formatter_class=HelpFormatter,
        # the rest of the line is the simulator's: its --fleet is no --fleet_port abbreviated
        allow_abbrev=False,
    )
    parser.add_argument(
        "--shards",
        default="1",
        metavar="K",
        help=f"number of shard processes, 1..{MAX_SHARD_COUNT} and at most one per device",
    )
    parser.add_argument(
        "--fleet_port",
        default=None,
        metavar="P",
        help="port of the supervisor's summary, 0..65535; 0 picks a free one "
        "(default: -wp + K; a free port with -wp 0)",
    )
    return parser


def parse_fleet_args(argv: Sequence[str]) -> FleetOptions:
    """Validate the ``fleet`` command line (raises ``ConfigError`` with one line; ``-h`` or
    ``--help`` prints the supervisor's own help and raises ``SystemExit(0)``)."""
    ns, rest = fleet_parser().parse_known_args(list(argv))
    for flag in SUPERVISOR_FLAGS:
        if any(a == flag or a.startswith(flag + "=") for a in rest):
            raise ConfigError(f"{flag}: set by the fleet supervisor for each shard; leave it out")
    config = parse_args(rest)
    try:
        shards = int(ns.shards)
    except ValueError:
        shards = 0
    if not 1 <= shards <= min(MAX_SHARD_COUNT, config.device_count):
        raise ConfigError(
            f"--shards: must be an integer in [1, {min(MAX_SHARD_COUNT, config.device_count)}] "
            f"(at most one shard per device); got {ns.shards!r}"
        )
    if config.website_port and config.website_port + shards > 65535:
        raise ConfigError(f"--website_port: {shards} shards and the fleet port exceed 65535")
    default_fleet_port = config.website_port + shards if config.website_port else 0
    try:
        fleet_port = int(ns.fleet_port) if ns.fleet_port is not None else default_fleet_port
    except ValueError:
        fleet_port = -1
    if not 0 <= fleet_port <= 65535:
        raise ConfigError(f"--fleet_port: must be an integer in [0, 65535]; got {ns.fleet_port!r}")
    if config.website_port and config.website_port <= fleet_port < config.website_port + shards:
        raise ConfigError(
            f"--fleet_port: {fleet_port} is one of the shards' ports "
            f"{config.website_port}..{config.website_port + shards - 1}"
        )
    return FleetOptions(shards, fleet_port, config, tuple(rest))


def shard_command(options: FleetOptions, shard: Shard, fd: int) -> list[str]:
    """The command line of shard ``shard`` serving on inherited descriptor ``fd``."""
    return [
        sys.executable,
        "-m",
        "dersim_trio",
        *options.shard_argv,
        "--shard_index",
        str(shard.index),
        "--shard_count",
        str(options.shards),
        "--listen_fd",
        str(fd),
        "--stop_on_stdin_close",
        "yes",
    ]


class FleetSupervisor:
    """The shards of one fleet: starts, watches, restarts and stops them (see the module)."""

    def __init__(self, options: FleetOptions, sockets: Sequence[socket.socket]) -> None:
        self.options = options
        slices = shard_slices(options.config.device_count, options.shards)
        self.shards = [Shard(k, slices[k], sock) for k, sock in enumerate(sockets)]
        self._stopping = trio.Event()
        self._all_stopped = trio.Event()
        self._signal: int = signal.SIGTERM
        self.failed = False
        """True when a shard did not exit 0 after the stop signal (or had to be killed)."""

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stopping.is_set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every shard until ``stop``; returns when all have exited."""
        async with trio.open_nursery() as nursery:
            for shard in self.shards:
                nursery.start_soon(self._supervise, shard)
            task_status.started()
            await self._stopping.wait()
            with trio.move_on_after(STOP_GRACE_S):
                await self._all_stopped.wait()
            if not self._all_stopped.is_set():
                left = [s.index for s in self.shards if s.state != "stopped"]
                log.error("shard(s) %s did not stop within %g s: killing them", left, STOP_GRACE_S)
                self.failed = True
                nursery.cancel_scope.cancel()

    async def wait_stopped(self) -> None:
        """Wait until every shard has exited after ``stop``."""
        await self._all_stopped.wait()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Forward ``signum`` to every running shard and stop restarting them."""
        if self._stopping.is_set():
            return
        self._signal = signum
        self._stopping.set()
        for shard in self.shards:
            if shard.process is not None and shard.process.returncode is None:
                shard.state = "stopping"
                shard.process.send_signal(signum)
        self._check_all_stopped()

    def _check_all_stopped(self) -> None:
        if self._stopping.is_set() and all(
            s.process is None or s.process.returncode is not None for s in self.shards
        ):
            for s in self.shards:
                s.state = "stopped"
            self._all_stopped.set()

    async def _supervise(self, shard: Shard) -> None:
        backoff = RESTART_BACKOFF_S
        fd = shard.sock.fileno()
        while not self._stopping.is_set():
            read_end, write_end = os.pipe()
            try:
                async with trio.open_nursery() as nursery:
                    try:
                        process: trio.Process = await nursery.start(
                            partial(
                                trio.run_process,
                                shard_command(self.options, shard, fd),
                                stdin=read_end,
                                check=False,
                                pass_fds=(fd,),
                                start_new_session=True,  # a terminal's ^C reaches only us
                            )
                        )
                    finally:
                        os.close(read_end)
                    shard.process, shard.pid = process, process.pid
                    shard.started_at = trio.current_time()
                    shard.state = "running" if not self._stopping.is_set() else "stopping"
                    if self._stopping.is_set():  # the stop came while it was being started
                        process.send_signal(self._signal)
                    log.info(
                        "shard %d (devices %d..%d) running as pid %d on port %d",
                        shard.index,
                        shard.devices.start,
                        shard.devices.stop - 1,
                        process.pid,
                        shard.port,
                    )
                    code = await process.wait()
            finally:
                os.close(write_end)
            shard.last_exit_code = code
            if self._stopping.is_set():
                # a shard still starting has no signal handler yet: the forwarded signal's
                # default action ends it, which is a stop too
                if code not in (0, -self._signal):
                    log.error("shard %d exited with code %d while stopping", shard.index, code)
                    self.failed = True
                else:
                    log.info("shard %d stopped", shard.index)
                self._check_all_stopped()
                return
            ran_s = trio.current_time() - (shard.started_at or 0.0)
            if ran_s >= RESTART_RESET_S:
                backoff = RESTART_BACKOFF_S
            shard.state = "restarting"
            log.warning(
                "shard %d (devices %d..%d) exited with code %d; restarting in %g s",
                shard.index,
                shard.devices.start,
                shard.devices.stop - 1,
                code,
                backoff,
            )
            with trio.move_on_after(backoff):
                await self._stopping.wait()
            backoff = min(backoff * 2, RESTART_BACKOFF_MAX_S)
            if self._stopping.is_set():
                break
            shard.restarts += 1
        shard.state = "stopped"
        self._check_all_stopped()


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


async def run_fleet(
    options: FleetOptions, sockets: list[socket.socket], summary: socket.socket
) -> int:
    """Supervise the shards and serve the summary until SIGINT/SIGTERM; the exit code."""
    from dersim_trio.web.fleet import serve_fleet_summary  # quart and hypercorn load only here

    supervisor = FleetSupervisor(options, sockets)
    config = options.config
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            summary_scope = trio.CancelScope()

            async def summary_server(*, task_status: trio.TaskStatus[int]) -> None:
                with summary_scope:
                    await serve_fleet_summary(
                        partial(fleet_summary, supervisor),
                        summary,
                        HostPolicy.for_server(config.website_ip, config.allowed_hosts),
                        task_status=task_status,
                    )

            port = await nursery.start(summary_server)
            log.info(
                "fleet of %d x %s in %d shard(s) on ports %s; summary on http://%s:%d/fleet",
                options.config.device_count,
                options.config.device_type,
                options.shards,
                ", ".join(str(s.port) for s in supervisor.shards),
                options.config.website_ip,
                port,
            )
            async for signum in signals:
                log.info("received %s: stopping every shard", signal.Signals(signum).name)
                supervisor.stop(signum)
                break
            # run() returns once every shard has exited; then the summary server stops
            async with trio.open_nursery() as waiter:
                waiter.start_soon(_wait_then_cancel, supervisor, summary_scope)
    return 1 if supervisor.failed else 0


async def _wait_then_cancel(supervisor: FleetSupervisor, scope: trio.CancelScope) -> None:
    await supervisor.wait_stopped()
    scope.cancel()


def _open_sockets(options: FleetOptions) -> tuple[list[socket.socket], socket.socket]:
    from dersim_trio.web.fastpath.door import open_listener

    config = options.config
    opened: list[socket.socket] = []
    try:
        for k in range(options.shards):
            port = config.website_port + k if config.website_port else 0
            try:
                opened.append(open_listener(config.website_ip, port))
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"--website_port: shard {k} cannot listen on {config.website_ip}:{port}: "
                    f"{exc.strerror or exc}",
                ) from None
        try:
            summary = open_listener(config.website_ip, options.fleet_port)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"--fleet_port: cannot listen on {config.website_ip}:{options.fleet_port}: "
                f"{exc.strerror or exc}",
            ) from None
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return opened, summary


def main(argv: Sequence[str]) -> int:
    """``dersim-trio fleet ...``: the exit code (2 for a bad flag, one line on stderr)."""
    try:
        options = parse_fleet_args(argv)
        # the flags' files and models, checked once on one device before any shard starts
        build_engine(dataclasses.replace(options.config, device_count=1), utc_now())
    except ConfigError as exc:
        print(f"dersim-trio fleet: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, options.config.log_level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        sockets, summary = _open_sockets(options)
    except OSError as exc:
        print(f"dersim-trio fleet: error: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        return trio.run(run_fleet, options, sockets, summary)
    finally:
        for sock in (*sockets, summary):
            sock.close()
