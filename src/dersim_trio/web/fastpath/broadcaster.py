"""The fast telemetry broadcaster: pre-framed bytes, written straight from the tick.

Theory of operation. Each tick the hub calls ``Broadcaster.on_tick`` (synchronously, inside the
tick loop). Every device's JSON is framed once as an unmasked text frame; an unfiltered client
gets all of a tick's frames joined into one ``bytes``, a filtered one gets its device's frame.
With no client the tick is only remembered, not framed (nor encoded: the hub encodes on
demand); a client that connects then gets the remembered tick framed for it. While every
client is filtered to one device, only those devices are framed and encoded. For each client the
broadcaster tries one non-blocking ``send``:

* all accepted: done, no task woken, no object kept;
* partly accepted or would block: the unsent remainder becomes the client's ``pending`` and a
  flush task is started for it. While a client has a flush task it is *parked*: new ticks go to
  its one-item ``slot`` (a newer tick replaces an unsent one: drop-oldest, counted).

The flush task waits for the socket to become writable and writes, in this order: the rest of
``pending`` (frames never interleave), the latest queued control frame (a pong), the close frame
if one was queued (nothing follows it), then the slot. It ends when nothing is left, so an idle
client costs one task (its reader) and no per-message objects.

The reader (``serve_client``, the connection's own task) drains client frames through
``ClientFrameReader``: pings are answered, a close is echoed and the socket closed after the
echo is flushed, protocol violations close with 1002/1007/1009, a client above the control-frame
rate with 1008, data messages are discarded. However fast frames arrive, the reader yields to
the scheduler after every ``FRAME_BUDGET`` frames, so a flooding client gets its turn like every
other task and the tick loop keeps its schedule. A
server-initiated close (1008 for a bad ``?device``, 1001 at shutdown) waits up to
``CLOSE_WAIT_S`` for the client's close before closing the socket.

The socket send buffer is bounded by ``TCP_NOTSENT_LOWAT`` (set here as trio does), so a stalled
client pins at most a few tens of KiB of kernel memory, and ``TCP_USER_TIMEOUT`` (inherited from
the listener) eventually drops a peer that never opens its window.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

import trio

from dersim_trio.service.hub import Hub, TickPayload
from dersim_trio.web.fastpath.door import abort_socket
from dersim_trio.web.fastpath.frames import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    ClientFrameReader,
    CloseReceived,
    Consumed,
    Ping,
    close_frame,
    pong_frame,
    text_frame,
)
from dersim_trio.web.params import DeviceParamError, parse_device

log = logging.getLogger("dersim_trio.WS")

CLOSE_WAIT_S = 1.0
RECV_BYTES = 65536
FRAME_BUDGET = 64
"""Client frames one reader handles before it yields to the scheduler."""
NOTSENT_LOWAT_BYTES = 16384


class FastClient:
    """One telemetry client on the fast path (all fields owned by the trio thread)."""

    __slots__ = (
        "close_queued",
        "close_sent",
        "control",
        "dead",
        "device",
        "dropped",
        "flushed",
        "flushing",
        "messages_per_tick",
        "peer",
        "pending",
        "read_scope",
        "slot",
        "sock",
    )

    def __init__(self, sock: socket.socket, device: int | None, peer: str, device_count: int):
        self.sock = sock
        self.device = device
        self.peer = peer
        self.messages_per_tick = device_count if device is None else 1
        self.pending: memoryview | None = None
        self.slot: bytes | None = None
        self.control: bytes | None = None
        self.close_queued: bytes | None = None
        self.close_sent = False
        self.flushing = False
        self.flushed: trio.Event | None = None
        self.dead = False
        self.dropped = 0
        self.read_scope: trio.CancelScope | None = None


@dataclass(frozen=True, slots=True)
class _Frames:
    per_device: tuple[bytes, ...]
    joined: bytes


class Broadcaster:
    """Writes each tick's pre-framed snapshots to every fast-path client (see module doc)."""

    def __init__(self, hub: Hub, flush_nursery: trio.Nursery) -> None:
        self._hub = hub
        self._nursery = flush_nursery
        self._clients: dict[FastClient, None] = {}
        self._last = hub.last
        self._frames: _Frames | None = None
        """The frames of ``_last``, made when a tick has clients (None: not made yet)."""
        self._closing = False
        self.partial_sends = 0
        hub.add_listener(self.on_tick, on_close=self.close_all, subscribers=self.client_count)

    def client_count(self) -> int:
        """Clients registered for ticks."""
        return len(self._clients)

    @staticmethod
    def _frame(item: TickPayload) -> _Frames:
        per_device = tuple(text_frame(d) for d in item.data)
        return _Frames(per_device, b"".join(per_device))

    # --- tick side (synchronous, never blocks) ------------------------------------------------
    def on_tick(self, item: TickPayload) -> None:
        """Send one tick to every client (hub listener)."""
        self._last = item
        if not self._clients:
            self._frames = None  # framed if a client connects before the next tick
            return
        # Every device is framed (and so encoded) once a client of all devices is here; while
        # only clients of single devices are, only their devices are (``TickPayload.payload``).
        frames: _Frames | None = None
        singles: dict[int, bytes] = {}
        sent = 0
        # a failed send removes its client from the dict: iterate over a snapshot
        for client in list(self._clients):
            device = client.device
            if device is None:
                if frames is None:
                    frames = self._frame(item)
                data = frames.joined
            elif frames is not None:
                data = frames.per_device[device]
            else:
                one = singles.get(device)
                if one is None:
                    one = singles[device] = text_frame(item.payload(device))
                data = one
            if client.flushing:
                if client.slot is not None:
                    client.dropped += 1
                    self._hub.count_dropped(client.messages_per_tick)
                client.slot = data
                continue
            self._send_now(client, data)
            if not client.dead:
                sent += client.messages_per_tick
        self._frames = frames
        self._hub.count_sent(sent)

    def _send_now(self, client: FastClient, data: bytes | memoryview) -> None:
        """Try to send ``data`` without blocking; park the client with the remainder if needed."""
        try:
            n = client.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            self._kill(client)
            return
        if n < len(data):
            self.partial_sends += 1
            client.pending = memoryview(data)[n:]
            self._start_flush(client)

    def _start_flush(self, client: FastClient) -> None:
        if not client.flushing and not client.dead:
            client.flushing = True
            self._nursery.start_soon(self._flush, client)

    def _kill(self, client: FastClient) -> None:
        """The peer is gone: stop sending and wake its reader (which then cleans up)."""
        if not client.dead:
            client.dead = True
            self._clients.pop(client, None)
            abort_socket(client.sock)

    def _next_chunk(self, client: FastClient) -> memoryview | None:
        if client.control is not None:
            chunk, client.control = client.control, None
            return memoryview(chunk)
        if client.close_queued is not None:
            chunk, client.close_queued = client.close_queued, None
            client.close_sent = True
            client.slot = None
            return memoryview(chunk)
        if client.slot is not None and not client.close_sent:
            chunk, client.slot = client.slot, None
            # counted when written, as on_tick counts a direct send (dropped ones are counted
            # when replaced): each tick is either sent or dropped
            self._hub.count_sent(client.messages_per_tick)
            return memoryview(chunk)
        return None

    async def _flush(self, client: FastClient) -> None:
        sock = client.sock
        try:
            while not client.dead:
                if client.pending is None:
                    client.pending = self._next_chunk(client)
                    if client.pending is None:
                        break
                try:
                    n = sock.send(client.pending)
                except BlockingIOError:
                    n = 0
                if n == len(client.pending):
                    client.pending = None
                    continue
                client.pending = client.pending[n:]
                await trio.lowlevel.wait_writable(sock)
        except (OSError, trio.ClosedResourceError):
            self._kill(client)
        finally:
            client.flushing = False
            client.pending = None if client.dead else client.pending
            if client.flushed is not None:
                client.flushed.set()

    # --- control frames -------------------------------------------------------------------------
    def _send_control(self, client: FastClient, frame: bytes) -> None:
        if client.close_sent or client.close_queued is not None:
            return
        if client.flushing:
            client.control = frame
        else:
            self._send_now(client, frame)

    def _send_close(self, client: FastClient, code: int, reason: str) -> None:
        """Queue or send the close frame; no data frame follows it."""
        if client.close_sent or client.close_queued is not None or client.dead:
            return
        self._clients.pop(client, None)
        frame = close_frame(code, reason)
        if client.flushing:
            client.close_queued = frame
            client.slot = None
        else:
            client.close_sent = True
            self._send_now(client, frame)
        if client.read_scope is not None:
            client.read_scope.deadline = min(
                client.read_scope.deadline, trio.current_time() + CLOSE_WAIT_S
            )

    def close_all(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Send every client a close frame (shutdown); new clients are closed at once."""
        self._closing = True
        for client in list(self._clients):
            self._send_close(client, code, reason)

    async def _wait_flushed(self, client: FastClient, timeout_s: float) -> None:
        if client.flushing:
            client.flushed = trio.Event()
            with trio.move_on_after(timeout_s):
                await client.flushed.wait()

    # --- one client's lifetime ------------------------------------------------------------------
    async def serve_client(
        self,
        sock: socket.socket,
        response_101: bytes,
        device_raw: str | None,
        leftover: bytes,
        peer: str,
    ) -> None:
        """Complete the handshake, register for ticks, drain client frames until the end."""
        sock.setblocking(False)
        if hasattr(socket, "TCP_NOTSENT_LOWAT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT_BYTES)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            index = parse_device(device_raw, self._hub.devices)
            device = None if index is None else self._hub.position(index)
        except DeviceParamError as exc:
            log.info("WebSocket %s rejected: %s", peer, exc)
            client = FastClient(sock, None, peer, self._hub.device_count)
            self._send_now(client, response_101)
            self._send_close(client, CLOSE_POLICY_VIOLATION, str(exc))
            await self._read_until_closed(client, leftover)
            return
        client = FastClient(sock, device, peer, self._hub.device_count)
        frames = self._frames
        if frames is not None:
            first = frames.joined if device is None else frames.per_device[device]
        elif device is None:
            frames = self._frames = self._frame(self._last)
            first = frames.joined
        else:  # one device's frame: its JSON alone is encoded
            first = text_frame(self._last.payload(device))
        # no checkpoint between the cached tick and joining the fan-out: no tick can slip in
        self._send_now(client, response_101 + first)
        self._hub.count_sent(client.messages_per_tick)
        if self._closing:
            self._send_close(client, CLOSE_GOING_AWAY, "server shutting down")
        elif not client.dead:
            self._clients[client] = None
        log.info("WebSocket connect from %s (device=%s)", peer, "all" if index is None else index)
        reason = "client disconnected"
        try:
            reason = await self._read_until_closed(client, leftover)
        finally:
            self._clients.pop(client, None)
            log.info("WebSocket disconnect from %s (%s)", peer, reason)

    async def _read_until_closed(self, client: FastClient, leftover: bytes) -> str:
        """Drain client frames; answer pings; finish the close handshake. Returns why it ended."""
        reader = ClientFrameReader()
        sock = client.sock
        data = leftover
        budget = FRAME_BUDGET
        with trio.CancelScope() as scope:
            client.read_scope = scope
            if client.close_sent or client.close_queued is not None:
                scope.deadline = trio.current_time() + CLOSE_WAIT_S
            while True:
                if data:
                    reader.receive_data(data, trio.current_time())
                while (event := reader.next_event()) is not None:
                    budget -= 1
                    if not budget:
                        budget = FRAME_BUDGET
                        await trio.lowlevel.checkpoint()
                    if isinstance(event, Consumed):
                        continue
                    if isinstance(event, Ping):
                        self._send_control(client, pong_frame(event.payload))
                    elif isinstance(event, CloseReceived):
                        self._send_close(client, event.code or CLOSE_NORMAL, event.reason)
                        await self._wait_flushed(client, CLOSE_WAIT_S)
                        return "client closed" if not self._closing else "server shutting down"
                    else:  # a ProtocolViolation
                        log.info("WebSocket %s protocol error: %s", client.peer, event.reason)
                        self._send_close(client, event.code, event.reason)
                        await self._wait_flushed(client, CLOSE_WAIT_S)
                        await self._discard_until_closed(client, CLOSE_WAIT_S)
                        return f"protocol error: {event.reason}"
                    if client.dead:
                        return "connection lost"
                if client.dead:
                    return "connection lost"
                try:
                    await trio.lowlevel.wait_readable(sock)
                    data = sock.recv(RECV_BYTES)
                except BlockingIOError:
                    data = b""
                    continue
                except (OSError, trio.ClosedResourceError):
                    return "connection lost"
                if not data:
                    return "client disconnected"
        return "close handshake timed out" if not self._closing else "server shutting down"

    @staticmethod
    async def _discard_until_closed(client: FastClient, timeout_s: float) -> None:
        """After a close frame for a protocol error: FIN behind it, then discard whatever the
        client still sends until it closes (at most ``timeout_s``). Closing with unread input
        would reset the connection, and a reset may destroy the close frame before the client
        reads it (a flooding client always has input in flight)."""
        if client.dead or client.pending is not None or client.close_queued is not None:
            return
        sock = client.sock
        with trio.move_on_after(timeout_s):
            try:
                sock.shutdown(socket.SHUT_WR)
                while True:
                    await trio.lowlevel.wait_readable(sock)
                    try:
                        if not sock.recv(RECV_BYTES):
                            return
                    except BlockingIOError:
                        continue
            except (OSError, trio.ClosedResourceError):
                return

    def abort_all(self) -> int:
        """Reset every client still registered (end of the shutdown grace period)."""
        clients = list(self._clients)
        for client in clients:
            self._kill(client)
        return len(clients)
