"""The one place that touches hypercorn's private trio interfaces (pinned: hypercorn 0.18.*).

Our front door owns the listening socket and every accepted connection (so it can bound
shutdown, contain per-connection crashes and route telemetry upgrades itself). For each
connection it does not serve itself it hands the stream to hypercorn exactly as
``hypercorn.trio.run.worker_serve`` would: a ``TCPServer`` built with the worker's
``WorkerContext`` and the lifespan state, after the app's ASGI lifespan has started.

Private names used (and checked by ``check_hypercorn_interfaces`` at import, so an upgrade that
moves them fails loudly at start-up and in the test suite, never silently at run time):

* ``hypercorn.trio.tcp_server.TCPServer(app, config, context, state, stream).run()``, and its
  ``_read_data()`` (the connection's read loop: when it returns, the connection is gone)
* ``hypercorn.trio.worker_context.WorkerContext(max_requests)`` and ``.terminated.set()``
* ``hypercorn.trio.lifespan.Lifespan(app, config, state)``: ``handle_lifespan``,
  ``wait_for_startup``, ``wait_for_shutdown``
* ``hypercorn.utils.wrap_app(app, wsgi_max_body_size, mode)``
* ``hypercorn.trio.statsd.StatsdLogger`` for ``Config.set_statsd_logger_class``
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import hypercorn
import trio
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

from dersim_trio.web.asgi_shield import CURRENT_CONNECTION, ConnectionLife

log = logging.getLogger("dersim_trio.WS")

SUPPORTED_HYPERCORN = "0.18."

_EXPECTED_SIGNATURES: dict[str, tuple[Any, list[str]]] = {
    "TCPServer": (TCPServer.__init__, ["self", "app", "config", "context", "state", "stream"]),
    "WorkerContext": (WorkerContext.__init__, ["self", "max_requests"]),
    "Lifespan": (Lifespan.__init__, ["self", "app", "config", "state"]),
    "wrap_app": (wrap_app, ["app", "wsgi_max_body_size", "mode"]),
}


class HypercornInterfaceError(RuntimeError):
    """The installed hypercorn does not have the private interfaces this bridge relies on."""


def check_hypercorn_interfaces() -> None:
    """Raise ``HypercornInterfaceError`` if hypercorn's private shapes differ from 0.18."""
    from importlib.metadata import version

    installed = version("hypercorn")
    problems = []
    if not installed.startswith(SUPPORTED_HYPERCORN):
        problems.append(f"hypercorn {installed} installed, {SUPPORTED_HYPERCORN}* required")
    for name, (func, expected) in _EXPECTED_SIGNATURES.items():
        params = list(inspect.signature(func).parameters)
        if params != expected:
            problems.append(f"{name}{tuple(params)} != {tuple(expected)}")
    for cls, attrs in (
        (Lifespan, ("handle_lifespan", "wait_for_startup", "wait_for_shutdown")),
        (TCPServer, ("run", "_read_data")),
    ):
        problems.extend(f"{cls.__name__}.{a} missing" for a in attrs if not hasattr(cls, a))
    if problems:
        raise HypercornInterfaceError("; ".join(problems))


check_hypercorn_interfaces()
_TCP_SERVER_RUN = TCPServer.run
"""hypercorn's own ``run`` (``install_connection_guard`` may patch the class attribute)."""
_ = hypercorn  # keep the import explicit: this module is the hypercorn boundary


async def run_with_life(
    server: TCPServer,
    run: Callable[[TCPServer], Awaitable[None]],
    lives: set[ConnectionLife] | None = None,
) -> None:
    """``run(server)`` (hypercorn's ``TCPServer.run``) with a ``ConnectionLife`` for the
    connection (``web/asgi_shield.py``).

    The life ends as soon as hypercorn's read loop ends (EOF, reset, read timeout, the idle
    timer closing the stream, cancellation): from then on no shielded send of this connection
    can keep it, or the process, alive. It is registered in ``lives`` while the connection runs.
    """
    life = ConnectionLife()
    read_data = server._read_data

    async def read_until_gone() -> None:
        try:
            await read_data()
        finally:
            life.end()

    server._read_data = read_until_gone  # type: ignore[method-assign]
    token = CURRENT_CONNECTION.set(life)
    if lives is not None:
        lives.add(life)
    try:
        await run(server)
    finally:
        life.end()
        if lives is not None:
            lives.discard(life)
        CURRENT_CONNECTION.reset(token)


class HypercornBridge:
    """hypercorn's per-worker machinery for an app, driven by our own accept loop."""

    def __init__(self, app: Any, config: Config) -> None:
        config.set_statsd_logger_class(StatsdLogger)
        self.config = config
        self.app = wrap_app(app, config.wsgi_max_body_size, None)
        self._lifespan_state: dict[str, Any] = {}
        self._lifespan = Lifespan(self.app, config, self._lifespan_state)
        self._context = WorkerContext(None)
        self._lives: set[ConnectionLife] = set()

    async def start_lifespan(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the app's ASGI lifespan; ``started`` once startup completed. Runs until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._lifespan.handle_lifespan)
            await self._lifespan.wait_for_startup()
            task_status.started()
            await trio.sleep_forever()

    async def stop_lifespan(self) -> None:
        """Run the app's lifespan shutdown (``after_serving``)."""
        await self._lifespan.wait_for_shutdown()

    async def serve_connection(self, stream: Any) -> None:
        """Serve one accepted connection with hypercorn's HTTP/1.1, h2c and WebSocket stack."""
        server = TCPServer(
            self.app,
            self.config,
            self._context,
            ConnectionState(self._lifespan_state.copy()),
            stream,
        )
        await run_with_life(server, _TCP_SERVER_RUN, self._lives)

    async def close_idle(self) -> None:
        """Tell hypercorn the worker is terminating: idle keep-alive connections close."""
        await self._context.terminated.set()

    def end_connections(self) -> int:
        """End the life of every connection still served (shutdown, after the sockets were
        aborted): no shielded send survives it. Returns how many were still open."""
        lives = list(self._lives)
        for life in lives:
            life.end()
        return len(lives)


_guard_installed = False


def install_connection_guard() -> None:
    """Contain per-connection failures under plain ``hypercorn -k trio`` (hypercorn#225).

    One WebSocket upgrade request with trailing bytes makes h11 raise ``LocalProtocolError`` out
    of ``TCPServer.run``, which ends ``serve()`` and with it the whole worker. Wrapping ``run``
    logs and drops that one connection instead. The front door does the same without patching
    (each connection runs in its own boundary), so this is only installed by ``dersim_trio.asgi``.
    """
    global _guard_installed
    if _guard_installed:
        return
    original = TCPServer.run

    async def guarded_run(self: TCPServer) -> None:
        try:
            await run_with_life(self, original)
        except* Exception as group:
            log.warning("connection failed and was closed: %r", group.exceptions[0])
            with trio.CancelScope(shield=True):
                try:
                    await self.stream.aclose()
                except Exception as exc:  # the stream may already be broken
                    log.debug("closing a failed connection: %r", exc)

    TCPServer.run = guarded_run  # type: ignore[method-assign]
    _guard_installed = True
