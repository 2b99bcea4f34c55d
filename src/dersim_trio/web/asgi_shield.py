"""ASGI middleware: HTTP ``send`` calls finish even when quart-trio cancels the request, but
never outlive the connection they write to.

quart-trio runs each HTTP request in a nursery with two tasks: one handles the request and sends
the response, the other waits for ``http.disconnect``. hypercorn's h11 protocol delivers that
disconnect from *inside* the last ``send`` of the response (when it closes the stream), and
quart-trio then cancels the nursery while that ``send`` is still running. The cancellation lands
on hypercorn's next checkpoint, which is the step that either re-arms the keep-alive idle timer or,
for ``Connection: close``, closes the connection. Both were silently skipped: an idle keep-alive
connection never timed out and a ``Connection: close`` response left the socket open. HTTP/2
has the same shape (the stream's close, then the idle-timer update).

Shielding the app's HTTP ``send`` lets hypercorn finish that bookkeeping. A shield must not
outlive its connection, though: hypercorn's HTTP/2 ``send`` of the end of a response waits for
the connection's sender task to drain the stream, and once the peer is gone (a request followed
at once by the client's FIN) that task has ended, so a shielded ``send`` waited forever, holding
the connection's descriptor and task and, through them, the process at shutdown. Each connection
therefore has a ``ConnectionLife`` (set by ``web/hypercorn_bridge.py`` in a context variable
that every task of the connection inherits): its shields are cancelled the moment hypercorn stops
reading the connection (EOF, reset, read timeout, shutdown), and a ``send`` on a connection
already gone returns at once without sending.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import trio

Send = Callable[[Any], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]
ASGIApp = Callable[[Any, Receive, Send], Awaitable[None]]


class ConnectionLife:
    """Whether one connection is still being read, and the shields that must end with it."""

    __slots__ = ("_shields", "gone", "reading_stopped")

    def __init__(self) -> None:
        self._shields: set[trio.CancelScope] = set()
        self.gone = False
        self.reading_stopped = False
        """Set by ``stop_reading``: the stream discards whatever the client sends from now on
        (``web/hypercorn_bridge.PrefixedStream``)."""

    def stop_reading(self) -> None:
        """No further request is read from this connection: the response being written is its
        last (the caller sends ``Connection: close``). Without this, bytes the client already
        sent behind the request would reach hypercorn's HTTP/1.1 parser, which answers them by
        closing the connection mid-response."""
        self.reading_stopped = True

    @contextmanager
    def shield(self) -> Iterator[None]:
        """A cancel scope shielded from outside cancellation, cancelled when the connection
        ends (at once if it already has)."""
        with trio.CancelScope(shield=True) as scope:
            if self.gone:
                scope.cancel()
            self._shields.add(scope)
            try:
                yield
            finally:
                self._shields.discard(scope)

    def end(self) -> None:
        """The connection is gone: cancel every shield it holds (idempotent)."""
        self.gone = True
        for scope in list(self._shields):
            scope.cancel()
        self._shields.clear()

    @property
    def shields(self) -> int:
        """Shielded sends in progress (for tests and diagnostics)."""
        return len(self._shields)


CURRENT_CONNECTION: contextvars.ContextVar[ConnectionLife | None] = contextvars.ContextVar(
    "dersim_trio_connection", default=None
)
"""The connection the current task serves (inherited by every task hypercorn starts for it)."""


class ShieldHttpSends:
    """Wrap an ASGI app so that every ``send`` of an HTTP request runs shielded for as long as
    its connection lives (without a known connection, e.g. a test client, simply shielded)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        """Call the wrapped app; HTTP sends are shielded, other scopes are untouched."""
        if scope.get("type") != "http":
            await self._app(scope, receive, send)
            return
        life = CURRENT_CONNECTION.get()

        async def shielded_send(message: Any) -> None:
            if life is None:
                with trio.CancelScope(shield=True):
                    await send(message)
                return
            with life.shield():
                await send(message)

        await self._app(scope, receive, shielded_send)
