"""The one place that touches hypercorn's private trio interfaces (pinned: hypercorn 0.18.*).

Our front door owns the listening socket and every accepted connection (so it can bound
shutdown, contain per-connection crashes and route telemetry upgrades itself). For each
connection it does not serve itself it hands the stream to hypercorn exactly as
``hypercorn.trio.run.worker_serve`` would: a ``TCPServer`` built with the worker's
``WorkerContext`` and the lifespan state, after the app's ASGI lifespan has started.

Private names and behaviours relied on, all checked by ``check_hypercorn_interfaces``:

* ``hypercorn.trio.tcp_server.TCPServer(app, config, context, state, stream).run()``, and its
  ``_read_data()`` (the connection's read loop: when it returns, the connection is gone)
* how ``TCPServer.run`` tells plain TCP from TLS: it calls ``stream.do_handshake()`` and takes
  an ``AttributeError`` for plain TCP, then reads ``stream.socket`` for the peer and local
  addresses. The door replays the bytes it read to route a connection through a
  ``PrefixedStream``, which therefore has ``socket`` and no ``do_handshake``.
* ``hypercorn.trio.worker_context.WorkerContext(max_requests)`` and ``.terminated.set()``
* ``hypercorn.trio.lifespan.Lifespan(app, config, state)``: ``handle_lifespan``,
  ``wait_for_startup``, ``wait_for_shutdown``
* ``hypercorn.utils.wrap_app(app, wsgi_max_body_size, mode)``
* ``hypercorn.trio.statsd.StatsdLogger`` for ``Config.set_statsd_logger_class``
* ``hypercorn.protocol.ws_stream``: ``WSStream._handle_events`` and ``Handshake.accept``, which
  ``install_websocket_rules`` replaces for the quart telemetry route (see there), and
  ``FrameTooLargeError``; ``hypercorn.protocol.events.StreamClosed``

The private modules are imported, and the check runs, when a bridge is built or the connection
guard installed (at service start-up), not when this module is imported: an upgrade that moves
them stops the service with one clear error and leaves everything else that imports the package
(the pytest plugin ``dersim_trio.testing`` included) working.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

import trio
from hypercorn.config import Config
from wsproto.connection import ConnectionState as WSConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason

from dersim_trio.web.asgi_shield import CURRENT_CONNECTION, ConnectionLife

if TYPE_CHECKING:
    from hypercorn.trio.tcp_server import TCPServer

log = logging.getLogger("dersim_trio.WS")

SUPPORTED_HYPERCORN = "0.18."

EXPECTED_PARAMETERS: dict[str, list[str]] = {
    "TCPServer": ["self", "app", "config", "context", "state", "stream"],
    "WorkerContext": ["self", "max_requests"],
    "Lifespan": ["self", "app", "config", "state"],
    "wrap_app": ["app", "wsgi_max_body_size", "mode"],
    "WSStream._handle_events": ["self"],
    "Handshake.accept": ["self", "subprotocol", "additional_headers"],
}
"""The parameters of each private callable, as hypercorn 0.18 has them."""
EXPECTED_METHODS: dict[str, tuple[str, ...]] = {
    "Lifespan": ("handle_lifespan", "wait_for_startup", "wait_for_shutdown"),
    "TCPServer": ("run", "_read_data"),
    "WSStream": ("_handle_events", "_send_wsproto_event"),
}
STREAM_TYPE_GUESS = (
    "await self.stream.do_handshake()",
    "except AttributeError:  # Not SSL",
    "socket = self.stream.socket",
)
"""The lines of ``hypercorn/trio/tcp_server.py`` by which ``TCPServer.run`` tells plain TCP
(no ``do_handshake``) from TLS and finds the socket; ``PrefixedStream`` relies on them."""


class HypercornInterfaceError(RuntimeError):
    """The installed hypercorn does not have the private interfaces this bridge relies on."""


@dataclass(frozen=True, slots=True)
class _Private:
    """hypercorn's private objects, imported once."""

    tcp_server_module: Any
    TCPServer: Any
    run: Callable[[Any], Awaitable[None]]
    """hypercorn's own ``TCPServer.run`` (``install_connection_guard`` patches the class)."""
    WorkerContext: Any
    Lifespan: Any
    StatsdLogger: Any
    ConnectionState: Any
    wrap_app: Callable[..., Any]
    WSStream: Any
    Handshake: Any
    FrameTooLargeError: type[Exception]
    StreamClosed: Any


@cache
def _private() -> _Private:
    """Import hypercorn's private modules (``HypercornInterfaceError`` if one moved)."""
    try:
        from hypercorn.protocol.events import StreamClosed
        from hypercorn.protocol.ws_stream import FrameTooLargeError, Handshake, WSStream
        from hypercorn.trio import tcp_server
        from hypercorn.trio.lifespan import Lifespan
        from hypercorn.trio.statsd import StatsdLogger
        from hypercorn.trio.worker_context import WorkerContext
        from hypercorn.typing import ConnectionState
        from hypercorn.utils import wrap_app
    except ImportError as exc:
        raise HypercornInterfaceError(
            f"hypercorn {metadata.version('hypercorn')}: a private module moved ({exc}); "
            f"{SUPPORTED_HYPERCORN}* required"
        ) from None
    return _Private(
        tcp_server_module=tcp_server,
        TCPServer=tcp_server.TCPServer,
        run=tcp_server.TCPServer.run,
        WorkerContext=WorkerContext,
        Lifespan=Lifespan,
        StatsdLogger=StatsdLogger,
        ConnectionState=ConnectionState,
        wrap_app=wrap_app,
        WSStream=WSStream,
        Handshake=Handshake,
        FrameTooLargeError=FrameTooLargeError,
        StreamClosed=StreamClosed,
    )


def check_hypercorn_interfaces() -> None:
    """Raise ``HypercornInterfaceError`` naming every private shape that differs from 0.18."""
    installed = metadata.version("hypercorn")
    problems = []
    if not installed.startswith(SUPPORTED_HYPERCORN):
        problems.append(f"hypercorn {installed} installed, {SUPPORTED_HYPERCORN}* required")
    private = _private()
    callables = {
        "TCPServer": private.TCPServer.__init__,
        "WorkerContext": private.WorkerContext.__init__,
        "Lifespan": private.Lifespan.__init__,
        "wrap_app": private.wrap_app,
        "WSStream._handle_events": private.WSStream._handle_events,
        "Handshake.accept": private.Handshake.accept,
    }
    for name, expected in EXPECTED_PARAMETERS.items():
        params = list(inspect.signature(callables[name]).parameters)
        if params != expected:
            problems.append(f"{name}{tuple(params)} != {tuple(expected)}")
    classes = {
        "Lifespan": private.Lifespan,
        "TCPServer": private.TCPServer,
        "WSStream": private.WSStream,
    }
    for name, methods in EXPECTED_METHODS.items():
        problems.extend(f"{name}.{m} missing" for m in methods if not hasattr(classes[name], m))
    try:
        source = inspect.getsource(private.tcp_server_module)
    except (OSError, TypeError):  # installed without sources: the version pin has to do
        log.warning("hypercorn's tcp_server source is not installed; stream typing not checked")
    else:
        problems.extend(
            f"TCPServer.run no longer has {line!r} (how it tells plain TCP from TLS)"
            for line in STREAM_TYPE_GUESS
            if line not in source
        )
    if problems:
        raise HypercornInterfaceError("; ".join(problems))


LINGER_S = 1.0
"""How long a connection the server closes keeps reading (and discarding) what the client still
sends, after the FIN (a "lingering close")."""


class PrefixedStream(trio.abc.HalfCloseableStream):
    """A socket stream whose first bytes were already read by the door; they are replayed.

    hypercorn's ``TCPServer`` duck-types its stream (``STREAM_TYPE_GUESS``): plain TCP is
    recognised by the absence of ``do_handshake``; it uses ``socket``, ``receive_some``,
    ``send_all``, ``send_eof``, ``aclose``.

    Closing lingers: when the server closes a connection whose client may still be sending (a
    request refused before its body was read, pipelined bytes behind a ``Connection: close``),
    closing the socket at once would answer those bytes with a reset, and a reset can destroy
    the response before the client reads it. So ``aclose`` sends the FIN, discards input until
    the client's EOF or ``LINGER_S``, then closes. hypercorn's own read loop may be waiting on
    the socket meanwhile: reads take turns (a lock), and once closing, every read discards.
    """

    def __init__(
        self, stream: trio.SocketStream, prefix: bytes = b"", life: ConnectionLife | None = None
    ) -> None:
        self._stream = stream
        self._prefix = prefix
        self._life = life
        self._receive_lock = trio.Lock()
        self._closing = False
        self._eof_received = False
        self._eof_sent = False
        self.socket = stream.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The replayed prefix first, then the socket's bytes (none once closing or once the
        connection stopped reading: they are discarded until the client's EOF, which is
        returned)."""
        if self._prefix:
            await trio.lowlevel.checkpoint()
            data, self._prefix = self._prefix, b""
            return data
        life = self._life
        async with self._receive_lock:
            while not self._eof_received:
                data = bytes(await self._stream.receive_some(max_bytes))
                if not data:
                    self._eof_received = True
                elif not self._closing and not (life is not None and life.reading_stopped):
                    return data
            return b""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send on the underlying socket stream."""
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """Delegate to the socket stream."""
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        """Half-close the socket."""
        self._eof_sent = True
        await self._stream.send_eof()

    async def aclose(self) -> None:
        """FIN, discard the client's input until its EOF (at most ``LINGER_S``), close."""
        self._closing = True
        try:
            if not self._eof_received:
                with trio.move_on_after(LINGER_S):
                    if not self._eof_sent:
                        await self.send_eof()
                    await self.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
            pass
        finally:
            await self._stream.aclose()


async def run_with_life(
    server: TCPServer,
    run: Callable[[TCPServer], Awaitable[None]],
    lives: set[ConnectionLife] | None = None,
    life: ConnectionLife | None = None,
) -> None:
    """``run(server)`` (hypercorn's ``TCPServer.run``) with a ``ConnectionLife`` for the
    connection (``web/asgi_shield.py``).

    The life ends as soon as hypercorn's read loop ends (EOF, reset, read timeout, the idle
    timer closing the stream, cancellation): from then on no shielded send of this connection
    can keep it, or the process, alive. It is registered in ``lives`` while the connection runs.
    ``life`` is the connection's own (its stream may share it), else a new one.
    """
    life = life or ConnectionLife()
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
    """hypercorn's per-worker machinery for an app, driven by our own accept loop.

    Building one checks hypercorn's private interfaces (``HypercornInterfaceError``).
    """

    def __init__(self, app: Any, config: Config) -> None:
        check_hypercorn_interfaces()
        install_websocket_rules()
        self._private = private = _private()
        config.set_statsd_logger_class(private.StatsdLogger)
        self.config = config
        self.app = private.wrap_app(app, config.wsgi_max_body_size, None)
        self._lifespan_state: dict[str, Any] = {}
        self._lifespan = private.Lifespan(self.app, config, self._lifespan_state)
        self._context = private.WorkerContext(None)
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

    async def serve_connection(self, stream: trio.SocketStream, prefix: bytes = b"") -> None:
        """Serve one accepted connection with hypercorn's HTTP/1.1, h2c and WebSocket stack;
        ``prefix`` is what was already read from it (replayed first)."""
        private = self._private
        life = ConnectionLife()
        server = private.TCPServer(
            self.app,
            self.config,
            self._context,
            private.ConnectionState(self._lifespan_state.copy()),
            PrefixedStream(stream, prefix, life),
        )
        await run_with_life(server, private.run, self._lives, life)

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
    Checks hypercorn's private interfaces first (``HypercornInterfaceError``).
    """
    global _guard_installed
    check_hypercorn_interfaces()
    if _guard_installed:
        return
    private = _private()
    original = private.run

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

    private.TCPServer.run = guarded_run
    _guard_installed = True


# --- WebSocket rules for the quart route ---------------------------------------------------------

_websocket_rules_installed = False


def install_websocket_rules() -> None:
    """Make hypercorn's WebSocket streams (the quart telemetry route) close as the fast path
    does: a protocol error with its code (1002, or 1007 for invalid UTF-8) instead of a bare TCP
    close, a message over ``websocket_max_message_size`` with 1009 and the end of the connection
    at once, and never negotiate compression.

    hypercorn 0.18 has no option for these, so two of its methods are replaced (process-wide,
    idempotent; installed by ``HypercornBridge`` and ``dersim_trio.asgi``). Their signatures are
    checked with the other private interfaces, and ``tests/hostile/test_telemetry_routes.py``
    covers the behaviour in both launch modes. Checks hypercorn's private interfaces first
    (``HypercornInterfaceError``).
    """
    global _websocket_rules_installed
    check_hypercorn_interfaces()
    if _websocket_rules_installed:
        return
    private = _private()
    too_large = private.FrameTooLargeError
    stream_closed = private.StreamClosed

    async def handle_events(self: Any) -> None:
        """hypercorn 0.18's ``WSStream._handle_events`` with the differences marked (1)-(2)."""
        for event in self.connection.events():
            if isinstance(event, Message):
                try:
                    self.buffer.extend(event)
                except too_large:
                    # (1) free the partial message now and end the connection (hypercorn kept
                    # both until the client answered the close)
                    self.buffer.clear()
                    limit = self.config.websocket_max_message_size
                    await self._send_wsproto_event(
                        CloseConnection(CloseReason.MESSAGE_TOO_BIG, f"message over {limit} bytes")
                    )
                    await self.send(stream_closed(stream_id=self.stream_id))
                    break
                if event.message_finished:
                    await self.app_put(self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                await self._send_wsproto_event(event.response())
            elif isinstance(event, CloseConnection):
                if self.connection.state == WSConnectionState.REMOTE_CLOSING:
                    await self._send_wsproto_event(event.response())
                elif self.connection.state == WSConnectionState.OPEN:
                    # (2) wsproto reports a frame it cannot parse (1002, or 1007 for invalid
                    # UTF-8) as a CloseConnection without a state change; hypercorn dropped it
                    # and closed the TCP connection bare (the client saw 1006). Send it.
                    await self._send_wsproto_event(CloseConnection(event.code, event.reason))
                await self.send(stream_closed(stream_id=self.stream_id))
                break

    accept = private.Handshake.accept

    def accept_uncompressed(self: Any, subprotocol: Any, additional_headers: Any) -> Any:
        # no permessage-deflate: a deflated message is inflated before its size is checked, so
        # a few KiB could cost megabytes; the fast path negotiates no extension either
        self.extensions = None
        return accept(self, subprotocol, additional_headers)

    private.WSStream._handle_events = handle_events
    private.Handshake.accept = accept_uncompressed
    _websocket_rules_installed = True
