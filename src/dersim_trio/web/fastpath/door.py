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

import contextlib
import errno
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import h11
import trio

from dersim_trio.web.fastpath.frames import HandshakeError, handshake_response
from dersim_trio.web.hosts import HostPolicy
from dersim_trio.web.params import TELEMETRY_PATHS

log = logging.getLogger("dersim_trio.WS")

TCP_USER_TIMEOUT_MS = 10_000
LISTEN_BACKLOG = 4096

HttpHandler = Callable[[trio.SocketStream, bytes], Awaitable[None]]
"""Serves a connection with the HTTP stack (``HypercornBridge.serve_connection``): the stream,
and the bytes the door already read from it (to be replayed first)."""


class TelemetryHandler(Protocol):
    """Serves a WebSocket telemetry upgrade on a raw non-blocking socket (the fast path)."""

    async def __call__(
        self,
        sock: socket.socket,
        response_101: bytes,
        device_raw: str | None,
        leftover: bytes,
        peer: str,
    ) -> None: ...


HEAD_TIMEOUT_S = 5.0
MAX_HEAD_BYTES = 16 * 1024
MAX_REQUEST_LINE_BYTES = 8 * 1024
REFUSAL_LINGER_S = 1.0
"""After refusing a request, how long the door discards what the client still sends (so the
close is a FIN after the answer, not a reset that could destroy it)."""


def routed_path(target: bytes) -> str:
    """The path the HTTP stack routes a request target to, decoded as it decodes it.

    hypercorn splits the query off the raw target and percent-decodes the rest (so
    ``/api/dersim/ws/%74elemetry`` *is* the telemetry path), and quart takes the path of an
    absolute-form target (``GET http://host/api/... HTTP/1.1``). The door must see the same
    path, or a request it does not recognise reaches the quart route instead.
    """
    path = unquote(target.partition(b"?")[0].decode("latin-1"))
    if not path.startswith("/"):
        path = urlsplit(path).path
    return path


def is_telemetry_request_line(line: bytes) -> bool:
    """Whether a request line (without CRLF) asks for a telemetry path, with any method."""
    parts = line.split(b" ")
    return len(parts) == 3 and routed_path(parts[1]) in TELEMETRY_PATHS


def open_listener(
    host: str, port: int, *, user_timeout_ms: int = TCP_USER_TIMEOUT_MS
) -> socket.socket:
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


def abort_socket(sock: trio.socket.SocketType | socket.socket) -> None:
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


def _peer_of(sock: trio.socket.SocketType) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "unknown"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class FrontDoor:
    """Accepts connections, routes each by its request line, bounds their shutdown.

    Without a telemetry handler every connection goes to ``http_handler`` untouched. With one,
    the door reads the request line: a request for anything but a telemetry path (as the HTTP
    stack would decode it: ``routed_path``) goes to the HTTP stack at once with the bytes read
    so far replayed; a telemetry request is read to the end of its head (at most 16 KiB within
    5 s), validated as a WebSocket upgrade and handed to the fast path on the raw socket. A
    telemetry request the door does not serve (not ``GET``, not HTTP/1.1, not a valid upgrade)
    is answered by the door itself, 400 with a JSON error body, and closed: the slower quart
    route is never reached through the door. A telemetry request whose Host does not name this
    server (``hosts``, ``web/hosts.py``: DNS rebinding) is answered 421 the same way.

    Under ``hypercorn -k trio`` hypercorn owns the listener (``listen_socket`` None) and hands
    each accepted connection to ``handle_connection`` with that connection's own HTTP handler.
    """

    def __init__(
        self,
        listen_socket: socket.socket | None,
        http_handler: HttpHandler | None,
        telemetry_handler: TelemetryHandler | None = None,
        *,
        hosts: HostPolicy | None = None,
    ) -> None:
        self._listen_socket = listen_socket
        self._hosts = hosts or HostPolicy()
        self._http = http_handler
        self._telemetry = telemetry_handler
        self._open: dict[object, trio.socket.SocketType | socket.socket] = {}
        self._all_closed = trio.Event()
        self._all_closed.set()
        self.connections_accepted = 0
        self.connections_failed = 0
        self.fast_path_connections = 0

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet finished."""
        return len(self._open)

    async def serve(
        self,
        handler_nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept until cancelled; handlers run in ``handler_nursery`` (they outlive accepting)."""
        if self._listen_socket is None:
            raise RuntimeError("this door has no listening socket (its connections come in)")
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(self._listen_socket))
        try:
            await trio.serve_listeners(
                self.handle_connection,
                [listener],
                handler_nursery=handler_nursery,
                task_status=task_status,
            )
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()

    async def handle_connection(
        self, stream: trio.SocketStream, http_handler: HttpHandler | None = None
    ) -> None:
        """Route and serve one accepted connection (``http_handler`` overrides the door's own)."""
        http = http_handler or self._http
        if http is None:
            raise RuntimeError("no HTTP handler for this connection")
        token = object()
        self._open[token] = stream.socket
        self._all_closed = trio.Event()
        self.connections_accepted += 1
        raw: socket.socket | None = None
        try:
            if self._telemetry is None:
                await http(stream, b"")
            else:
                raw = await self._route(stream, token, http)
        except* Exception as group:
            self.connections_failed += 1
            log.warning("connection failed and was closed: %r", group.exceptions[0])
            abort_socket(self._open[token])
        finally:
            with trio.CancelScope(shield=True):
                if raw is not None:
                    trio.lowlevel.notify_closing(raw)
                    raw.close()
                with contextlib.suppress(
                    trio.BrokenResourceError, trio.ClosedResourceError, OSError
                ):
                    await stream.aclose()
            del self._open[token]
            if not self._open:
                self._all_closed.set()

    async def _route(
        self, stream: trio.SocketStream, token: object, http: HttpHandler
    ) -> socket.socket | None:
        """Read the request head as far as needed and serve the connection; return the raw
        socket if the fast path took it (the caller closes it)."""
        assert self._telemetry is not None
        buf = bytearray()
        route = await self._read_head(stream, buf)
        if route == "http":
            await http(stream, bytes(buf))
            return None
        if route != "telemetry":
            # nothing within the head timeout, EOF, or an oversized/slow telemetry head: close
            log.debug("closing %s: no complete request head", _peer_of(stream.socket))
            return None
        head_end = buf.find(b"\r\n\r\n")
        head, leftover = bytes(buf[: head_end + 4]), bytes(buf[head_end + 4 :])
        misdirected = self._hosts.refusal(_host_of(head), _local_of(stream.socket))
        if misdirected is not None:
            log.info(
                "refused a telemetry request from %s: %s", _peer_of(stream.socket), misdirected
            )
            await _refuse(stream, 421, "misdirected_request", misdirected)
            return None
        upgrade = _parse_upgrade(head)
        if isinstance(upgrade, str):
            log.info("refused a telemetry request from %s: %s", _peer_of(stream.socket), upgrade)
            await _refuse(stream, 400, "invalid_upgrade", upgrade)
            return None
        response_101, device_raw = upgrade
        peer = _peer_of(stream.socket)
        raw = socket.socket(fileno=stream.socket.detach())
        self._open[token] = raw
        self.fast_path_connections += 1
        await self._telemetry(raw, response_101, device_raw, leftover, peer)
        return raw

    @staticmethod
    async def _read_head(stream: trio.SocketStream, buf: bytearray) -> str | None:
        """Read into ``buf`` until the route is known: "http", "telemetry" (whole head read),
        or None (closed, timed out, or a telemetry head over the size limit)."""
        telemetry_line = False
        with trio.move_on_after(HEAD_TIMEOUT_S):
            while True:
                try:
                    chunk = await stream.receive_some(MAX_HEAD_BYTES)
                except trio.BrokenResourceError:
                    return None  # reset by the peer: no request, like EOF (not a failure)
                if not chunk:
                    return None
                buf += chunk
                if not telemetry_line:
                    line_end = buf.find(b"\r\n")
                    if line_end < 0:
                        if len(buf) > MAX_REQUEST_LINE_BYTES:
                            return "http"  # hypercorn answers an oversized request line
                        continue
                    if not is_telemetry_request_line(bytes(buf[:line_end])):
                        return "http"
                    telemetry_line = True
                head_end = buf.find(b"\r\n\r\n")
                if 0 <= head_end <= MAX_HEAD_BYTES - 4:
                    return "telemetry"
                if head_end >= 0 or len(buf) > MAX_HEAD_BYTES:
                    return None  # the head is (or would end up) over the size limit
        return None

    async def wait_all_closed(self) -> None:
        """Return once no accepted connection is open."""
        while self._open:
            await self._all_closed.wait()

    def abort_all(self) -> int:
        """Reset every open connection; return how many were aborted."""
        count = len(self._open)
        for sock in list(self._open.values()):
            abort_socket(sock)
        return count


def _host_of(head: bytes) -> str | None:
    """The Host header of a request head (None if it has none)."""
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"host":
            return value.strip().decode("latin-1")
    return None


def _local_of(sock: trio.socket.SocketType) -> tuple[str, int] | None:
    try:
        address = sock.getsockname()
    except OSError:
        return None
    return str(address[0]), int(address[1])


def _parse_upgrade(head: bytes) -> tuple[bytes, str | None] | str:
    """(101 response, raw ``device`` value) for a valid WebSocket upgrade head, else why not."""
    conn = h11.Connection(h11.SERVER)
    try:
        conn.receive_data(head)
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        return f"malformed request: {exc}"
    if not isinstance(event, h11.Request):
        return "malformed request"
    if event.method != b"GET" or event.http_version != b"1.1":
        return "the telemetry stream is a WebSocket: GET with an HTTP/1.1 upgrade (RFC 6455)"
    try:
        response = handshake_response(event.headers)
    except HandshakeError as exc:
        return f"not a valid WebSocket upgrade (RFC 6455): {exc}"
    target = event.target.decode("latin-1")
    query = target.partition("?")[2]
    values = parse_qs(query, keep_blank_values=True).get("device")
    return response, (values[0] if values else None)


async def _refuse(stream: trio.SocketStream, status: int, error: str, detail: str) -> None:
    """Answer ``status`` with the API's JSON error body and close (FIN after the answer, then
    the client's input is discarded for up to ``REFUSAL_LINGER_S``)."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    reason = {400: "Bad Request", 421: "Misdirected Request"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    with (
        trio.move_on_after(REFUSAL_LINGER_S),
        contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError),
    ):
        await stream.send_all(head + body)
        await stream.send_eof()
        while await stream.receive_some(MAX_HEAD_BYTES):
            pass
