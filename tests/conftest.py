"""Fixtures of the telemetry-service tests (the helpers they use live in ``helpers.py``).

Two ways to run the service under test:

* ``InProcess`` (``helpers.start_in_process``, with pytest-trio's ``autojump_clock``): the
  quart app is driven through its test client, and the test starts ``service.tick_loop``
  itself in the ``nursery`` fixture. Virtual time, no sockets, exact tick counts.
* ``start_service``: ``run_service`` on a listening socket from
  ``open_listener("127.0.0.1", 0)``, started with ``nursery.start``; for the end-to-end tests
  that need real clients, resets and shutdown.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

import helpers
from dersim_trio.service.run import RunningService, run_service
from dersim_trio.web.fastpath.door import open_listener
from helpers import (
    DETERMINISTIC_START,
    InProcessLaunch,
    Launched,
    Served,
    ServerProcess,
    make_config,
)

SHUTDOWN_LIMIT_S = 10.0
"""How long a service still running at a test's end may take to stop (a generous bound: the
shutdown's own budget is tested in ``test_service_e2e.py`` on virtual time)."""


@pytest.fixture
async def start_service(
    nursery: trio.Nursery,
) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``svc = await start_service(*flags)`` runs ``run_service`` on 127.0.0.1:0.

    ``fast_path=False`` serves telemetry through the quart route instead of the door's
    pre-framed broadcaster. Returns a ``helpers.Served``. Every service still running at
    teardown is asked to shut down and must finish within ``SHUTDOWN_LIMIT_S``.
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
            with trio.fail_after(SHUTDOWN_LIMIT_S):
                await served.done.wait()
    finally:
        gc.collect()  # report an unclosed socket against this test, not a later one


@pytest.fixture
async def start_launch(
    start_service: Callable[..., Any], tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``svc = await start_launch(launch, *flags)`` under one of ``helpers.LAUNCHES``:
    ``run_service`` with or without the fast path (``start_service``), or
    ``hypercorn -k trio dersim_trio.asgi:app`` as a real process. Returns a
    ``helpers.Launched``. A process still running at teardown gets SIGTERM and must exit 0
    within ``SHUTDOWN_LIMIT_S``; its log must hold no traceback.
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
                assert await process.wait_stopped(SHUTDOWN_LIMIT_S) == 0
            assert "Traceback" not in process.log(), process.log()
    finally:
        for process in processes:
            process.stop()


class Kit:
    """The most used builders of ``helpers``, handed to tests by the ``kit`` fixture.

    (Test modules never ``import conftest``: without ``tests/__init__.py`` a second
    ``conftest.py`` elsewhere under ``tests/`` takes over the module name ``conftest``. They
    import ``helpers`` directly, or take this fixture.)
    """

    FIXED_WALL = helpers.FIXED_WALL
    WS_PATH = helpers.WS_PATH
    WS_ALIAS_PATH = helpers.WS_ALIAS_PATH
    Served = helpers.Served
    make_config = staticmethod(helpers.make_config)
    make_engine = staticmethod(helpers.make_engine)
    make_context = staticmethod(helpers.make_context)
    start_in_process = staticmethod(helpers.start_in_process)
    tick_of = staticmethod(helpers.tick_of)
    device_of = staticmethod(helpers.device_of)
    wait_until = staticmethod(helpers.wait_until)
    http_get_raw = staticmethod(helpers.http_get_raw)


@pytest.fixture
def kit() -> type[Kit]:
    """Shared builders (see ``Kit``)."""
    return Kit
