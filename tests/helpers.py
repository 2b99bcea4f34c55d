"""The test suite's shared helpers: the one place for anything two test modules need.

Test modules import it (``from helpers import ...``); ``conftest.py`` holds the fixtures and
hands the most used builders over as the ``kit`` fixture as well. (``tests/`` has no
``__init__.py``; pytest puts the folder on ``sys.path`` while it loads ``tests/conftest.py``, so
``helpers`` imports the same way from ``tests/``, ``tests/physics/`` and ``tests/browser/``.)

Everything here is deterministic: configurations pin the simulator start
(``--start_date 2026-06-21 --start_clock_time 12:00:00``, solstice noon UTC) and the wall-clock
reading passed to ``build_engine`` is a constant, so two engines built from the same flags
produce identical bytes.

* **Builders**: ``make_config``, ``make_engine``, ``make_context``, ``start_in_process`` (the
  quart app and the tick loop in the test's nursery, for ``autojump_clock`` tests).
* **Waiting**: ``wait_until`` (poll another task's state with a trio-clock deadline).
* **Raw clients on trio sockets**: ``RawClient`` (HTTP and WebSocket bytes, to misbehave on
  purpose), ``client_frame`` (a masked RFC 6455 client frame), ``upgrade_request``,
  ``get_request``; blocking ``http_get_raw`` for worker threads.
* **trio-websocket clients**: ``ws_url``, ``drain``, ``release``.
* **The simulator as a process**: ``simulator_process``, ``read_until_serving``,
  ``SERVING_LINE``; ``running`` / ``Output`` for any command whose output a test reads;
  ``wait_answering``, ``wait_exit``, ``server_info``, ``open_descriptors``.
* **HTTP/2 clients** (built with the ``h2`` package): ``h2_client``,
  ``h2_prior_knowledge_request``, ``h2c_upgrade_request``.
* **SunSpec Modbus clients** (pysunspec2, blocking: run them with ``trio.to_thread``):
  ``sunspec_scan``, ``sunspec_models_pinned``, ``sunspec_point``, ``sunspec_write``,
  ``modbus_exception_code``; ``modbus_request``
  (one raw request on a blocking socket).
* **Launches** (the contract suite runs against each of ``LAUNCHES``): ``Launched``, the one
  interface over ``InProcessLaunch`` (``run_service`` in the test's trio run, with or without
  the fast path) and ``ServerProcess`` (``hypercorn -k trio dersim_trio.asgi:app`` or
  ``python -m dersim_trio`` as a real process, observed from outside: ``server_info`` and the
  process tree's sockets in ``/proc``); ``eventually`` and ``wait_launch_idle`` to wait on them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import h2.config
import h2.connection
import h2.settings
import httpx
import sunspec2.device
import sunspec2.modbus.client as sunspec_client
import sunspec2.modbus.modbus as sunspec_modbus
import trio
import trio_websocket
from quart_trio import QuartTrio

from dersim_trio.engine.core import Engine
from dersim_trio.protocols.modbus.codec import (
    ReadRegisters,
    Response,
    WriteMultiple,
    WriteSingle,
    decode_response,
    encode_frame,
    encode_request,
)
from dersim_trio.service.build import build_engine
from dersim_trio.service.hub import Hub
from dersim_trio.service.run import RunningService, tick_loop
from dersim_trio.setup.config import SimConfig, parse_args
from dersim_trio.web.app import ServerContext, create_app
from dersim_trio.web.fastpath.frames import accept_key

ROOT = Path(__file__).resolve().parent.parent
"""The repository root."""

FIXED_WALL = datetime(2026, 6, 21, 12, 0, 0, tzinfo=UTC)
"""The wall-clock reading every test engine is built with (only used for defaults)."""

DETERMINISTIC_START = ["--start_date", "2026-06-21", "--start_clock_time", "12:00:00"]

WS_PATH = "/api/dersim/ws/telemetry"
WS_ALIAS_PATH = "/api/dersim/telemetry/ws"
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
"""The sample ``Sec-WebSocket-Key`` of RFC 6455 section 1.3."""

TEXT, BINARY, CONTINUATION = 0x1, 0x2, 0x0
CLOSE, PING, PONG = 0x8, 0x9, 0xA
MASK = b"\x37\xfa\x21\x3d"

SERVING_LINE = re.compile(r"serving .* on http://([^:\s]+):(\d+)")
"""The start-up log line of ``dersim-trio``; group 2 is the port it listens on."""

# The two clients of the user's telemetry-stream document (examples/client_websockets.py and
# examples/client_node.js) hard-code ws://localhost:8111 and stay byte for byte as written;
# these redirect it to ``DERSIM_WS_HOSTPORT`` (host:port) so tests never need port 8111.
PYTHON_REDIRECT_8111 = (
    "import os, runpy, sys, websockets\n"
    "connect = websockets.connect\n"
    "websockets.connect = lambda uri, *a, **k: connect(\n"
    "    uri.replace('localhost:8111', os.environ['DERSIM_WS_HOSTPORT']), *a, **k)\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
)
"""``python -c PYTHON_REDIRECT_8111 SCRIPT``: runs SCRIPT with ``websockets.connect`` wrapped."""
NODE_REDIRECT_8111 = ROOT / "tests" / "redirect_ws.js"
"""``node -r NODE_REDIRECT_8111 SCRIPT``: the ``ws`` package's WebSocket wrapped."""


# --- configurations, engines, the in-process app ----------------------------------------------


def make_config(*flags: str) -> SimConfig:
    """A validated config with a pinned start (extra flags are appended, so they win)."""
    return parse_args([*DETERMINISTIC_START, *flags])


def make_engine(*flags: str) -> Engine:
    """An engine for ``make_config(*flags)`` built at ``FIXED_WALL``."""
    return build_engine(make_config(*flags), FIXED_WALL)


def make_context(config: SimConfig) -> ServerContext:
    """The run facts ``run_service`` would report for ``config``."""
    return ServerContext.for_run(config, FIXED_WALL, trio.current_time())


def tick_of(message: str | bytes) -> int:
    """The ``tick`` field of one WebSocket/HTTP snapshot message."""
    return int(json.loads(message)["tick"])


def device_of(message: str | bytes) -> int:
    """The ``device_index`` field of one snapshot message."""
    return int(json.loads(message)["device_index"])


@dataclass
class InProcess:
    """An app, its hub and engine, with the tick loop running in the test's nursery."""

    config: SimConfig
    engine: Engine
    hub: Hub
    app: QuartTrio

    @property
    def period(self) -> float:
        return self.config.periodic_time_s

    async def sleep_to_mid_tick(self, k: int) -> None:
        """Sleep (virtual) until a quarter period after tick k: never on a tick boundary."""
        await trio.sleep_until(self.t0 + k * self.period + self.period / 4)

    t0: float = 0.0


async def start_in_process(nursery: trio.Nursery, *flags: str) -> InProcess:
    """Build the app and start ``tick_loop`` in ``nursery`` (tick 0 is published on return)."""
    config = make_config(*flags)
    engine = build_engine(config, FIXED_WALL)
    hub = Hub(config.device_count)
    app = create_app(hub, make_context(config))
    t0 = trio.current_time()
    await nursery.start(partial(tick_loop, engine, hub, config.periodic_time_s))
    return InProcess(config, engine, hub, app, t0=t0)


@dataclass
class Served:
    """A started ``run_service`` (the ``start_service`` fixture): its ``RunningService`` plus an
    event set when it returned.

    Attribute access falls through to the ``RunningService`` (``hub``, ``door``, ``port``,
    ``http_url``, ``request_shutdown``...).
    """

    service: RunningService
    done: trio.Event

    def __getattr__(self, name: str) -> Any:
        return getattr(self.service, name)


# --- waiting ----------------------------------------------------------------------------------


async def wait_until(predicate: Callable[[], bool], *, within: float, poll: float = 0.01) -> None:
    """Poll ``predicate`` until true; fail with ``trio.TooSlowError`` after ``within`` seconds.

    For state that has no event to wait on (counters of another task, a child process).
    """
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - polling with a deadline is the point
            await trio.sleep(poll)


async def wait_idle(service: Served, within: float = 10) -> None:
    """No WebSocket subscriber and no open connection left on ``service``."""
    await wait_until(
        lambda: service.hub.statistics().subscribers == 0 and service.door.open_connections == 0,
        within=within,
    )


# --- requests and frames as bytes -------------------------------------------------------------


def upgrade_request(
    port: int,
    path: str = WS_PATH,
    *,
    key: str | None = WS_KEY,
    version: str = "13",
    extra: str = "",
    host: str | None = None,
) -> bytes:
    """A WebSocket upgrade request (``key=None`` leaves the key out; ``extra``: header lines;
    ``host``: the Host header, default ``127.0.0.1:<port>``)."""
    key_line = f"Sec-WebSocket-Key: {key}\r\n" if key is not None else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\n{key_line}"
        f"Sec-WebSocket-Version: {version}\r\n{extra}\r\n"
    ).encode()


def get_request(path: str, port: int, *, close: bool = False) -> bytes:
    """An HTTP/1.1 GET to 127.0.0.1:``port`` (``close``: with ``Connection: close``)."""
    return http_request(port, "GET", path, close=close)


def http_request(
    port: int,
    method: str,
    path: str,
    *,
    host: str | None = None,
    body: bytes | None = None,
    content_type: str | None = "application/json",
    close: bool = False,
    extra: str = "",
) -> bytes:
    """One HTTP/1.1 request; ``host`` defaults to ``127.0.0.1:<port>`` (the server refuses a
    Host naming anything else, ``web/hosts.py``); with a ``body``, ``Content-Length`` and
    ``content_type``; ``extra``: more header lines."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}"]
    if body is not None:
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode() + (body or b"")


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = MASK,
    length: int | None = None,
) -> bytes:
    """A client frame as a client would send it (masked unless ``mask`` is None).

    ``length`` overrides the header's length (to announce a payload that is not sent).
    """
    n = len(payload) if length is None else length
    mask_bit = 0x80 if mask is not None else 0
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def parse_frames(data: bytes | bytearray) -> list[tuple[int, bytes]]:
    """Split a server byte stream into (opcode, payload); it must end on a frame boundary."""
    frames = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert b0 & 0x80, f"fragmented or corrupt frame at byte {pos}"
        assert not b1 & 0x80, "server frames are never masked"
        length, pos = b1 & 0x7F, pos + 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        assert pos + length <= len(data), "the stream ends inside a frame"
        frames.append((b0 & 0x0F, bytes(data[pos : pos + length])))
        pos += length
    return frames


# --- a raw client on a trio socket --------------------------------------------------------------


class RawClient:
    """A trio client socket with a read buffer: HTTP responses, WebSocket frames, EOF.

    Just enough RFC 6455 to misbehave on purpose: any bytes, a handshake, frames, a clean close,
    a reset. ``rcvbuf`` shrinks the receive buffer before connecting (a stalled reader).
    """

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self.buffer = bytearray()

    @classmethod
    async def open(cls, port: int, *, rcvbuf: int | None = None) -> RawClient:
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

    async def handshake(self, port: int, path: str = WS_PATH, *, extra: str = "") -> bytes:
        """Send a valid upgrade and read the 101 (checked); return the response head."""
        await self.send(upgrade_request(port, path, extra=extra))
        head = await self.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        expected = f"sec-websocket-accept: {accept_key(WS_KEY)}".lower().encode()
        assert expected in head.lower(), head
        return head

    async def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (servers never fragment nor mask)."""
        b0, b1 = await self.read_exactly(2)
        assert b0 & 0x80, "the server never fragments"
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.read_exactly(8))
        return b0 & 0x0F, await self.read_exactly(length)

    async def read_control_frame(self) -> tuple[int, bytes]:
        """The next frame that is not a telemetry text frame (those are read and dropped)."""
        while (frame := await self.read_frame())[0] == TEXT:
            pass
        return frame

    async def read_snapshot(self, *, answer_pings: bool = False) -> dict[str, Any]:
        """The next text message, parsed. ``answer_pings``: pings before it are answered and
        pongs skipped (hypercorn's route pings its clients; the fast path never does)."""
        opcode, data = await self.read_frame()
        while answer_pings and opcode in (PING, PONG):
            if opcode == PING:
                await self.send_frame(PONG, data)
            opcode, data = await self.read_frame()
        assert opcode == TEXT, (opcode, data)
        return json.loads(data)  # type: ignore[no-any-return]

    async def send_frame(self, opcode: int, payload: bytes = b"") -> None:
        await self.send(client_frame(opcode, payload))

    async def read_close_code(self) -> int | None:
        """Skip data, ping and pong frames; the code of the server's close frame (1005 for an
        empty one; None when the connection ended without one)."""
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

    async def close_cleanly(self) -> None:
        """Send close 1000, read until the server closes the TCP connection, close."""
        await self.send_frame(CLOSE, struct.pack("!H", 1000))
        await self.read_until_closed()
        self.close()

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0): no close frame, no FIN. No-op once closed."""
        if self.sock.fileno() == -1:
            return
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


@contextlib.asynccontextmanager
async def raw_connection(port: int, *, rcvbuf: int | None = None) -> AsyncIterator[RawClient]:
    """A ``RawClient`` for the block, closed after it."""
    conn = await RawClient.open(port, rcvbuf=rcvbuf)
    try:
        yield conn
    finally:
        conn.close()


def http_get_raw(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """A blocking one-shot HTTP/1.1 GET; return (status, body) read by ``content-length``.

    (It does not rely on the server closing the connection after ``Connection: close``.) For
    worker threads and for tests of another process.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(get_request(path, port, close=True))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the end of the body")
            body += chunk
    return status, body


# --- trio-websocket clients -------------------------------------------------------------------


def ws_url(port: int, path: str = WS_PATH) -> str:
    """The telemetry URL of a server on 127.0.0.1:``port``."""
    return f"ws://127.0.0.1:{port}{path}"


async def drain(ws: trio_websocket.WebSocketConnection) -> None:
    """Read messages until the connection closes (raises ``ConnectionClosed``)."""
    while True:
        await ws.get_message()


async def release(ws: trio_websocket.WebSocketConnection) -> None:
    """Close the client's TCP stream after a server-initiated close.

    trio-websocket 0.12 leaves its socket open when the server closes first (its reader stops
    at EOF once wsproto is CLOSED and ``aclose`` returns early), which ``filterwarnings =
    error`` reports as an unclosed socket.
    """
    await ws._stream.aclose()


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on right now (for a process that must be told its port)."""
    return free_port_run(1)


FREE_RUN_ATTEMPTS = 200
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_CHOSEN = 20000
_ports = random.Random()  # which free port a test gets never changes what it checks


def _below_ephemeral() -> range:
    """The ports from 20000 up to the kernel's ephemeral range, which it never hands out on its
    own (empty where the range cannot be read)."""
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    return range(_LOWEST_CHOSEN, low)


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive ports nothing listens on right now (for a process
    told one port that binds the next ones too, as a fleet's shards on ``-wp`` + k).

    Every port of the run is bound at once before they are all released, so the run was
    entirely free at that moment. The run is drawn below the kernel's ephemeral range: the
    suite runs on two worker processes, and the kernel hands the other worker's connections
    and port-0 binds ephemeral ports, which could land on a run released seconds or, for the
    README's session, minutes before its process binds it. Where that range cannot be read,
    the first port is one the kernel hands out. Raises ``OSError`` if no run is found.
    """
    chosen = _below_ephemeral()
    for _ in range(FREE_RUN_ATTEMPTS):
        with contextlib.ExitStack() as held:
            if len(chosen) > count:
                base = _ports.randrange(chosen.start, chosen.stop - count + 1)
                ports = range(base, base + count)
            else:
                first = held.enter_context(socket.socket())
                first.bind(("127.0.0.1", 0))
                base = int(first.getsockname()[1])
                ports = range(base + 1, base + count)
                if base + count - 1 > 65535:
                    continue
            try:
                for port in ports:
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue  # one of the run is taken: try another first port
            return base
    raise OSError(f"no {count} consecutive free ports on 127.0.0.1")


@contextlib.contextmanager
def simulator_process(
    *flags: str, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m dersim_trio FLAGS`` (stdout and stderr piped, ``env`` added to the
    environment); killed if still running when the block ends, its pipes closed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dersim_trio", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def read_until_serving(proc: subprocess.Popen[bytes]) -> tuple[str, int]:
    """The log up to the "serving ... on http://127.0.0.1:PORT" line, and PORT (blocking: run
    it in a worker thread under a ``fail_after``)."""
    assert proc.stderr is not None
    seen = ""
    while True:
        line = proc.stderr.readline().decode()
        if not line:
            raise AssertionError(f"exited during start-up:\n{seen}")
        seen += line
        match = SERVING_LINE.search(line)
        if match:
            return seen, int(match.group(2))


class Output:
    """A subprocess's merged stdout/stderr, read as it arrives."""

    def __init__(self, process: trio.Process) -> None:
        assert process.stdout is not None
        self.process = process
        self._stream = process.stdout
        self.text = ""

    async def wait_for(self, pattern: re.Pattern[str] | str) -> re.Match[str]:
        """Read until ``pattern`` matches the output so far (fails at EOF)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        while (match := regex.search(self.text)) is None:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                raise AssertionError(f"exited before {regex.pattern!r}; output:\n{self.text}")
            self.text += chunk.decode(errors="replace")
        return match

    async def read_to_end(self) -> str:
        """Everything until the process closes its output."""
        while chunk := await self._stream.receive_some(65536):
            self.text += chunk.decode(errors="replace")
        return self.text


@contextlib.asynccontextmanager
async def running(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> AsyncIterator[Output]:
    """Run ``args`` for the body (``env`` added to the environment); it is terminated (SIGTERM)
    when the body ends, if it is still running."""
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                list(args),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=False,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                cwd=cwd,
            )
        )
        yield Output(process)
        nursery.cancel_scope.cancel()


async def wait_answering(proc: subprocess.Popen[bytes], port: int, within: float = 20) -> None:
    """Poll until the simulator process ``proc`` answers HTTP on ``port``."""

    def answers() -> bool:
        assert proc.poll() is None, "the simulator exited during start-up"
        try:
            return http_get_raw(port, "/api/dersim/overview", timeout=1)[0] == 200
        except OSError:
            return False

    with trio.fail_after(within):
        while not await trio.to_thread.run_sync(answers):  # noqa: ASYNC110 - another process
            await trio.sleep(0.05)


async def wait_exit(proc: subprocess.Popen[bytes], within: float) -> int:
    """The exit code of ``proc``; ``trio.TooSlowError`` if it is still running after ``within``."""
    with trio.fail_after(within):
        while proc.poll() is None:  # noqa: ASYNC110 - a child process has no trio event
            await trio.sleep(0.01)
    return proc.returncode


def server_info(port: int) -> dict[str, Any]:
    """``GET /api/dersim/server-info`` of a server on 127.0.0.1:``port`` (blocking)."""
    status, body = http_get_raw(port, "/api/dersim/server-info")
    assert status == 200, body
    return json.loads(body)  # type: ignore[no-any-return]


def open_descriptors(pid: int) -> int:
    """How many file descriptors process ``pid`` holds (Linux ``/proc``)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- the fleet supervisor as a process ---------------------------------------------------------

SUMMARY_LINE = re.compile(r"summary on http://127\.0\.0\.1:(\d+)/fleet")
"""The supervisor's log line naming its summary port."""


def fleet_command(*flags: str) -> tuple[str, ...]:
    """``dersim-trio fleet`` with a pinned start, every shard and the summary on free ports."""
    return (
        sys.executable, "-m", "dersim_trio", "fleet", *DETERMINISTIC_START,
        "-wp", "0", "--fleet_port", "0", *flags,
    )  # fmt: skip


async def summary_of(output: Output, client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    """The summary port the supervisor logged, and its ``/fleet``."""
    port = int((await output.wait_for(SUMMARY_LINE)).group(1))
    return port, (await client.get(f"http://127.0.0.1:{port}/fleet")).json()


async def wait_serving(
    client: httpx.AsyncClient, summary_port: int, *, restarts: int = 0
) -> dict[str, Any]:
    """Poll ``/fleet`` and every shard until all run (with ``restarts`` in all) and answer."""
    while True:
        fleet = (await client.get(f"http://127.0.0.1:{summary_port}/fleet")).json()
        shards = fleet["shards"]
        if (
            all(s["state"] == "running" for s in shards)
            and sum(s["restarts"] for s in shards) == restarts
        ):
            try:
                for s in shards:
                    (await client.get(s["url"] + "/api/dersim/server-info")).raise_for_status()
            except httpx.TransportError:
                pass
            else:
                return fleet  # type: ignore[no-any-return]
        await trio.sleep(0.1)


# --- HTTP/2 clients ---------------------------------------------------------------------------


def h2_client(**settings: int) -> h2.connection.H2Connection:
    """A client-side HTTP/2 connection; ``settings`` by ``SettingCodes`` name, e.g.
    ``INITIAL_WINDOW_SIZE=0``."""
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
    """An HTTP/1.1 GET asking to upgrade to HTTP/2 (``Upgrade: h2c``, RFC 7540 section 3.2)."""
    settings = h2_client().initiate_upgrade_connection().decode()  # already base64url
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        f"HTTP2-Settings: {settings}\r\n\r\n"
    ).encode()


# --- SunSpec Modbus clients -------------------------------------------------------------------

SUNSPEC_MODELS_DIR = os.path.join(os.path.dirname(sunspec2.device.__file__), "models")
"""pysunspec2's own model directory (its loader would search the working directory first)."""


@contextlib.contextmanager
def sunspec_models_pinned() -> Iterator[None]:
    """pysunspec2's model search path limited to its package directory, restored after."""
    saved = sunspec2.device.get_model_defs_path()
    sunspec2.device.set_model_defs_path([SUNSPEC_MODELS_DIR])
    try:
        yield
    finally:
        sunspec2.device.set_model_defs_path(saved)


def sunspec_scan(
    port: int, *, unit: int = 1, timeout: float = 5.0
) -> sunspec_client.SunSpecModbusClientDeviceTCP:
    """Scan a device with pysunspec2 (blocking; every model read once; the connection is
    closed afterwards, also when the scan fails)."""
    device = sunspec_client.SunSpecModbusClientDeviceTCP(
        slave_id=unit, ipaddr="127.0.0.1", ipport=port, timeout=timeout
    )
    try:
        device.scan()
    finally:
        device.disconnect()
    return device


def sunspec_point(model: Any, path: str) -> Any:
    """A pysunspec2 point by the server's path, repeated groups numbered from 1 as SunSpec
    numbers them (``Crv[2].Pt[1].V`` is pysunspec2's ``Crv[1].Pt[0].V``)."""
    node = model
    parts = path.split(".")
    for part in parts[:-1]:
        name, _, index = part.partition("[")
        group = node.groups[name]
        node = group[int(index.rstrip("]")) - 1] if index else group
    return node.points[parts[-1]]


def sunspec_write(port: int, model_id: int, values: dict[str, float], *, raw: bool = False) -> int:
    """Scan, set ``values`` (engineering values, or raw register values with ``raw``) on one
    model by ``sunspec_point`` path and write them as pysunspec2's ``model.write()`` does (the
    dirty points, contiguous ones in one request: function 16, a lone register function 6);
    the Modbus exception code, 0 when the write was answered normally."""
    model = sunspec_scan(port).models[model_id][0]
    for path, value in values.items():
        point = sunspec_point(model, path)
        if raw:
            point.value = value
        else:
            point.cvalue = value
    try:
        model.write()
    except sunspec_modbus.ModbusClientException as exc:
        return modbus_exception_code(exc)
    finally:
        model.device.disconnect()
    return 0


def modbus_exception_code(exc: BaseException) -> int:
    """The exception code in a pysunspec2 ``ModbusClientException`` message."""
    match = re.search(r"exception:? (\d+)", str(exc))
    assert match is not None, str(exc)
    return int(match.group(1))


def modbus_request(
    port: int,
    request: ReadRegisters | WriteSingle | WriteMultiple,
    *,
    unit: int = 1,
    timeout: float = 5.0,
) -> Response:
    """One request on a fresh blocking connection; the decoded response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(encode_frame(1, unit, encode_request(request)))
        head = _recv_exactly(sock, 7)
        length = struct.unpack(">H", head[4:6])[0]
        return decode_response(_recv_exactly(sock, length - 1))


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


# --- launches ---------------------------------------------------------------------------------
# ``fast_path`` and ``quart_route``: ``run_service`` in the test's own trio run (what
# ``dersim-trio`` and ``dersim-trio --fast_path no`` run), observed through its objects.
# ``hypercorn``: ``hypercorn -k trio -w 0 --graceful-timeout 1 dersim_trio.asgi:app`` as a real
# process (the README's command line), flags in ``DERSIM_ARGS``, observed from outside. Its
# listening socket is bound by the test (port 0) and passed as ``-b fd://N``, so no port is
# picked and lost to a race.

LAUNCHES = ("fast_path", "quart_route", "hypercorn")
HYPERCORN_ARGS = ("-k", "trio", "--graceful-timeout", "1")
"""The README's recommended command line, with ``-w 0`` (``ServerProcess.hypercorn``)."""
APP = "dersim_trio.asgi:app"


class Launched(Protocol):
    """A started simulator under one of the launches."""

    port: int

    @property
    def http_url(self) -> str: ...

    async def statistics(self) -> dict[str, Any]:
        """``statistics`` of ``/api/dersim/server-info``."""
        ...

    async def last_tick(self) -> int:
        """The tick published last."""
        ...

    async def open_connections(self) -> int:
        """Accepted connections the server still holds."""
        ...

    async def failed_connections(self) -> int:
        """Connections that failed inside the server (logged and closed)."""
        ...

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown (SIGTERM for a process)."""

    async def wait_stopped(self, within: float) -> int:
        """The exit status once stopped (0 for a clean stop); ``TooSlowError`` after ``within``."""
        ...


class InProcessLaunch:
    """``run_service`` in this trio run (a ``conftest.Served``)."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.port: int = served.port

    @property
    def http_url(self) -> str:
        return str(self.served.http_url)

    async def statistics(self) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        return dataclasses.asdict(self.served.hub.statistics())

    async def last_tick(self) -> int:
        await trio.lowlevel.checkpoint()
        return int(self.served.hub.last.tick)

    async def open_connections(self) -> int:
        await trio.lowlevel.checkpoint()
        return int(self.served.door.open_connections)

    async def failed_connections(self) -> int:
        await trio.lowlevel.checkpoint()
        return int(self.served.door.connections_failed)

    def request_shutdown(self) -> None:
        self.served.request_shutdown()

    async def wait_stopped(self, within: float) -> int:
        with trio.fail_after(within):
            await self.served.done.wait()
        return 0


class ServerProcess:
    """A simulator process started by a test; ``stop`` always ends it (SIGKILL if needed)."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._argv = argv
        self._env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def hypercorn(
        cls, flags: tuple[str, ...], log_path: Path, *hypercorn_args: str, workers: int = 0
    ) -> ServerProcess:
        """``hypercorn -k trio -w WORKERS --graceful-timeout 1 [hypercorn_args]
        dersim_trio.asgi:app``: with ``-w 0`` (the README's recommendation) the app runs in
        hypercorn's own process, with ``-w 1`` (hypercorn's default) in a worker process
        hypercorn's process starts and supervises."""
        argv = [sys.executable, "-m", "hypercorn", *HYPERCORN_ARGS, "-w", str(workers)]
        argv += hypercorn_args
        return cls(argv, {"DERSIM_ARGS": " ".join(flags)}, 0, log_path)

    @classmethod
    def dersim(cls, flags: tuple[str, ...], log_path: Path) -> ServerProcess:
        """``python -m dersim_trio [flags]`` (it binds ``-wp`` itself)."""
        return cls([sys.executable, "-m", "dersim_trio", *flags], {}, 0, log_path)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, bind_port: int | None = None) -> None:
        """Start the process. hypercorn gets a listening socket bound here (``-b fd://N``);
        ``python -m dersim_trio`` binds ``bind_port`` itself."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self._env}
        argv = list(self._argv)
        listener: socket.socket | None = None
        if bind_port is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            self.port = listener.getsockname()[1]
            argv += ["-b", f"fd://{listener.fileno()}", APP]
        else:
            self.port = bind_port
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    pass_fds=() if listener is None else (listener.fileno(),),
                )
        finally:
            if listener is not None:
                listener.close()  # the child has its own copy

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_serving(self, within: float = 30) -> None:
        """Until ``GET /api/dersim/overview`` answers 200 (fails if the process exits)."""
        assert self.proc is not None
        with trio.fail_after(within):
            while True:
                assert self.proc.poll() is None, f"exited during start-up:\n{self.log()}"
                status = await trio.to_thread.run_sync(http_status, self.port)
                if status == 200:
                    return
                await trio.sleep(0.05)

    async def statistics(self) -> dict[str, Any]:
        info = await trio.to_thread.run_sync(server_info, self.port)
        return dict(info["statistics"])

    async def last_tick(self) -> int:
        return int((await trio.to_thread.run_sync(server_info, self.port))["tick"])

    async def open_connections(self) -> int:
        assert self.proc is not None
        pid = self.proc.pid
        return await trio.to_thread.run_sync(server_side_connections, pid, self.port)

    async def failed_connections(self) -> int:
        await trio.lowlevel.checkpoint()
        return self.log().count("connection failed")

    def request_shutdown(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait_stopped(self, within: float) -> int:
        assert self.proc is not None
        with trio.fail_after(within):
            while self.proc.poll() is None:  # noqa: ASYNC110 - a child process has no trio event
                await trio.sleep(0.01)
        return self.proc.returncode

    def stop(self) -> None:
        """Kill the process if it still runs, and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def http_status(port: int, path: str = "/api/dersim/overview") -> int | None:
    """The status of a one-shot GET, or None if nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            sock.sendall(request.encode())
            head = sock.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (hypercorn's worker is a child of its main process)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def server_side_connections(pid: int, port: int) -> int:
    """TCP connections on local ``port`` (not the listener) held open by ``pid``'s tree."""
    inodes = set()
    for p in process_tree(pid):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            listening = fields[3] == "0A"
            if local_port == port and not listening and fields[9] in inodes:
                count += 1
    return count


async def wait_launch_idle(service: Launched, within: float = 10) -> None:
    """No WebSocket subscriber and no open connection left on ``service``."""

    async def idle() -> bool:
        stats = await service.statistics()
        return stats["subscribers"] == 0 and await service.open_connections() == 0

    await eventually(idle, within=within)


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float) -> None:
    """Poll ``check`` until true; ``trio.TooSlowError`` after ``within`` seconds."""
    with trio.fail_after(within):
        while not await check():  # noqa: ASYNC110 - polling state another process holds
            await trio.sleep(0.02)
