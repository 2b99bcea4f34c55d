"""The fast-path ``Broadcaster`` (``web/fastws.py``) against sockets whose sends we script.

Two kinds of socket:

* ``ScriptedSocket``: ``send`` accepts a scripted number of bytes, raises ``BlockingIOError`` or
  an error, so partial sends happen exactly where a test wants them. Readiness is real: its
  ``fileno()`` is one end of an AF_UNIX socketpair, so trio's ``wait_writable`` blocks while
  ``block()`` keeps that end's send buffer full and wakes on ``unblock()``; client frames
  written with ``client_send`` are what ``recv`` returns.
* a real ``socket.socketpair()`` with a tiny send buffer, for a stall with the kernel's own
  partial sends.

The byte stream a client receives must always be a valid sequence of whole frames.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing

from dersim_trio.service.hub import Hub
from dersim_trio.web.fastpath.broadcaster import CLOSE_WAIT_S, Broadcaster, FastClient
from dersim_trio.web.fastpath.frames import pong_frame
from helpers import CLOSE, PING, PONG, TEXT, client_frame, parse_frames, wait_until

RESPONSE_101 = b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
WAIT_S = 10.0
Step = int | type[BaseException] | None


class ScriptedSocket:
    """A non-blocking client socket stand-in (see the module docstring)."""

    def __init__(self) -> None:
        self._end, self._peer = socket.socketpair()
        self._end.setblocking(False)
        self._peer.setblocking(False)
        self._end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self.script: deque[Step] = deque()
        self.blocked = False
        self.sent = bytearray()
        self.calls: list[int | str] = []
        self.aborted = False

    # --- what the broadcaster uses ---
    def fileno(self) -> int:
        return self._end.fileno()

    def send(self, data: bytes | memoryview) -> int:
        step: Step = self.script.popleft() if self.script else None
        if step is None and self.blocked:
            step = BlockingIOError
        if isinstance(step, type):
            self.calls.append(step.__name__)
            raise step
        n = len(data) if step is None else min(step, len(data))
        self.sent += bytes(data[:n])
        self.calls.append(n)
        return n

    def recv(self, size: int) -> bytes:
        return self._end.recv(size)

    def setblocking(self, flag: bool) -> None:
        pass

    def setsockopt(self, *args: Any) -> None:
        pass

    def shutdown(self, how: int) -> None:
        self.aborted = True
        self._end.shutdown(how)  # wakes a flush task waiting for writability

    # --- what the test drives ---
    def block(self) -> None:
        """Sends would block and the fd stays unwritable until ``unblock``."""
        self.blocked = True
        with contextlib.suppress(BlockingIOError):
            while True:
                self._end.send(bytes(4096))

    def unblock(self) -> None:
        self.blocked = False
        with contextlib.suppress(BlockingIOError):
            while self._peer.recv(65536):
                pass

    def client_send(self, data: bytes) -> None:
        self._peer.sendall(data)

    def close(self) -> None:
        self._end.close()
        self._peer.close()


@pytest.fixture
def fake_socket() -> Iterator[ScriptedSocket]:
    sock = ScriptedSocket()
    try:
        yield sock
    finally:
        sock.close()


def payload(tick: int, device: int, pad: int = 40) -> bytes:
    return b'{"tick":%d,"device_index":%d,"pad":"%s"}' % (tick, device, b"x" * pad)


def publish(hub: Hub, tick: int, pad: int = 40) -> None:
    hub.publish(tick, [payload(tick, d, pad) for d in range(hub.device_count)])


def new_hub(devices: int, pad: int = 40) -> Hub:
    hub = Hub(devices)
    publish(hub, 0, pad)
    return hub


def register(broadcaster: Broadcaster, sock: Any, device: int | None = None) -> FastClient:
    """Join the fan-out directly (what ``serve_client`` does after the handshake)."""
    client = FastClient(sock, device, "test", broadcaster._hub.device_count)
    broadcaster._clients[client] = None
    return client


def ticks_in(frames: list[tuple[int, bytes]]) -> list[tuple[int, int]]:
    """(tick, device) of every text frame, checking each is one of ``payload``'s."""
    out = []
    for opcode, data in frames:
        if opcode == TEXT:
            tick, device = (int(part.split(b":")[1]) for part in data.split(b",")[:2])
            assert data == payload(tick, device, len(data) - len(payload(tick, device, 0)))
            out.append((tick, device))
    return out


# --- the tick side --------------------------------------------------------------------------------


async def test_a_client_that_takes_everything_gets_each_tick_in_one_send_and_no_task(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(3)
    broadcaster = Broadcaster(hub, nursery)
    client = register(broadcaster, fake_socket)
    for tick in (1, 2, 3):
        publish(hub, tick)
    assert not client.flushing
    assert len(fake_socket.calls) == 3  # one send per tick for all devices
    assert ticks_in(parse_frames(fake_socket.sent)) == [(t, d) for t in (1, 2, 3) for d in range(3)]
    stats = hub.statistics()
    assert (stats.subscribers, stats.messages_sent, stats.messages_dropped) == (1, 9, 0)


async def test_clients_of_single_devices_get_their_frames_and_only_theirs_are_encoded(
    nursery: trio.Nursery,
) -> None:
    """With clients of devices 2 and 0 only, a tick encodes those two devices and nothing else;
    when a client of all devices joins (after them in the fan-out) every device is framed once
    and each client gets its frames."""
    hub = new_hub(4)
    broadcaster = Broadcaster(hub, nursery)
    sockets = [ScriptedSocket() for _ in range(3)]
    asked: list[int] = []

    class Tick:
        def __init__(self, tick: int) -> None:
            self.tick = tick

        def __len__(self) -> int:
            return 4

        def payload(self, position: int) -> bytes:
            asked.append(position)
            return payload(self.tick, position)

        @property
        def payloads(self) -> tuple[bytes, ...]:
            return tuple(payload(self.tick, d) for d in range(4))

    try:
        register(broadcaster, sockets[0], device=2)
        register(broadcaster, sockets[1], device=0)
        item = hub.publish_on_demand(1, Tick(1))
        assert not item.encoded
        assert sorted(asked) == [0, 2]
        register(broadcaster, sockets[2])
        item = hub.publish_on_demand(2, Tick(2))
        assert item.encoded
        assert ticks_in(parse_frames(sockets[0].sent)) == [(1, 2), (2, 2)]
        assert ticks_in(parse_frames(sockets[1].sent)) == [(1, 0), (2, 0)]
        assert ticks_in(parse_frames(sockets[2].sent)) == [(2, d) for d in range(4)]
        assert hub.statistics().messages_sent == 2 + 2 + 4
    finally:
        for sock in sockets:
            sock.close()


async def test_a_partial_frame_is_completed_before_the_next_ticks_frame_starts(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(3)
    broadcaster = Broadcaster(hub, nursery)
    client = register(broadcaster, fake_socket)
    fake_socket.script.extend([7, BlockingIOError, 5])
    publish(hub, 1)  # 7 bytes go out: the client is parked with the rest pending
    assert client.flushing
    assert client.pending is not None
    publish(hub, 2)  # parked: tick 2 waits in the slot, behind the pending remainder
    assert client.slot is not None
    await wait_until(lambda: not client.flushing, within=WAIT_S)
    assert fake_socket.calls[:3] == [7, "BlockingIOError", 5]
    assert ticks_in(parse_frames(fake_socket.sent)) == [(t, d) for t in (1, 2) for d in range(3)]
    assert broadcaster.partial_sends == 1
    stats = hub.statistics()
    assert stats.messages_dropped == 0
    assert stats.messages_sent == 2 * 3  # the slot's tick counts once it is written


@pytest.mark.parametrize(("device", "per_tick"), [(None, 4), (2, 1)], ids=["all", "device=2"])
async def test_a_parked_client_keeps_only_the_newest_tick_and_counts_the_dropped_ones(
    nursery: trio.Nursery, fake_socket: ScriptedSocket, device: int | None, per_tick: int
) -> None:
    hub = new_hub(4)
    broadcaster = Broadcaster(hub, nursery)
    client = register(broadcaster, fake_socket, device)
    fake_socket.script.append(3)
    fake_socket.block()
    publish(hub, 1)  # 3 bytes of tick 1, then the socket stays full
    await trio.testing.wait_all_tasks_blocked()
    assert client.flushing
    for tick in (2, 3, 4, 5):
        publish(hub, tick)  # each replaces the previous one in the slot
    assert client.dropped == 3
    assert hub.statistics().messages_dropped == 3 * per_tick
    assert len(fake_socket.sent) == 3  # nothing more was written while parked
    fake_socket.unblock()
    await wait_until(lambda: not client.flushing, within=WAIT_S)
    devices = range(4) if device is None else [device]
    assert ticks_in(parse_frames(fake_socket.sent)) == [(t, d) for t in (1, 5) for d in devices]
    stats = hub.statistics()
    # every published tick was either written or counted as dropped, never both or neither
    assert stats.messages_sent + stats.messages_dropped == 5 * per_tick
    assert stats.messages_dropped == 3 * per_tick
    publish(hub, 6)  # back on the direct path
    assert not client.flushing
    assert ticks_in(parse_frames(fake_socket.sent))[-1] == (6, devices[-1])


@pytest.mark.parametrize("error", [BrokenPipeError, ConnectionResetError])
async def test_a_send_error_removes_that_client_without_disturbing_the_others(
    nursery: trio.Nursery, error: type[OSError]
) -> None:
    hub = new_hub(2)
    broadcaster = Broadcaster(hub, nursery)
    sockets = [ScriptedSocket() for _ in range(3)]
    try:
        clients = [register(broadcaster, s) for s in sockets]
        sockets[1].script.append(error)
        publish(hub, 1)
        assert clients[1].dead
        assert sockets[1].aborted  # reset, which also wakes its reader
        assert broadcaster.client_count() == 2
        calls_before = len(sockets[1].calls)
        publish(hub, 2)
        assert len(sockets[1].calls) == calls_before  # never tried again
        for i in (0, 2):
            assert ticks_in(parse_frames(sockets[i].sent)) == [
                (1, 0),
                (1, 1),
                (2, 0),
                (2, 1),
            ]
            assert not clients[i].dead
        stats = hub.statistics()
        assert stats.subscribers == 2
        assert stats.messages_sent == 2 * 2 * 2  # two live clients, two ticks, two devices
    finally:
        for s in sockets:
            s.close()


async def test_a_send_error_while_parked_removes_only_that_client(
    nursery: trio.Nursery,
) -> None:
    hub = new_hub(2)
    broadcaster = Broadcaster(hub, nursery)
    stuck, fine = ScriptedSocket(), ScriptedSocket()
    try:
        stuck_client = register(broadcaster, stuck)
        register(broadcaster, fine)
        stuck.script.extend([4, BlockingIOError, ConnectionResetError])
        publish(hub, 1)
        publish(hub, 2)
        await wait_until(lambda: stuck_client.dead and not stuck_client.flushing, within=WAIT_S)
        assert stuck.aborted
        assert broadcaster.client_count() == 1
        publish(hub, 3)
        assert ticks_in(parse_frames(fine.sent)) == [(t, d) for t in (1, 2, 3) for d in (0, 1)]
        assert len(stuck.sent) == 4
    finally:
        stuck.close()
        fine.close()


# --- control frames and close, through serve_client -----------------------------------------------


async def start_client(
    nursery: trio.Nursery, broadcaster: Broadcaster, sock: ScriptedSocket
) -> tuple[FastClient, trio.Event]:
    """Run ``serve_client`` on ``sock``; return its FastClient and an event set when it ends."""
    done = trio.Event()

    async def serve() -> None:
        await broadcaster.serve_client(sock, RESPONSE_101, None, b"", "fake")  # type: ignore[arg-type]
        done.set()

    nursery.start_soon(serve)
    await wait_until(lambda: broadcaster.client_count() == 1, within=WAIT_S)
    (client,) = broadcaster._clients
    return client, done


def after_101(sock: ScriptedSocket) -> list[tuple[int, bytes]]:
    assert sock.sent.startswith(RESPONSE_101)
    return parse_frames(sock.sent[len(RESPONSE_101) :])


async def test_the_101_and_the_cached_tick_go_out_in_one_send_before_any_newer_tick(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(2)
    publish(hub, 7)
    broadcaster = Broadcaster(hub, nursery)
    await start_client(nursery, broadcaster, fake_socket)
    assert fake_socket.calls[0] == len(fake_socket.sent)  # one send: 101 + the cached tick
    publish(hub, 8)
    assert ticks_in(after_101(fake_socket)) == [(7, 0), (7, 1), (8, 0), (8, 1)]
    assert hub.statistics().messages_sent == 4


async def test_a_bad_device_filter_completes_the_handshake_then_closes_with_1008(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(2)
    broadcaster = Broadcaster(hub, nursery)
    done = trio.Event()

    async def serve() -> None:
        await broadcaster.serve_client(fake_socket, RESPONSE_101, "7", b"", "fake")  # type: ignore[arg-type]
        done.set()

    nursery.start_soon(serve)
    await wait_until(lambda: len(fake_socket.sent) > len(RESPONSE_101), within=WAIT_S)
    ((opcode, data),) = after_101(fake_socket)
    assert opcode == CLOSE
    assert struct.unpack("!H", data[:2]) == (1008,)
    assert b"'7'" in data
    assert broadcaster.client_count() == 0  # never joined the fan-out
    publish(hub, 1)
    fake_socket.client_send(client_frame(CLOSE, struct.pack("!H", 1008)))
    with trio.fail_after(10):
        await done.wait()
    assert len(after_101(fake_socket)) == 1  # no tick after the close


async def test_abort_all_resets_a_parked_client_and_ends_its_flush_task(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(1)
    broadcaster = Broadcaster(hub, nursery)
    client, done = await start_client(nursery, broadcaster, fake_socket)
    fake_socket.script.append(3)
    fake_socket.block()
    publish(hub, 1)
    await trio.testing.wait_all_tasks_blocked()
    assert client.flushing
    assert broadcaster.abort_all() == 1
    assert fake_socket.aborted
    with trio.fail_after(10):
        await done.wait()  # the reader saw the reset
    await wait_until(lambda: not client.flushing, within=WAIT_S)  # and the flush task ended
    assert broadcaster.client_count() == 0


async def test_a_pong_queued_while_parked_goes_out_only_at_a_frame_boundary(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(3)
    broadcaster = Broadcaster(hub, nursery)
    client, done = await start_client(nursery, broadcaster, fake_socket)
    fake_socket.script.append(10)
    fake_socket.block()
    publish(hub, 1)  # parked 10 bytes into tick 1's first frame
    fake_socket.client_send(client_frame(PING, b"first"))
    fake_socket.client_send(client_frame(PING, b"second"))
    await wait_until(
        lambda: client.control == pong_frame(b"second"), within=WAIT_S
    )  # only the latest pong
    publish(hub, 2)
    fake_socket.unblock()
    await wait_until(lambda: not client.flushing, within=WAIT_S)
    frames = after_101(fake_socket)
    expected_text = [(t, d) for t in (0, 1, 2) for d in range(3)]
    assert ticks_in(frames) == expected_text
    assert [op for op, _ in frames] == [TEXT] * 6 + [PONG] + [TEXT] * 3
    assert frames[6] == (PONG, b"second")
    # not parked: a ping is answered at once
    fake_socket.client_send(client_frame(PING, b"third"))
    await wait_until(lambda: after_101(fake_socket)[-1] == (PONG, b"third"), within=WAIT_S)
    fake_socket.client_send(client_frame(CLOSE, struct.pack("!H", 1000) + b"bye"))
    with trio.fail_after(10):
        await done.wait()
    assert after_101(fake_socket)[-1] == (CLOSE, struct.pack("!H", 1000) + b"bye")
    assert broadcaster.client_count() == 0


async def test_the_close_frame_is_the_last_frame_and_nothing_follows_it(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(2)
    broadcaster = Broadcaster(hub, nursery)
    client, done = await start_client(nursery, broadcaster, fake_socket)
    fake_socket.script.append(5)
    fake_socket.block()
    publish(hub, 1)  # parked inside tick 1
    publish(hub, 2)  # in the slot
    fake_socket.client_send(client_frame(PING, b"before close"))
    await wait_until(lambda: client.control is not None, within=WAIT_S)
    hub.close_all()  # shutdown: close 1001 queued behind the partial frame and the pong
    assert client.close_queued is not None
    fake_socket.client_send(client_frame(PING, b"after close"))
    await trio.testing.wait_all_tasks_blocked()
    publish(hub, 3)  # no longer a listener's client
    fake_socket.unblock()
    await wait_until(lambda: not client.flushing, within=WAIT_S)
    frames = after_101(fake_socket)
    assert [op for op, _ in frames] == [TEXT, TEXT, TEXT, TEXT, PONG, CLOSE]
    assert ticks_in(frames) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert frames[-1] == (CLOSE, struct.pack("!H", 1001) + b"server shutting down")
    sent_at_close = len(fake_socket.sent)
    publish(hub, 4)
    fake_socket.client_send(client_frame(CLOSE, struct.pack("!H", 1001)))  # the client's reply
    with trio.fail_after(10):
        await done.wait()
    assert len(fake_socket.sent) == sent_at_close  # the client's close is not echoed twice


async def test_a_client_that_never_answers_the_close_is_released_after_the_close_wait(
    nursery: trio.Nursery, fake_socket: ScriptedSocket, autojump_clock: trio.testing.MockClock
) -> None:
    """On virtual time: released ``CLOSE_WAIT_S`` after the close frame, not before."""
    hub = new_hub(1)
    broadcaster = Broadcaster(hub, nursery)
    _client, done = await start_client(nursery, broadcaster, fake_socket)
    start = trio.current_time()
    broadcaster.close_all()
    with trio.fail_after(CLOSE_WAIT_S + 2):
        await done.wait()
    assert trio.current_time() - start >= CLOSE_WAIT_S - 0.1
    assert after_101(fake_socket)[-1][0] == CLOSE


async def test_a_protocol_error_is_answered_with_1002_and_ends_the_client(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(1)
    broadcaster = Broadcaster(hub, nursery)
    await start_client(nursery, broadcaster, fake_socket)
    fake_socket.client_send(bytes([0x81, 0x02]) + b"hi")  # unmasked
    await wait_until(lambda: after_101(fake_socket)[-1][0] == CLOSE, within=WAIT_S)
    code = struct.unpack("!H", after_101(fake_socket)[-1][1][:2])[0]
    assert code == 1002
    assert broadcaster.client_count() == 0


async def test_client_data_frames_are_discarded_and_the_stream_goes_on(
    nursery: trio.Nursery, fake_socket: ScriptedSocket
) -> None:
    hub = new_hub(1)
    broadcaster = Broadcaster(hub, nursery)
    await start_client(nursery, broadcaster, fake_socket)
    for i in range(200):
        fake_socket.client_send(client_frame(TEXT, b"chatter %d" % i))
    fake_socket.client_send(client_frame(PING, b"end of chatter"))
    await wait_until(lambda: after_101(fake_socket)[-1] == (PONG, b"end of chatter"), within=WAIT_S)
    for tick in range(1, 4):
        publish(hub, tick)
    assert ticks_in(after_101(fake_socket)) == [(t, 0) for t in range(4)]


# --- a real socketpair with a tiny send buffer ----------------------------------------------------


async def test_a_stalled_real_socket_gets_whole_frames_newest_tick_first_and_drops_counted(
    nursery: trio.Nursery,
) -> None:
    server_end, client_end = socket.socketpair()
    with server_end, client_end:
        server_end.setblocking(False)
        client_end.setblocking(False)
        server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        hub = new_hub(3, pad=1500)  # ~4.6 KB per tick: more than the buffer takes at once
        broadcaster = Broadcaster(hub, nursery)
        client = register(broadcaster, server_end)
        received = bytearray()

        def read_some(limit: int) -> None:
            with contextlib.suppress(BlockingIOError):
                while len(chunk := client_end.recv(min(limit, 65536))) > 0:
                    received.extend(chunk)
                    limit -= len(chunk)
                    if limit <= 0:
                        return

        ticks = 300
        with trio.fail_after(10):
            for tick in range(1, ticks + 1):
                publish(hub, tick, pad=1500)
                if tick % 10 == 0:  # a slow reader: ~one tick's worth every 10 ticks
                    read_some(5000)
                    await trio.testing.wait_all_tasks_blocked()
            while client.flushing or _peek(client_end):
                read_some(65536)
                await trio.testing.wait_all_tasks_blocked()
        assert broadcaster.partial_sends > 0
        delivered = ticks_in(parse_frames(received))
        groups = [delivered[i : i + 3] for i in range(0, len(delivered), 3)]
        assert all(g == [(g[0][0], d) for d in range(3)] for g in groups), "a tick was split"
        delivered_ticks = [g[0][0] for g in groups]
        assert delivered_ticks == sorted(set(delivered_ticks))  # in order, no repeats
        assert delivered_ticks[-1] == ticks  # the newest tick is never the one dropped
        assert client.dropped > 0
        assert len(delivered_ticks) + client.dropped == ticks
        stats = hub.statistics()
        assert stats.messages_dropped == client.dropped * 3
        assert stats.messages_sent == len(delivered_ticks) * 3


def _peek(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return b""
