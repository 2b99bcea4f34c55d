"""ASGI middleware: an HTTP/1 request framed two ways is refused and its connection closed.

A request with both ``Content-Length`` and ``Transfer-Encoding`` can be read two ways: h11
(hypercorn's HTTP/1.1 parser) frames its body by ``Transfer-Encoding``, a proxy in front of us
might use ``Content-Length``, and the bytes one of them takes for the next request are the
other's body: request smuggling. RFC 9112 §6.1 lets a server reject such a request or process it
by ``Transfer-Encoding``, and requires either way that the connection be closed after the
response. Here it is refused with 400 and ``Connection: close``, after its body was read and
the connection stopped reading (``ConnectionLife.stop_reading``: bytes behind the request are
discarded, never parsed as another request); hypercorn closes it after the response. HTTP/2
has no such ambiguity (its frames carry the length; ``Transfer-Encoding`` is forbidden there).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from dersim_trio.web.asgi_shield import CURRENT_CONNECTION
from dersim_trio.web.bodies import BODY_TIMEOUT_S, MAX_BODY_BYTES

Send = Callable[[Any], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]
ASGIApp = Callable[[Any, Receive, Send], Awaitable[None]]

_FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


class RefuseAmbiguousFraming:
    """Answer 400 (and close) to an HTTP/1 request with both body-framing headers."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        """Refuse an ambiguously framed request; pass everything else on."""
        if scope.get("type") == "http" and str(scope.get("http_version", "")).startswith("1"):
            names = {name.lower() for name, _ in scope.get("headers", ())}
            if names >= _FRAMING_HEADERS:
                # Order matters with hypercorn's HTTP/1.1 parser, which closes the connection
                # (mid-response) if it parses any byte after a "Connection: close" response
                # head: first take the whole body, then give the parser its turn (handing over
                # the body's end was its last step before it parks, pipelined bytes left
                # unparsed, until the response is done), then stop reading (bytes still to
                # come are discarded), then answer.
                await _discard_body(receive)
                await trio.lowlevel.checkpoint()
                life = CURRENT_CONNECTION.get()
                if life is not None:
                    life.stop_reading()
                await _refuse(send)
                return
        await self._app(scope, receive, send)


async def _discard_body(receive: Receive) -> None:
    """Receive the request body to its end (at most ``MAX_BODY_BYTES`` within
    ``BODY_TIMEOUT_S``) and drop it."""
    received = 0
    with trio.move_on_after(BODY_TIMEOUT_S):
        while received <= MAX_BODY_BYTES:
            message = await receive()
            if message.get("type") != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


async def _refuse(send: Send) -> None:
    body = json.dumps(
        {
            "error": "ambiguous_framing",
            "detail": "the request has both Content-Length and Transfer-Encoding (RFC 9112 "
            "section 6.1); send one of them",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})
