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

Under ``hypercorn -k trio dersim_trio.asgi:app`` hypercorn owns the listener and the worker, and
``serve_in_hypercorn_worker`` hooks the app into it (see there) through two more:

* ``hypercorn.trio.run.worker_serve(app, config, *, sockets, shutdown_trigger, task_status)``,
  looked up by ``trio_worker`` after it imported the app (so the app module can wrap it)
* ``TCPServer.run`` and its ``app`` (an ``ASGIWrapper`` whose ``.app`` is ours), ``config``,
  ``context`` (``terminated``) and ``stream`` attributes
* ``hypercorn.utils.check_multiprocess_shutdown_event``: the shutdown trigger ``trio_worker``
  builds for a worker process (``partial(check_multiprocess_shutdown_event, shutdown_event,
  trio.sleep)``), replaced by a wait that costs no CPU (see ``_on_signals_too``)
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
from typing import Any, Protocol

import hypercorn
import hypercorn.trio.run as hypercorn_trio_run
import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import check_multiprocess_shutdown_event, wrap_app

from dersim_trio.web.asgi_shield import CURRENT_CONNECTION, ConnectionLife

log = logging.getLogger("dersim_trio.WS")

SUPPORTED_HYPERCORN = "0.18."

_EXPECTED_SIGNATURES: dict[str, tuple[Any, list[str]]] = {
    "TCPServer": (TCPServer.__init__, ["self", "app", "config", "context", "state", "stream"]),
    "WorkerContext": (WorkerContext.__init__, ["self", "max_requests"]),
    "Lifespan": (Lifespan.__init__, ["self", "app", "config", "state"]),
    "wrap_app": (wrap_app, ["app", "wsgi_max_body_size", "mode"]),
    "ASGIWrapper": (ASGIWrapper.__init__, ["self", "app"]),
    "worker_serve": (
        hypercorn_trio_run.worker_serve,
        ["app", "config", "sockets", "shutdown_trigger", "task_status"],
    ),
    "trio_worker": (hypercorn_trio_run.trio_worker, ["config", "sockets", "shutdown_event"]),
}
_CONFIG_ATTRIBUTES = (
    "keep_alive_timeout",
    "read_timeout",
    "graceful_timeout",
    "h11_max_incomplete_size",
    "websocket_max_message_size",
    "workers",
    "max_requests",
    "backlog",
)


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
    problems.extend(f"Config.{a} missing" for a in _CONFIG_ATTRIBUTES if not hasattr(Config, a))
    if not hasattr(WorkerContext(None).terminated, "wait"):
        problems.append("WorkerContext.terminated.wait missing")
    # the app module can only wrap worker_serve because trio_worker imports the app first and
    # looks worker_serve up afterwards (a module global, at call time)
    worker_source = inspect.getsource(hypercorn_trio_run.trio_worker)
    loads = worker_source.find("load_application(")
    if not 0 <= loads < worker_source.find("worker_serve"):
        problems.append("trio_worker no longer calls worker_serve after load_application")
    if "partial(check_multiprocess_shutdown_event, shutdown_event" not in worker_source:
        problems.append("trio_worker no longer polls check_multiprocess_shutdown_event")
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


HttpHandler = Callable[[Any], Awaitable[None]]
"""Serves one connection with hypercorn's own HTTP stack; gets a trio stream (maybe prefixed)."""


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
        """Serve one accepted plaintext connection; ``serve_http(stream)`` hands it (or a
        stream replaying the bytes read so far) to hypercorn as it would have been served."""


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
_original_worker_serve = hypercorn_trio_run.worker_serve
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
      are served by hypercorn as before, inside the #225 guard.
    """
    _registered[app] = _Registration(hooks)
    _install()


def _registration_of(app_wrapper: Any) -> _Registration | None:
    app = getattr(app_wrapper, "app", None)
    if app is None:
        return None
    try:
        return _registered.get(app)
    except TypeError:  # an unhashable or not weak-referenceable app: never registered
        return None


def _install() -> None:
    global _installed
    if _installed:
        return
    TCPServer.run = _run  # type: ignore[method-assign]
    hypercorn_trio_run.worker_serve = _worker_serve
    _installed = True


async def _run(self: TCPServer) -> None:
    registration = _registration_of(self.app)
    if registration is None or not isinstance(self.stream, trio.SocketStream):
        await _guarded_run(self)
        return

    async def serve_http(stream: Any) -> None:
        self.stream = stream
        await run_with_life(self, _TCP_SERVER_RUN, registration.lives)

    shutdown = WorkerShutdown(
        float(self.config.graceful_timeout),
        self.context.terminated.wait,
        registration.end_connections,
    )
    await registration.hooks.serve_connection(self.stream, serve_http, shutdown)


async def _guarded_run(self: TCPServer) -> None:
    try:
        await run_with_life(self, _TCP_SERVER_RUN)
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
    await _original_worker_serve(
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
        and trigger.func is check_multiprocess_shutdown_event
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


def install_connection_guard() -> None:
    """Contain per-connection failures under plain ``hypercorn -k trio`` (hypercorn#225).

    One WebSocket upgrade request with trailing bytes makes h11 raise ``LocalProtocolError`` out
    of ``TCPServer.run``, which ends ``serve()`` and with it the whole worker. The wrapped
    ``run`` logs and drops that one connection instead (connections routed by the app's hooks
    get the app's own boundary, the front door's). Each connection also gets its
    ``ConnectionLife``. The front door does the same without patching (each connection runs in
    its own boundary), so this is only installed for ``dersim_trio.asgi``.
    """
    _install()
