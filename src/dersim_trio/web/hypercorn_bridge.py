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
* ``hypercorn.protocol.ws_stream``: ``WSStream._handle_events`` and ``Handshake.accept``, which
  ``install_websocket_rules`` replaces (see there) for the quart telemetry route
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import hypercorn
import trio
from hypercorn.config import Config
from hypercorn.protocol.events import StreamClosed
from hypercorn.protocol.ws_stream import FrameTooLargeError, Handshake, WSStream
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app
from wsproto.connection import ConnectionState as WSConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason

from dersim_trio.web.asgi_shield import CURRENT_CONNECTION, ConnectionLife

log = logging.getLogger("dersim_trio.WS")

SUPPORTED_HYPERCORN = "0.18."

_EXPECTED_SIGNATURES: dict[str, tuple[Any, list[str]]] = {
    "TCPServer": (TCPServer.__init__, ["self", "app", "config", "context", "state", "stream"]),
    "WorkerContext": (WorkerContext.__init__, ["self", "max_requests"]),
    "Lifespan": (Lifespan.__init__, ["self", "app", "config", "state"]),
    "wrap_app": (wrap_app, ["app", "wsgi_max_body_size", "mode"]),
    "WSStream._handle_events": (WSStream._handle_events, ["self"]),
    "Handshake.accept": (Handshake.accept, ["self", "subprotocol", "additional_headers"]),
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
        (WSStream, ("_send_wsproto_event",)),
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
        install_websocket_rules()
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


# --- WebSocket rules for the quart route ---------------------------------------------------------

_websocket_rules_installed = False


async def _handle_ws_events(self: WSStream) -> None:
    """hypercorn 0.18's ``WSStream._handle_events``, with three differences (marked below)."""
    for event in self.connection.events():
        if isinstance(event, Message):
            try:
                self.buffer.extend(event)
            except FrameTooLargeError:
                # (1) free the partial message now and end the connection (hypercorn kept the
                # buffer and the connection until the client answered the close)
                self.buffer.clear()
                limit = self.config.websocket_max_message_size
                await self._send_wsproto_event(
                    CloseConnection(CloseReason.MESSAGE_TOO_BIG, f"message over {limit} bytes")
                )
                await self.send(StreamClosed(stream_id=self.stream_id))
                break
            if event.message_finished:
                assert self.app_put is not None  # set once the handshake was accepted
                await self.app_put(self.buffer.to_message())
                self.buffer.clear()
        elif isinstance(event, Ping):
            await self._send_wsproto_event(event.response())
        elif isinstance(event, CloseConnection):
            if self.connection.state == WSConnectionState.REMOTE_CLOSING:
                await self._send_wsproto_event(event.response())
            elif self.connection.state == WSConnectionState.OPEN:
                # (2) wsproto reports a frame it cannot parse (1002, or 1007 for invalid UTF-8)
                # as a CloseConnection without a state change; hypercorn dropped it and closed
                # the TCP connection bare (the client saw 1006). Send it.
                await self._send_wsproto_event(CloseConnection(event.code, event.reason))
            await self.send(StreamClosed(stream_id=self.stream_id))
            break


def _accept_without_extensions(accept: Any) -> Any:
    def accept_uncompressed(self: Handshake, subprotocol: Any, additional_headers: Any) -> Any:
        # (3) no permessage-deflate: a deflated message inflates before its size is checked,
        # so a few KiB could cost the server megabytes; the fast path negotiates none either
        self.extensions = None
        return accept(self, subprotocol, additional_headers)

    return accept_uncompressed


def install_websocket_rules() -> None:
    """Make hypercorn's WebSocket streams (the quart telemetry route) close as the fast path
    does: a protocol error with its code (1002, 1007) instead of a bare TCP close, a message over
    ``websocket_max_message_size`` with 1009 at once, and never negotiate compression.

    hypercorn 0.18 has no option for these, so two of its methods are replaced (process-wide,
    idempotent); their signatures are checked at import with the other private interfaces, and
    ``tests/hostile/test_telemetry_routes.py`` covers the behaviour in both launch modes.
    """
    global _websocket_rules_installed
    if _websocket_rules_installed:
        return
    WSStream._handle_events = _handle_ws_events  # type: ignore[method-assign]
    Handshake.accept = _accept_without_extensions(Handshake.accept)  # type: ignore[method-assign]
    _websocket_rules_installed = True
