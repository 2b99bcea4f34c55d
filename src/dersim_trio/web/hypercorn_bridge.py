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

Under ``hypercorn -k trio dersim_trio.asgi:app`` hypercorn owns the listener and the worker, and
``serve_in_hypercorn_worker`` hooks the app into it (see there) through more of them:

* ``hypercorn.trio.run.worker_serve(app, config, *, sockets, shutdown_trigger, task_status)``,
  looked up by ``trio_worker(config, sockets, shutdown_event)`` after it imported the app (so
  the app module can wrap it)
* ``TCPServer.run`` and its ``app`` (an ``ASGIWrapper(app)`` whose ``.app`` is ours),
  ``config``, ``context`` (``WorkerContext.terminated.wait``) and ``stream`` attributes
* ``hypercorn.utils.check_multiprocess_shutdown_event``: the shutdown trigger ``trio_worker``
  builds for a worker process (``partial(check_multiprocess_shutdown_event, shutdown_event,
  trio.sleep)``), replaced by a wait that costs no CPU (see ``_on_signals_too``)
* ``Config`` keeps its defaults as class attributes and sets what it was given on the instance
  (``explicitly_set``)

The private modules are imported, and the check runs, when a bridge is built or the connection
guard installed (at service start-up), not when this module is imported: an upgrade that moves
them stops the service with one clear error and leaves everything else that imports the package
(the pytest plugin ``dersim_trio.testing`` included) working.
"""

from __future__ import annotations

import functools
import inspect
import logging
import multiprocessing
import signal
import socket
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol

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
    "ASGIWrapper": ["self", "app"],
    "worker_serve": ["app", "config", "sockets", "shutdown_trigger", "task_status"],
    "trio_worker": ["config", "sockets", "shutdown_event"],
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
CONFIG_ATTRIBUTES = (
    "keep_alive_timeout",
    "read_timeout",
    "graceful_timeout",
    "h11_max_incomplete_size",
    "websocket_max_message_size",
    "workers",
    "max_requests",
    "backlog",
)
"""``Config`` settings the hypercorn launch reads or sets, by name."""


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
    trio_run_module: Any
    """``hypercorn.trio.run`` (``worker_serve``, ``trio_worker``)."""
    worker_serve: Callable[..., Awaitable[None]]
    """hypercorn's own ``worker_serve`` (``serve_in_hypercorn_worker`` wraps the module's)."""
    ASGIWrapper: Any
    check_multiprocess_shutdown_event: Callable[..., Awaitable[None]]


@cache
def _private() -> _Private:
    """Import hypercorn's private modules (``HypercornInterfaceError`` if one moved)."""
    try:
        import hypercorn.trio.run as trio_run
        from hypercorn.app_wrappers import ASGIWrapper
        from hypercorn.protocol.events import StreamClosed
        from hypercorn.protocol.ws_stream import FrameTooLargeError, Handshake, WSStream
        from hypercorn.trio import tcp_server
        from hypercorn.trio.lifespan import Lifespan
        from hypercorn.trio.statsd import StatsdLogger
        from hypercorn.trio.worker_context import WorkerContext
        from hypercorn.typing import ConnectionState
        from hypercorn.utils import check_multiprocess_shutdown_event, wrap_app
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
        trio_run_module=trio_run,
        worker_serve=trio_run.worker_serve,
        ASGIWrapper=ASGIWrapper,
        check_multiprocess_shutdown_event=check_multiprocess_shutdown_event,
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
        "ASGIWrapper": private.ASGIWrapper.__init__,
        "worker_serve": private.worker_serve,
        "trio_worker": private.trio_run_module.trio_worker,
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
    problems.extend(_worker_problems(private))
    if problems:
        raise HypercornInterfaceError("; ".join(problems))


def _worker_problems(private: _Private) -> list[str]:
    """What the hypercorn launch (``serve_in_hypercorn_worker``) relies on in the worker."""
    problems = [f"Config.{a} missing" for a in CONFIG_ATTRIBUTES if not hasattr(Config, a)]
    if not hasattr(private.WorkerContext(None).terminated, "wait"):
        problems.append("WorkerContext.terminated.wait missing")
    try:
        source = inspect.getsource(private.trio_run_module.trio_worker)
    except (OSError, TypeError):
        log.warning("hypercorn's trio worker source is not installed; its order not checked")
        return problems
    # the app module can only wrap worker_serve because trio_worker imports the app first and
    # looks worker_serve up afterwards (a module global, at call time)
    loads = source.find("load_application(")
    if not 0 <= loads < source.find("worker_serve"):
        problems.append("trio_worker no longer calls worker_serve after load_application")
    if "partial(check_multiprocess_shutdown_event, shutdown_event" not in source:
        problems.append("trio_worker no longer polls check_multiprocess_shutdown_event")
    return problems


class PrefixedStream(trio.abc.HalfCloseableStream):
    """A socket stream whose first bytes were already read by the door; they are replayed.

    hypercorn's ``TCPServer`` duck-types its stream (``STREAM_TYPE_GUESS``): plain TCP is
    recognised by the absence of ``do_handshake``; it uses ``socket``, ``receive_some``,
    ``send_all``, ``send_eof``, ``aclose``.
    """

    def __init__(self, stream: trio.SocketStream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix
        self.socket = stream.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The replayed prefix first, then the socket's bytes."""
        if self._prefix:
            await trio.lowlevel.checkpoint()
            data, self._prefix = self._prefix, b""
            return data
        return bytes(await self._stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send on the underlying socket stream."""
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """Delegate to the socket stream."""
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        """Half-close the socket."""
        await self._stream.send_eof()

    async def aclose(self) -> None:
        """Close the socket stream."""
        await self._stream.aclose()


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
        server = private.TCPServer(
            self.app,
            self.config,
            self._context,
            private.ConnectionState(self._lifespan_state.copy()),
            PrefixedStream(stream, prefix) if prefix else stream,
        )
        await run_with_life(server, private.run, self._lives)

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


# --- the hypercorn launch: the app's hooks inside hypercorn's own worker ----------------------

HttpHandler = Callable[[trio.SocketStream, bytes], Awaitable[None]]
"""Serves one connection with hypercorn's own HTTP stack, the bytes already read replayed."""


@dataclass(frozen=True, slots=True)
class WorkerShutdown:
    """How the hypercorn worker serving a connection ends."""

    graceful_timeout_s: float
    """After this long hypercorn cancels every connection task (it cannot cancel a shielded
    send to a peer that stopped reading: those wait until their socket is aborted)."""
    wait: Callable[[], Awaitable[None]]
    """Returns once the worker begins its graceful shutdown (stopped accepting)."""
    end_connections: Callable[[], int]
    """End the life of every connection hypercorn still serves (after their sockets were
    aborted): no shielded send survives it. Returns how many were still open."""


class WorkerHooks(Protocol):
    """What an app served by ``hypercorn -k trio`` plugs into the worker."""

    def worker_starting(self, config: Config, listen_sockets: list[socket.socket]) -> None:
        """The worker is about to serve (lifespan not started yet). May change ``config`` and
        the listening sockets' options, or end the process (``SystemExit``)."""

    async def serve_connection(
        self, stream: trio.SocketStream, serve_http: HttpHandler, shutdown: WorkerShutdown
    ) -> None:
        """Serve one accepted plaintext connection; ``serve_http(stream, prefix)`` hands it to
        hypercorn as it would have been served, ``prefix`` (bytes already read) replayed."""


@dataclass(slots=True)
class _Registration:
    hooks: WorkerHooks
    lives: set[ConnectionLife] = field(default_factory=set)

    def end_connections(self) -> int:
        lives = list(self.lives)
        for life in lives:
            life.end()
        return len(lives)


_registered: weakref.WeakKeyDictionary[Any, _Registration] = weakref.WeakKeyDictionary()
_installed = False


def serve_in_hypercorn_worker(app: Any, hooks: WorkerHooks) -> None:
    """Let ``hooks`` serve ``app``'s connections inside hypercorn's trio worker.

    Installs (once per process) two wrappers that only act for registered apps:

    * around ``worker_serve``: ``hooks.worker_starting(config, listening sockets)`` first; the
      worker's shutdown trigger also fires on SIGTERM (hypercorn leaves SIGTERM at its default,
      which kills a worker that receives it directly, e.g. from a process-group signal) and,
      when the worker runs in hypercorn's own process (``-w 0``, no trigger), on SIGINT too;
    * around ``TCPServer.run``: every plaintext connection goes to ``hooks.serve_connection``
      with a handler that serves it with hypercorn's own ``TCPServer.run`` (with its
      ``ConnectionLife``). TLS connections (nothing to pre-frame) and other apps' connections
      are served by hypercorn as before, inside the #225 guard (``install_connection_guard``).

    Checks hypercorn's private interfaces first (``HypercornInterfaceError``).
    """
    check_hypercorn_interfaces()
    _registered[app] = _Registration(hooks)
    _install()


def install_connection_guard() -> None:
    """Contain per-connection failures under plain ``hypercorn -k trio`` (hypercorn#225).

    One WebSocket upgrade request with trailing bytes makes h11 raise ``LocalProtocolError`` out
    of ``TCPServer.run``, which ends ``serve()`` and with it the whole worker. The wrapped
    ``run`` logs and drops that one connection instead (connections routed by an app's hooks get
    the front door's boundary), and gives each connection its ``ConnectionLife``. The front door
    does the same without patching (each connection runs in its own boundary), so this is only
    installed for ``dersim_trio.asgi``. Checks hypercorn's private interfaces first
    (``HypercornInterfaceError``).
    """
    check_hypercorn_interfaces()
    _install()


def _install() -> None:
    global _installed
    if _installed:
        return
    private = _private()
    private.TCPServer.run = _run
    private.trio_run_module.worker_serve = _worker_serve
    _installed = True


def _registration_of(app_wrapper: Any) -> _Registration | None:
    app = getattr(app_wrapper, "app", None)
    if app is None:
        return None
    try:
        return _registered.get(app)
    except TypeError:  # an unhashable or not weak-referenceable app: never registered
        return None


async def _run(self: TCPServer) -> None:
    """``TCPServer.run`` as installed: the app's hooks, or hypercorn's own inside the guard."""
    run = _private().run
    registration = _registration_of(self.app)
    if registration is None or not isinstance(self.stream, trio.SocketStream):
        await _guarded_run(self, run)
        return

    async def serve_http(stream: trio.SocketStream, prefix: bytes) -> None:
        self.stream = PrefixedStream(stream, prefix) if prefix else stream
        await run_with_life(self, run, registration.lives)

    shutdown = WorkerShutdown(
        float(self.config.graceful_timeout),
        self.context.terminated.wait,
        registration.end_connections,
    )
    await registration.hooks.serve_connection(self.stream, serve_http, shutdown)


async def _guarded_run(self: TCPServer, run: Callable[[Any], Awaitable[None]]) -> None:
    try:
        await run_with_life(self, run)
    except* Exception as group:
        log.warning("connection failed and was closed: %r", group.exceptions[0])
        with trio.CancelScope(shield=True):
            try:
                await self.stream.aclose()
            except Exception as exc:  # the stream may already be broken
                log.debug("closing a failed connection: %r", exc)


async def _worker_serve(
    app: Any,
    config: Config,
    *,
    sockets: Any = None,
    shutdown_trigger: Callable[..., Awaitable[None]] | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    registration = _registration_of(app)
    if registration is not None:
        listening = [] if sockets is None else [*sockets.secure_sockets, *sockets.insecure_sockets]
        registration.hooks.worker_starting(config, listening)
        shutdown_trigger = _on_signals_too(shutdown_trigger)
    await _private().worker_serve(
        app, config, sockets=sockets, shutdown_trigger=shutdown_trigger, task_status=task_status
    )


def _on_signals_too(
    trigger: Callable[..., Awaitable[None]] | None,
) -> Callable[[], Awaitable[None]]:
    """A shutdown trigger that returns when ``trigger`` does or a stop signal arrives.

    hypercorn's trigger for a worker process polls the main process's ``shutdown_event`` (a
    multiprocessing ``Event``) every 0.1 s; those ten wake-ups a second cost the worker about
    4.5 ms of CPU per second (measured idle: 5.8 against 1.3 ms/s for ``dersim-trio``), 4.5 µs
    per message at 1,000 messages a second. Waiting for the event in a worker thread costs
    nothing until it is set.
    """
    signums = (signal.SIGTERM,) if trigger is not None else (signal.SIGINT, signal.SIGTERM)
    if (
        isinstance(trigger, functools.partial)
        and trigger.func is _private().check_multiprocess_shutdown_event
        and trigger.args
    ):
        event = trigger.args[0]

        async def event_set() -> None:
            await trio.to_thread.run_sync(event.wait, abandon_on_cancel=True)

        trigger = event_set

    async def wait() -> None:
        with trio.open_signal_receiver(*signums) as signals:
            async with trio.open_nursery() as nursery:
                if trigger is not None:

                    async def asked() -> None:
                        await trigger()
                        nursery.cancel_scope.cancel()

                    nursery.start_soon(asked)
                async for signum in signals:
                    log.info("worker received %s", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break

    return wait


def explicitly_set(config: Config, name: str) -> bool:
    """True if ``name`` was given on hypercorn's command line or in its config file.

    hypercorn keeps its defaults as class attributes and sets only what it was given on the
    instance (``__main__`` skips unset flags; ``Config.from_mapping`` sets the file's keys).
    """
    return name in vars(config)


def is_first_worker() -> bool:
    """True in the process that should speak for all of hypercorn's workers.

    hypercorn starts ``-w N`` workers as multiprocessing "spawn" children of its own process,
    named ``SpawnProcess-1`` .. ``SpawnProcess-N``; with ``-w 0`` the app runs in hypercorn's
    own (main) process.
    """
    if multiprocessing.parent_process() is None:
        return True
    return multiprocessing.current_process().name.rsplit("-", 1)[-1] == "1"


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
