"""ASGI middleware: HTTP ``send`` calls finish even when quart-trio cancels the request.

quart-trio runs each HTTP request in a nursery with two tasks: one handles the request and sends
the response, the other waits for ``http.disconnect``. hypercorn's h11 protocol delivers that
disconnect from *inside* the last ``send`` of the response (when it closes the stream), and
quart-trio then cancels the nursery while that ``send`` is still running. The cancellation lands
on hypercorn's next checkpoint, which is the step that either re-arms the keep-alive idle timer or,
for ``Connection: close``, closes the connection. Both were silently skipped: an idle keep-alive
connection never timed out and a ``Connection: close`` response left the socket open.

Shielding the app's HTTP ``send`` lets hypercorn finish that bookkeeping. It adds no new way to
block: hypercorn already shields its socket writes, and the front door's shutdown aborts any
connection still open after the grace period.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

Send = Callable[[Any], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]
ASGIApp = Callable[[Any, Receive, Send], Awaitable[None]]


class ShieldHttpSends:
    """Wrap an ASGI app so that every ``send`` of an HTTP request runs shielded."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        """Call the wrapped app; HTTP sends are shielded, other scopes are untouched."""
        if scope.get("type") != "http":
            await self._app(scope, receive, send)
            return

        async def shielded_send(message: Any) -> None:
            with trio.CancelScope(shield=True):
                await send(message)

        await self._app(scope, receive, shielded_send)
