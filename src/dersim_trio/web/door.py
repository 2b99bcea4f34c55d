"""The front door: our own accept loop on the listening socket we own.

Every accepted connection is tracked so that shutdown is bounded: after a grace period whatever
is still open (a client that stopped reading, an idle keep-alive) is aborted with RST. Each
connection runs inside its own exception boundary, so one connection that makes hypercorn raise
(hypercorn#225: a WebSocket upgrade with trailing bytes) is logged and closed while the server
keeps serving everyone else.

The listening socket is created by ``open_listener`` with ``TCP_USER_TIMEOUT`` (Linux copies it
to accepted sockets): a peer whose kernel stops acknowledging, or keeps a zero window, is
dropped by the kernel after that time, so no send can pin a handler forever.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from collections.abc import Awaitable, Callable

import trio

log = logging.getLogger("dersim_trio.WS")

TCP_USER_TIMEOUT_MS = 10_000
LISTEN_BACKLOG = 4096

ConnectionHandler = Callable[[trio.SocketStream], Awaitable[None]]


def open_listener(host: str, port: int, *, user_timeout_ms: int = TCP_USER_TIMEOUT_MS) -> socket.socket:
    """Create, configure, bind and listen on the service socket (IPv4 or IPv6 literal/host)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, socktype, proto, _, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, user_timeout_ms)
        sock.bind(addr)
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def abort_socket(sock: trio.socket.SocketType) -> None:
    """Reset a connection now: RST on close, and wake every task waiting on it.

    ``shutdown`` (not ``close``) is safe while other tasks wait on the fd: they wake with an
    error (a shielded ``send_all`` gets EPIPE), and their own close then sends the RST.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError as exc:
        if exc.errno not in (errno.ENOTCONN, errno.EBADF):
            log.debug("abort: %s", exc)


class FrontDoor:
    """Accepts connections, tracks them, and hands each to ``handler`` in its own boundary."""

    def __init__(self, listen_socket: socket.socket, handler: ConnectionHandler) -> None:
        self._listen_socket = listen_socket
        self._handler = handler
        self._open: set[trio.socket.SocketType] = set()
        self._all_closed = trio.Event()
        self._all_closed.set()
        self.connections_accepted = 0
        self.connections_failed = 0

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet finished."""
        return len(self._open)

    async def serve(
        self,
        handler_nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept until cancelled; handlers run in ``handler_nursery`` (outliving the accept loop)."""
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(self._listen_socket))
        try:
            await trio.serve_listeners(
                self._handle, [listener], handler_nursery=handler_nursery, task_status=task_status
            )
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()

    async def _handle(self, stream: trio.SocketStream) -> None:
        sock = stream.socket
        self._open.add(sock)
        self._all_closed = trio.Event()
        self.connections_accepted += 1
        try:
            await self._handler(stream)
        except* Exception as group:
            self.connections_failed += 1
            log.warning("connection failed and was closed: %r", group.exceptions[0])
            abort_socket(sock)
        finally:
            with trio.CancelScope(shield=True):
                try:
                    await stream.aclose()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass
            self._open.discard(sock)
            if not self._open:
                self._all_closed.set()

    async def wait_all_closed(self) -> None:
        """Return once no accepted connection is open."""
        while self._open:
            await self._all_closed.wait()

    def abort_all(self) -> int:
        """Reset every open connection; return how many were aborted."""
        count = len(self._open)
        for sock in list(self._open):
            abort_socket(sock)
        return count
