"""A pull-based WebSocket client connection: wsproto (sans-IO) inside a thin trio shell.

The consumer's own task reads the socket when it asks for the next message: no background
task, no nursery around the caller's code, and an unread message stays in the kernel buffer,
so a slow reader makes the server drop ticks (which the stream reports as a gap) instead of
growing a queue here. Pings are answered as they are read.
"""

from __future__ import annotations

import contextlib
import ssl

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

RECEIVE_BYTES = 65536
MAX_MESSAGE_CHARS = 4 * 1024 * 1024
MAX_REJECT_BODY = 4096
ABNORMAL_CLOSURE = 1006


class WsClosed(Exception):
    """The connection ended; ``code`` is the peer's close code (1006: no close frame)."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"closed ({code}): {reason}" if reason else f"closed ({code})")


class WsRejected(Exception):
    """The server answered the upgrade with an HTTP status instead of 101."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"upgrade refused with HTTP {status}: {body}".rstrip(": "))


class WsConnection:
    """One client WebSocket connection on a trio stream; text messages in, nothing out."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._parts: list[str] = []
        self._size = 0

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        resource: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> WsConnection:
        """Open TCP (and TLS), send the upgrade, wait for 101; raise on anything else."""
        tcp = await trio.open_tcp_stream(host, port)
        stream: trio.abc.Stream = tcp
        try:
            if ssl_context is not None:
                stream = trio.SSLStream(tcp, ssl_context, server_hostname=host)
            conn = cls(stream)
            default_port = 443 if ssl_context is not None else 80
            host_header = host if ":" not in host else f"[{host}]"
            if port != default_port:
                host_header += f":{port}"
            await conn._handshake(host_header, resource)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return conn

    async def _send(self, event: Event) -> None:
        await self._stream.send_all(self._ws.send(event))

    async def _read_more(self) -> None:
        try:
            data = await self._stream.receive_some(RECEIVE_BYTES)
        except (trio.BrokenResourceError, OSError) as exc:
            raise WsClosed(ABNORMAL_CLOSURE, f"connection lost: {exc}") from None
        if not data:
            raise WsClosed(ABNORMAL_CLOSURE, "connection closed without a close frame")
        try:
            self._ws.receive_data(bytes(data))
        except RemoteProtocolError as exc:
            raise WsClosed(1002, f"protocol error: {exc}") from None

    async def _handshake(self, host: str, resource: str) -> None:
        await self._send(Request(host=host, target=resource))
        status: int | None = None
        body = b""
        while True:
            for event in self._ws.events():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise WsRejected(status, "")
                elif isinstance(event, RejectData):
                    body = (body + bytes(event.data))[:MAX_REJECT_BODY]
                    if event.body_finished and status is not None:
                        raise WsRejected(status, body.decode("utf-8", "replace").strip())
            try:
                await self._read_more()
            except WsClosed:
                if status is not None:
                    raise WsRejected(status, body.decode("utf-8", "replace").strip()) from None
                raise

    async def receive_text(self) -> str:
        """The next complete text message; raises ``WsClosed`` when the connection ends."""
        while True:
            for event in self._ws.events():
                if isinstance(event, TextMessage):
                    self._parts.append(event.data)
                    self._size += len(event.data)
                    if self._size > MAX_MESSAGE_CHARS:
                        raise WsClosed(1009, "message too big")
                    if event.message_finished:
                        message = "".join(self._parts)
                        self._parts.clear()
                        self._size = 0
                        return message
                elif isinstance(event, Ping):
                    await self._send_quietly(event.response())
                elif isinstance(event, CloseConnection):
                    if self._ws.state is ConnectionState.REMOTE_CLOSING:
                        await self._send_quietly(event.response())
                    await trio.aclose_forcefully(self._stream)
                    raise WsClosed(event.code, event.reason or "")
                elif isinstance(event, BytesMessage):
                    continue  # the server sends text only; ignore anything else
            await self._read_more()

    async def _send_quietly(self, event: Event) -> None:
        # a failed send shows up as a broken connection on the read that follows
        with contextlib.suppress(
            trio.BrokenResourceError, trio.ClosedResourceError, OSError, LocalProtocolError
        ):
            await self._send(event)

    async def aclose(self, timeout_s: float) -> None:
        """Send close 1000 and wait (at most ``timeout_s``, even when cancelled) for the reply.

        The socket is closed in every case, at the latest after ``timeout_s``.
        """
        with trio.CancelScope(shield=True, deadline=trio.current_time() + timeout_s):
            try:
                if self._ws.state is ConnectionState.OPEN:
                    await self._send(CloseConnection(code=1000))
                    while True:
                        await self.receive_text()  # discard the ticks before the reply
            except (
                WsClosed,
                trio.BrokenResourceError,
                trio.ClosedResourceError,
                OSError,
                LocalProtocolError,
            ):
                pass  # closed either way
            finally:
                await trio.aclose_forcefully(self._stream)
