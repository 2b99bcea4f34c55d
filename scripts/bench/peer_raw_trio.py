#!/usr/bin/env python3
"""peer_raw_trio.py: the telemetry contract on bare trio, the floor for Python on trio.

No HTTP or WebSocket library: a hand-written request-head parser and RFC 6455 server frames
(``_peer.py`` has the contract and the payload). Each tick every device's JSON is encoded once
and framed once; all devices of a tick are joined into one bytes object for unfiltered clients,
so the tick loop writes every client with one non-blocking ``send`` and no task switch. Only a
client whose socket is full gets its writer task woken to finish the frame later; meanwhile a
newer tick replaces the one waiting (the one-tick drop-oldest slot).

Usage (``scripts/bench_fanout.py --servers raw-trio`` runs it):

    python scripts/bench/peer_raw_trio.py --port 18111 --devices 1 --period 1.0
"""

from __future__ import annotations

import base64
import hashlib
import signal
import socket
import sys
from urllib.parse import parse_qs, urlsplit

import trio
from _peer import (
    BAD_DEVICE_BODY,
    OVERVIEW_PATH,
    WS_PATHS,
    device_refusal,
    encode_tick,
    parse_device,
    parser,
    prepare_process,
)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD_BYTES = 16 * 1024
HEAD_TIMEOUT_S = 10.0


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked server frame with FIN set."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


class Client:
    """One subscriber: its socket, its filter, a partly written frame and the waiting tick."""

    __slots__ = ("dead", "device", "pending", "slot", "sock", "wake")

    def __init__(self, sock: socket.socket, device: int | None) -> None:
        self.sock = sock
        self.device = device
        self.pending: memoryview | None = None  # the rest of a frame the kernel did not take
        self.slot: bytes | None = None  # the newest tick not started yet (drop-oldest)
        self.wake = trio.Event()
        self.dead = False


class Server:
    def __init__(self, devices: int, period_s: float) -> None:
        self.devices = devices
        self.period_s = period_s
        self.tick = 0
        self.json: tuple[bytes, ...] = ()
        self.frames: tuple[bytes, ...] = ()
        self.frames_all = b""
        self.clients: set[Client] = set()
        self.build()

    def build(self) -> None:
        self.json = encode_tick(self.tick, self.devices, self.period_s)
        self.frames = tuple(ws_frame(j) for j in self.json)
        self.frames_all = b"".join(self.frames)

    async def tick_loop(self) -> None:
        deadline = trio.current_time()
        while True:
            deadline += self.period_s
            await trio.sleep_until(deadline)
            self.tick += 1
            self.build()
            for client in list(self.clients):
                self.offer(client)

    def offer(self, client: Client) -> None:
        """Write the latest tick now if the socket takes it; otherwise leave the rest to the
        client's writer task."""
        data = self.frames_all if client.device is None else self.frames[client.device]
        if client.pending is not None:
            client.slot = data  # replaces a tick still waiting: drop-oldest
            return
        try:
            sent = client.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            client.dead = True
            client.wake.set()
            return
        if sent < len(data):
            client.pending = memoryview(data)[sent:]
            client.wake.set()

    async def writer(self, client: Client) -> None:
        """Finish partly written frames (woken by ``offer``), then the tick that waited."""
        while not client.dead:
            await client.wake.wait()
            client.wake = trio.Event()
            while client.pending is not None and not client.dead:
                await trio.lowlevel.wait_writable(client.sock)
                try:
                    sent = client.sock.send(client.pending)
                except BlockingIOError:
                    continue
                except OSError:
                    client.dead = True
                    return
                client.pending = client.pending[sent:]
                if not client.pending:
                    nxt, client.slot = client.slot, None
                    client.pending = memoryview(nxt) if nxt is not None else None

    async def serve(self, host: str, port: int, *, task_status: trio.TaskStatus[None]) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(4096)
        listener.setblocking(False)
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                await trio.lowlevel.wait_readable(listener)
                while True:
                    try:
                        sock, _ = listener.accept()
                    except OSError:  # BlockingIOError: nothing more to accept now
                        break
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    nursery.start_soon(self.handle, sock)

    async def handle(self, sock: socket.socket) -> None:
        try:
            with trio.move_on_after(HEAD_TIMEOUT_S):
                request = await read_head(sock)
            if request is None:
                return
            method, target, headers = request
            url = urlsplit(target)
            query = parse_qs(url.query)
            if method == "GET" and url.path == OVERVIEW_PATH:
                await self.overview(sock, query.get("device", ["0"])[0])
                return
            key = headers.get("sec-websocket-key")
            if url.path not in WS_PATHS or not key:
                await send_all(sock, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
            await send_all(
                sock,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n",
            )
            try:
                device = parse_device(query.get("device", [None])[0], self.devices)
            except ValueError:
                reason = device_refusal(self.devices).encode()
                await send_all(sock, ws_frame((1008).to_bytes(2, "big") + reason, 0x8))
                return
            await self.stream(sock, device)
        except OSError:
            pass
        finally:
            sock.close()

    async def overview(self, sock: socket.socket, raw_device: str) -> None:
        try:
            body, status = self.json[parse_device(raw_device, self.devices) or 0], "200 OK"
        except ValueError:
            body, status = BAD_DEVICE_BODY, "400 Bad Request"
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        await send_all(sock, head.encode() + body)

    async def stream(self, sock: socket.socket, device: int | None) -> None:
        client = Client(sock, device)
        self.clients.add(client)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.writer, client)
                self.offer(client)  # the cached snapshot(s) first
                await discard_client_frames(sock)
                nursery.cancel_scope.cancel()
        finally:
            self.clients.discard(client)
            client.dead = True


async def send_all(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)


async def read_head(sock: socket.socket) -> tuple[str, str, dict[str, str]] | None:
    """(method, target, lower-case headers) of the request head, or None (EOF, too long)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        await trio.lowlevel.wait_readable(sock)
        try:
            data = sock.recv(8192)
        except BlockingIOError:
            continue
        if not data or len(buf) > MAX_HEAD_BYTES:
            return None
        buf += data
    lines = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


async def discard_client_frames(sock: socket.socket) -> None:
    """Read and drop what the client sends; return at EOF, an error, or a close frame (the
    opcode of a frame that starts a read: enough for clients that send nothing else)."""
    while True:
        await trio.lowlevel.wait_readable(sock)
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            return
        if not data or data[0] & 0x0F == 0x8:
            return


async def main() -> None:
    args = parser(__doc__.splitlines()[1] if __doc__ else "").parse_args()
    prepare_process(args.gc_gen0)
    server = Server(args.devices, args.period)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, args.host, args.port)
        nursery.start_soon(server.tick_loop)
        print(
            f"peer_raw_trio serving on http://{args.host}:{args.port}",
            file=sys.stderr,
            flush=True,
        )
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


if __name__ == "__main__":
    trio.run(main)
