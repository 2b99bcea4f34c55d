"""Shared builders and fixtures for the telemetry-service tests.

Everything here is deterministic: configurations pin the simulator start
(``--start_date 2026-06-21 --start_clock_time 12:00:00``, solstice noon UTC) and the
wall-clock reading passed to ``build_engine`` is a constant, so two engines built from the same
flags produce identical bytes.

Two ways to run the service under test:

* ``InProcess`` (with pytest-trio's ``autojump_clock``): the quart app is driven through its
  test client, and the test starts ``service.tick_loop`` itself in the ``nursery`` fixture.
  Virtual time, no sockets, exact tick counts.
* ``start_service`` (real clock): ``run_service`` on a listening socket from
  ``open_listener("127.0.0.1", 0)``, started with ``nursery.start``; for the end-to-end tests
  that need real clients, resets and shutdown.
"""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
import trio
from quart_trio import QuartTrio

from dersim_trio.engine.core import Engine
from dersim_trio.service.build import build_engine
from dersim_trio.service.hub import Hub
from dersim_trio.service.run import RunningService, run_service, tick_loop
from dersim_trio.setup.config import SimConfig, parse_args
from dersim_trio.web.app import ServerContext, create_app
from dersim_trio.web.fastpath.door import open_listener
from launch_support import InProcessLaunch, Launched, ServerProcess

FIXED_WALL = datetime(2026, 6, 21, 12, 0, 0, tzinfo=UTC)
"""The wall-clock reading every test engine is built with (only used for defaults)."""

DETERMINISTIC_START = ["--start_date", "2026-06-21", "--start_clock_time", "12:00:00"]

WS_PATH = "/api/dersim/ws/telemetry"
WS_ALIAS_PATH = "/api/dersim/telemetry/ws"


def make_config(*flags: str) -> SimConfig:
    """A validated config with a pinned start (extra flags are appended, so they win)."""
    return parse_args([*DETERMINISTIC_START, *flags])


def make_engine(*flags: str) -> Engine:
    """An engine for ``make_config(*flags)`` built at ``FIXED_WALL``."""
    return build_engine(make_config(*flags), FIXED_WALL)


def make_context(config: SimConfig) -> ServerContext:
    """The run facts ``run_service`` would report for ``config``."""
    return ServerContext.for_run(config, FIXED_WALL, trio.current_time())


def tick_of(message: str | bytes) -> int:
    """The ``tick`` field of one WebSocket/HTTP snapshot message."""
    return int(json.loads(message)["tick"])


def device_of(message: str | bytes) -> int:
    """The ``device_index`` field of one snapshot message."""
    return int(json.loads(message)["device_index"])


@dataclass
class InProcess:
    """An app, its hub and engine, with the tick loop running in the test's nursery."""

    config: SimConfig
    engine: Engine
    hub: Hub
    app: QuartTrio

    @property
    def period(self) -> float:
        return self.config.periodic_time_s

    async def sleep_to_mid_tick(self, k: int) -> None:
        """Sleep (virtual) until a quarter period after tick k: never on a tick boundary."""
        await trio.sleep_until(self.t0 + k * self.period + self.period / 4)

    t0: float = 0.0


async def start_in_process(nursery: trio.Nursery, *flags: str) -> InProcess:
    """Build the app and start ``tick_loop`` in ``nursery`` (tick 0 is published on return)."""
    config = make_config(*flags)
    engine = build_engine(config, FIXED_WALL)
    hub = Hub(config.device_count)
    app = create_app(hub, make_context(config))
    t0 = trio.current_time()
    await nursery.start(partial(tick_loop, engine, hub, config.periodic_time_s))
    return InProcess(config, engine, hub, app, t0=t0)


@dataclass
class Served:
    """A started ``run_service``: its ``RunningService`` plus an event set when it returned.

    Attribute access falls through to the ``RunningService`` (``hub``, ``door``, ``port``,
    ``http_url``, ``request_shutdown``...).
    """

    service: RunningService
    done: trio.Event

    def __getattr__(self, name: str) -> Any:
        return getattr(self.service, name)


@pytest.fixture
async def start_service(
    nursery: trio.Nursery,
) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``svc = await start_service(*flags)`` runs ``run_service`` on 127.0.0.1:0.

    ``fast_path=False`` serves telemetry through the quart route instead of the door's
    pre-framed broadcaster. Returns a ``Served``. Every service still running at teardown is
    asked to shut down and must finish within 3 s.
    """
    started: list[Served] = []

    async def start(*flags: str, fast_path: bool = True) -> Served:
        config = make_config("-wi", "127.0.0.1", "-wp", "0", *flags)
        sock = open_listener("127.0.0.1", 0)
        done = trio.Event()

        async def run(*, task_status: trio.TaskStatus[RunningService]) -> None:
            try:
                await run_service(
                    config,
                    listen_socket=sock,
                    fast_path=fast_path,
                    freeze_gc=False,
                    task_status=task_status,
                )
            finally:
                sock.close()  # normally closed by the door already; not if the service crashed
                done.set()

        served = Served(await nursery.start(run), done)
        started.append(served)
        return served

    try:
        yield start
        for served in started:
            served.service.request_shutdown()
            with trio.fail_after(3):
                await served.done.wait()
    finally:
        gc.collect()  # report an unclosed socket against this test, not a later one


@pytest.fixture
async def start_launch(
    start_service: Callable[..., Any], tmp_path: Any
) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``svc = await start_launch(launch, *flags)`` under one of
    ``launch_support.LAUNCHES``: ``run_service`` with or without the fast path, or
    ``hypercorn -k trio dersim_trio.asgi:app`` as a real process. Returns a
    ``launch_support.Launched``. A process still running at teardown gets SIGTERM and must exit
    0 within 3 s; its log must hold no traceback.
    """
    processes: list[ServerProcess] = []

    async def start(launch: str, *flags: str) -> Launched:
        if launch == "hypercorn":
            log_path = tmp_path / f"hypercorn-{len(processes)}.log"
            process = ServerProcess.hypercorn((*DETERMINISTIC_START, *flags), log_path)
            processes.append(process)
            process.start()
            await process.wait_serving()
            return process
        assert launch in ("fast_path", "quart_route"), launch
        return InProcessLaunch(await start_service(*flags, fast_path=launch == "fast_path"))

    try:
        yield start
        for process in processes:
            assert process.proc is not None
            if process.proc.poll() is None:
                process.request_shutdown()
                assert await process.wait_stopped(3) == 0
            assert "Traceback" not in process.log(), process.log()
    finally:
        for process in processes:
            process.stop()


async def wait_until(predicate: Callable[[], bool], *, within: float, poll: float = 0.01) -> None:
    """Poll ``predicate`` until true; fail with ``trio.TooSlowError`` after ``within`` seconds.

    For state that has no event to wait on (counters of another task, a child process).
    """
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - polling with a deadline is the point
            await trio.sleep(poll)


# --- raw sockets (blocking, used from worker threads) -------------------------------------


def ws_upgrade_request(path: str, port: int, trailing: bytes = b"") -> bytes:
    """A valid WebSocket upgrade request for ``path`` (plus optional trailing bytes)."""
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode() + trailing


def raw_handshake(
    port: int, path: str = WS_PATH, *, rcvbuf: int | None = None, timeout: float = 5.0
) -> socket.socket:
    """Open a blocking socket and complete a WebSocket handshake; return it (101 checked)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        sock.sendall(ws_upgrade_request(path, port))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                raise ConnectionError("server closed during the handshake")
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
    except BaseException:
        sock.close()
        raise
    return sock


def reset_close(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): an abrupt disconnect, no close handshake."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def http_get_raw(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """A blocking one-shot HTTP/1.1 GET; return (status, body) read by ``content-length``.

    (It does not rely on the server closing the connection after ``Connection: close``.)
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the end of the body")
            body += chunk
    return status, body


class Kit:
    """The helpers above, handed to tests by the ``kit`` fixture.

    Test modules never ``import conftest``: without ``tests/__init__.py`` a second
    ``conftest.py`` elsewhere under ``tests/`` takes over the module name ``conftest``.
    """

    FIXED_WALL = FIXED_WALL
    WS_PATH = WS_PATH
    WS_ALIAS_PATH = WS_ALIAS_PATH
    Served = Served
    make_config = staticmethod(make_config)
    make_engine = staticmethod(make_engine)
    make_context = staticmethod(make_context)
    start_in_process = staticmethod(start_in_process)
    tick_of = staticmethod(tick_of)
    device_of = staticmethod(device_of)
    wait_until = staticmethod(wait_until)
    ws_upgrade_request = staticmethod(ws_upgrade_request)
    raw_handshake = staticmethod(raw_handshake)
    reset_close = staticmethod(reset_close)
    http_get_raw = staticmethod(http_get_raw)


@pytest.fixture
def kit() -> type[Kit]:
    """Shared builders and socket helpers (see ``Kit``)."""
    return Kit
