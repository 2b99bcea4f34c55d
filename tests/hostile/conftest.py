"""Helpers for the hostile-client suite (``tests/hostile/``): every probe of issue 16 as a test.

Everything here talks to 127.0.0.1 only, is bounded in count and time, and stops by itself.
Two ways to run the server under attack:

* in-process (the ``start_service`` fixture of ``tests/conftest.py``), for probes whose failure
  mode ends by itself;
* as a real process (``python -m dersim_trio``, ``Probe.simulator``) for probes whose failure
  mode is a task that never ends (a leak or a hang): only a separate process can be killed.

Test modules get the helpers through the ``probe`` fixture (test modules never import a
``conftest``; see ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import h2.config
import h2.connection
import h2.settings
import pytest
import trio

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
WS_PATH = "/api/dersim/ws/telemetry"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MASK = b"\x5a\xa5\x0f\xf0"


def client_frame(
    opcode: int, data: bytes = b"", *, fin: bool = True, mask: bytes | None = MASK, rsv: int = 0
) -> bytes:
    """One client→server WebSocket frame (masked unless ``mask`` is None)."""
    n = len(data)
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        header = struct.pack("!BB", first, mask_bit | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if mask is None:
        return header + data
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big") if n else 0
    body = (int.from_bytes(data, "big") ^ key).to_bytes(n, "big") if n else b""
    return header + mask + body


def upgrade_request(
    port: int,
    path: str = WS_PATH,
    *,
    host: str | None = None,
    key: str = KEY,
    extra: str = "",
) -> bytes:
    """A WebSocket upgrade request; ``host`` defaults to ``127.0.0.1:<port>``."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


def http_request(
    port: int,
    method: str,
    path: str,
    *,
    host: str | None = None,
    body: bytes | None = None,
    content_type: str | None = "application/json",
    close: bool = False,
) -> bytes:
    """One HTTP/1.1 request (``Content-Length`` set when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}"]
    if body is not None:
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Conn:
    """A trio client socket with a read buffer: HTTP responses, WebSocket frames, EOF."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self.buffer = bytearray()

    @classmethod
    async def open(cls, port: int, *, rcvbuf: int | None = None) -> Conn:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            await sock.connect(("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[await self.sock.send(view) :]

    async def _fill(self) -> None:
        chunk = await self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    async def read_until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            await self._fill()
        data = bytes(self.buffer[:end])
        del self.buffer[: end + len(marker)]
        return data

    async def read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            await self._fill()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def read_response(self) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-case headers, body) of one response, read by content-length."""
        head = (await self.read_until(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
        body = await self.read_exactly(int(headers.get("content-length", "0")))
        return status, headers, body

    async def handshake(self, port: int, path: str = WS_PATH, **kwargs: Any) -> bytes:
        """Upgrade; return the 101 head (asserted)."""
        await self.send(upgrade_request(port, path, **kwargs))
        head = await self.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return head

    async def read_frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.read_exactly(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.read_exactly(8))
        return b0 & 0x0F, await self.read_exactly(length)

    async def read_close_code(self) -> int | None:
        """Skip data, ping and pong frames; the code of the close frame (None: closed without
        one)."""
        try:
            while (frame := await self.read_frame())[0] != CLOSE:
                pass
        except (EOFError, ConnectionResetError):
            return None
        return int(struct.unpack("!H", frame[1][:2])[0]) if len(frame[1]) >= 2 else 1005

    async def read_until_closed(self) -> bytes:
        """Everything until EOF or a reset (a reset is a close too)."""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await self.sock.recv(65536):
                self.buffer += chunk
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


@contextlib.asynccontextmanager
async def connection(port: int, **kwargs: Any) -> AsyncIterator[Conn]:
    conn = await Conn.open(port, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


# --- HTTP/2 (client side built with the h2 package) ---------------------------------------------


def h2_client(**settings: int) -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    codes = {getattr(h2.settings.SettingCodes, k): v for k, v in settings.items()}
    conn.local_settings = h2.settings.Settings(client=True, initial_values=codes)
    return conn


def h2_prior_knowledge_request(port: int, path: str, **settings: int) -> bytes:
    """Connection preface, SETTINGS and one GET on stream 1 (end of stream): HTTP/2 with prior
    knowledge, as ``curl --http2-prior-knowledge`` sends it."""
    conn = h2_client(**settings)
    conn.initiate_connection()
    authority = f"127.0.0.1:{port}"
    headers = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", authority)]
    conn.send_headers(1, headers, end_stream=True)
    return conn.data_to_send()


def h2c_upgrade_request(port: int, path: str) -> bytes:
    """An HTTP/1.1 GET asking to upgrade to HTTP/2 (``Upgrade: h2c``, RFC 7540 §3.2)."""
    conn = h2_client()
    settings = conn.initiate_upgrade_connection().decode()  # already base64url
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        f"HTTP2-Settings: {settings}\r\n\r\n"
    ).encode()


# --- the real process -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def simulator(*flags: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m dersim_trio`` with ``flags``; killed if still running when the block ends."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dersim_trio", *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        assert proc.stderr is not None
        proc.stderr.close()


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """A blocking one-shot HTTP/1.1 GET (Host with the port); (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(http_request(port, "GET", path, close=True))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def server_info(port: int) -> dict[str, Any]:
    status, body = http_get(port, "/api/dersim/server-info")
    assert status == 200, body
    return json.loads(body)  # type: ignore[no-any-return]


async def wait_serving(proc: subprocess.Popen[bytes], port: int) -> None:
    def answers() -> bool:
        assert proc.poll() is None, "the simulator exited during start-up"
        try:
            return http_get(port, "/api/dersim/overview", timeout=1)[0] == 200
        except OSError:
            return False

    with trio.fail_after(20):
        while not await trio.to_thread.run_sync(answers):  # noqa: ASYNC110 - another process
            await trio.sleep(0.05)


async def wait_exit(proc: subprocess.Popen[bytes], within: float) -> int:
    with trio.fail_after(within):
        while proc.poll() is None:  # noqa: ASYNC110 - a child process has no trio event
            await trio.sleep(0.01)
    return proc.returncode


def open_descriptors(pid: int) -> int:
    """How many file descriptors process ``pid`` holds (Linux ``/proc``)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


class Probe:
    """The helpers above, handed to tests by the ``probe`` fixture."""

    KEY = KEY
    WS_PATH = WS_PATH
    CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG
    SIGTERM = signal.SIGTERM
    Conn = Conn
    connection = staticmethod(connection)
    client_frame = staticmethod(client_frame)
    upgrade_request = staticmethod(upgrade_request)
    http_request = staticmethod(http_request)
    h2_client = staticmethod(h2_client)
    h2_prior_knowledge_request = staticmethod(h2_prior_knowledge_request)
    h2c_upgrade_request = staticmethod(h2c_upgrade_request)
    free_port = staticmethod(free_port)
    simulator = staticmethod(simulator)
    http_get = staticmethod(http_get)
    server_info = staticmethod(server_info)
    wait_serving = staticmethod(wait_serving)
    wait_exit = staticmethod(wait_exit)
    open_descriptors = staticmethod(open_descriptors)


@pytest.fixture
def probe() -> type[Probe]:
    """Attack helpers (see ``Probe``)."""
    return Probe
