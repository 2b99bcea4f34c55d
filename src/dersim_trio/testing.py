"""Run the whole simulator inside a test: ``run_simulator`` and the ``dersim`` pytest fixture.

The simulator is the real service (``run_service``: tick loop, front door, quart app) on a
real loopback socket (``127.0.0.1``, port 0), inside the test's own trio run. Under trio's
``MockClock`` with autojump (pytest-trio's ``autojump_clock`` fixture) the tick loop runs in
virtual time, so an hour of simulated operation takes a fraction of a second; with the real
clock it is an ordinary server. HTTP and WebSocket clients (``handle.client()``, httpx,
trio-websocket, a subprocess) talk to it exactly as to a production server. Use IP literals,
not ``localhost``, under ``MockClock`` (name resolution runs in a thread, and virtual time
races ahead of threads).

The ``dersim`` fixture is registered as a pytest plugin (entry point ``pytest11``), so it is
available wherever ``dersim-trio`` is installed. Pass simulator flags with a marker::

    @pytest.mark.dersim("-d", "Wind-T3-3Phase", "--periodic_time", "1.5")
    async def test_rotor_settles(dersim: SimulatorHandle, autojump_clock: MockClock) -> None:
        async with dersim.client() as api:
            await api.set_inputs(0, wind_speed_m_s=12.0)
        await dersim.advance(600)
        assert dersim.engine.tick == 400

With ``--modbus_port 0`` every device also serves SunSpec Modbus TCP on a free port of its own
(``handle.modbus_ports[i]``, kept across restarts), for a SunSpec client such as pysunspec2.

Runs are deterministic by default: the start is pinned to ``DEFAULT_START`` (2026-06-21
12:00:00 UTC) unless the flags set ``--start_date``/``--start_clock_time``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from dersim_trio.client import Backoff, DersimClient, Gap, TelemetryStream, open_telemetry
from dersim_trio.engine.core import Engine
from dersim_trio.protocols.modbus.server import open_modbus_sockets
from dersim_trio.service.hub import Hub
from dersim_trio.service.run import RunningService, run_service
from dersim_trio.setup.config import SimConfig, parse_args
from dersim_trio.web.fastpath.door import open_listener

__all__ = ["DEFAULT_START", "SimulatorHandle", "dersim", "run_simulator", "start_simulator"]

DEFAULT_START = datetime(2026, 6, 21, 12, 0, 0, tzinfo=UTC)
"""Simulator start (and the constant wall-clock reading) unless the flags say otherwise."""
STOP_TIMEOUT_S = 5.0


def _config(flags: tuple[str, ...]) -> SimConfig:
    pinned: list[str] = []
    if "--start_date" not in flags:
        pinned += ["--start_date", DEFAULT_START.date().isoformat()]
    if "--start_clock_time" not in flags:
        pinned += ["--start_clock_time", DEFAULT_START.strftime("%H:%M:%S")]
    return parse_args([*pinned, *flags, "--website_ip", "127.0.0.1", "--website_port", "0"])


class SimulatorHandle:
    """A simulator running in a test (from ``run_simulator``, ``start_simulator`` or the
    ``dersim`` fixture). ``stop``/``start``/``restart`` keep the same port, so clients can
    reconnect."""

    def __init__(
        self,
        nursery: trio.Nursery,
        config: SimConfig,
        *,
        fast_path: bool,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self._nursery = nursery
        self._fast_path = fast_path
        self._wall_clock = wall_clock
        self._service: RunningService | None = None
        self._done = trio.Event()
        self._port = 0
        self._modbus_ports: list[int] = []
        self.starts = 0
        """How many times the service was started (1 + restarts)."""

    # --- the running service ----------------------------------------------------------------
    @property
    def service(self) -> RunningService:
        """The running service (raises ``RuntimeError`` while stopped)."""
        if self._service is None:
            raise RuntimeError("the simulator is stopped")
        return self._service

    @property
    def running(self) -> bool:
        """True between ``start`` and ``stop``."""
        return self._service is not None

    @property
    def engine(self) -> Engine:
        """The running service's engine (devices, ``tick``)."""
        return self.service.engine

    @property
    def hub(self) -> Hub:
        """The running service's telemetry hub (``last``, ``statistics()``)."""
        return self.service.hub

    @property
    def port(self) -> int:
        """The TCP port (kept across restarts)."""
        return self._port

    @property
    def modbus_ports(self) -> list[int]:
        """Device *i*'s SunSpec Modbus TCP port (``--modbus_port``; kept across restarts)."""
        return list(self._modbus_ports)

    @property
    def http_url(self) -> str:
        """e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def ws_url(self) -> str:
        """The telemetry WebSocket URL (no device filter)."""
        return f"ws://127.0.0.1:{self._port}/api/dersim/ws/telemetry"

    # --- clients --------------------------------------------------------------------------
    def client(self, **kwargs: Any) -> DersimClient:
        """A ``DersimClient`` for this simulator (use it with ``async with``)."""
        return DersimClient(self.http_url, **kwargs)

    def telemetry(
        self,
        device: int | None = None,
        *,
        backoff: Backoff | None = None,
        on_gap: Callable[[Gap], None] | None = None,
    ) -> AbstractAsyncContextManager[TelemetryStream]:
        """``open_telemetry`` on this simulator."""
        return open_telemetry(self.http_url, device=device, backoff=backoff, on_gap=on_gap)

    # --- time -----------------------------------------------------------------------------
    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of trio time pass (instant under ``MockClock`` with autojump).

        Ticks due exactly at the end may or may not have run yet; use ``wait_ticks`` to be
        exact.
        """
        await trio.sleep(seconds)

    async def wait_ticks(self, n: int) -> int:
        """Wait until ``n`` more ticks have been published; return the tick now."""
        target = self.hub.last.tick + n
        while self.hub.last.tick < target:
            await self.hub.wait_published()
        return self.hub.last.tick

    # --- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the service (on the same port after a ``stop``); return once it serves."""
        if self._service is not None:
            raise RuntimeError("the simulator is already running")
        sock = open_listener("127.0.0.1", self._port)
        modbus = self.config.modbus
        modbus_sockets = None
        if modbus is not None:
            ports = self._modbus_ports or modbus.ports(self.config.device_count)
            try:
                modbus_sockets = open_modbus_sockets(modbus.ip, ports)
            except OSError:
                sock.close()
                raise
        done = trio.Event()

        async def run(*, task_status: trio.TaskStatus[RunningService]) -> None:
            try:
                await run_service(
                    self.config,
                    listen_socket=sock,
                    modbus_sockets=modbus_sockets,
                    wall_clock=self._wall_clock,
                    fast_path=self._fast_path,
                    freeze_gc=False,
                    task_status=task_status,
                )
            finally:
                sock.close()
                for listener in modbus_sockets or ():
                    listener.close()
                done.set()

        self._service = await self._nursery.start(run)
        self._done = done
        self._port = self._service.port
        self._modbus_ports = list(self._service.modbus_ports)
        self.starts += 1

    async def stop(self) -> None:
        """Shut down gracefully (clients get close 1001); return when the service ended."""
        service, self._service = self._service, None
        if service is None:
            return
        service.request_shutdown()
        with trio.fail_after(STOP_TIMEOUT_S):
            await self._done.wait()
        gc.collect()  # report a leaked socket against this test, not a later one

    async def restart(self, downtime_s: float = 0.0) -> None:
        """``stop``, wait ``downtime_s`` (trio time), ``start`` again on the same port.

        The new run starts from tick 0, like a restarted process.
        """
        await self.stop()
        await trio.sleep(downtime_s)
        await self.start()

    def drop_connections(self) -> int:
        """Reset (RST) every open client connection while the service keeps ticking."""
        return self.service.door.abort_all()


async def start_simulator(
    nursery: trio.Nursery,
    *flags: str,
    fast_path: bool = True,
    wall_clock: Callable[[], datetime] | None = None,
) -> SimulatorHandle:
    """Start a simulator with command-line ``flags`` in ``nursery``; stop it with ``stop()``.

    ``wall_clock`` is what the service reads as the real time (default: ``DEFAULT_START``,
    constant, so runs are reproducible).
    """
    handle = SimulatorHandle(
        nursery,
        _config(flags),
        fast_path=fast_path,
        wall_clock=wall_clock or (lambda: DEFAULT_START),
    )
    await handle.start()
    return handle


@asynccontextmanager
async def run_simulator(
    *flags: str,
    fast_path: bool = True,
    wall_clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[SimulatorHandle]:
    """Run a simulator with command-line ``flags`` for the ``async with`` body.

    Example::

        async with run_simulator("-d", "Batt", "-N", "2") as sim:
            async with sim.client() as api:
                print((await api.server_info()).device_count)
    """
    try:
        async with trio.open_nursery() as nursery:
            handle = await start_simulator(
                nursery, *flags, fast_path=fast_path, wall_clock=wall_clock
            )
            try:
                yield handle
            finally:
                with trio.CancelScope(shield=True):
                    await handle.stop()
    except BaseExceptionGroup as group:
        # the body's own exception, not wrapped by the nursery, when it is the only one
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``dersim`` marker."""
    config.addinivalue_line(
        "markers",
        "dersim(*flags, fast_path=True): command-line flags for the dersim fixture's simulator",
    )


@pytest.fixture
async def dersim(request: pytest.FixtureRequest) -> AsyncIterator[SimulatorHandle]:
    """A running simulator for this test (flags from ``@pytest.mark.dersim(...)``).

    Runs on the test's clock: add pytest-trio's ``autojump_clock`` to the test for virtual
    time. (pytest-trio runs this async fixture for trio tests: ``trio_mode`` or
    ``@pytest.mark.trio``.)
    """
    marker = request.node.get_closest_marker("dersim")
    flags: tuple[str, ...] = tuple(marker.args) if marker is not None else ()
    fast_path = bool(marker.kwargs.get("fast_path", True)) if marker is not None else True
    async with run_simulator(*flags, fast_path=fast_path) as sim:
        yield sim
