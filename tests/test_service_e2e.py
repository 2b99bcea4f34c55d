"""The contract suite, end to end under every launch: real sockets, real clients, real clock.

Each test runs against the launches of ``launch_support.LAUNCHES``: ``run_service`` on
127.0.0.1 port 0 with the front door's fast path (``dersim-trio``) and with the quart route only
(``dersim-trio --fast_path no``), and ``hypercorn -k trio dersim_trio.asgi:app`` as a real
process. Few tests, each bounded by ``trio.fail_after``; nothing waits by sleeping a fixed time:
the tests wait on a client's receive, or poll a counter with a deadline. Periods are short
(0.05 s) so a run of ticks takes a fraction of a second.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio
import trio_websocket
import websockets.sync.client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dersim_trio.api.schema import Snapshot
from launch_support import LAUNCHES, Launched, eventually

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from conftest import Kit

    StartLaunch = Callable[..., Awaitable[Launched]]

FAST = ("-d", "Batt", "--periodic_time", "0.05")


@pytest.fixture(params=LAUNCHES)
def launch(request: pytest.FixtureRequest) -> str:
    """``dersim-trio`` (the door's pre-framed broadcaster), ``dersim-trio --fast_path no`` (the
    quart route), or ``hypercorn -k trio dersim_trio.asgi:app`` (a real process)."""
    return str(request.param)


# --- a minimal raw WebSocket client on trio sockets ----------------------------------------


class RawWebSocket:
    """Just enough RFC 6455 to misbehave on purpose: handshake, frames, close, RST."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int, path: str = "/api/dersim/ws/telemetry") -> RawWebSocket:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        ws = cls(stream)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await stream.send_all(request.encode())
        head = await ws._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return ws

    async def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    async def _read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    async def receive_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (servers never mask)."""
        b0, b1 = await self._read_exactly(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._read_exactly(8))
        return b0 & 0x0F, await self._read_exactly(length)

    async def receive_snapshot(self) -> dict[str, Any]:
        """The next text message; pings are answered, pongs skipped (hypercorn pings)."""
        while True:
            opcode, payload = await self.receive_frame()
            if opcode == 0x9:
                await self.send_frame(0xA, payload)
            elif opcode != 0xA:
                break
        assert opcode == 0x1, (opcode, payload)
        return json.loads(payload)  # type: ignore[no-any-return]

    async def send_frame(self, opcode: int, payload: bytes) -> None:
        """A masked client frame (mask key 0: the payload goes out as is)."""
        assert len(payload) < 126
        await self.stream.send_all(
            bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload
        )

    async def close_cleanly(self) -> None:
        """Send close 1000, read until the server closes the TCP connection."""
        await self.send_frame(0x8, struct.pack("!H", 1000))
        while await self.stream.receive_some(65536):
            pass
        await self.stream.aclose()

    async def reset(self) -> None:
        """Abort with RST (SO_LINGER 0): no close frame, no FIN. No-op once closed."""
        if self.stream.socket.fileno() == -1:
            return
        self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()


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


def ws_url(service: Launched, path: str = "/api/dersim/ws/telemetry") -> str:
    return f"ws://127.0.0.1:{service.port}{path}"


async def wait_for_subscribers(service: Launched, n: int, within: float = 5) -> None:
    async def reached() -> bool:
        return (await service.statistics())["subscribers"] == n

    await eventually(reached, within=within)


async def wait_idle(service: Launched, within: float = 5) -> None:
    """No subscriber and no open connection left on the server."""

    async def idle() -> bool:
        stats = await service.statistics()
        return stats["subscribers"] == 0 and await service.open_connections() == 0

    await eventually(idle, within=within)


# --- real clients -------------------------------------------------------------------------


async def test_websockets_client_gets_the_cached_snapshot_then_consecutive_ticks(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST, "-N", "2")
    before = await service.last_tick()

    def client() -> list[dict[str, Any]]:
        with websockets.sync.client.connect(ws_url(service), open_timeout=5) as ws:
            return [json.loads(ws.recv(timeout=5)) for _ in range(2 * 6)]

    with trio.fail_after(10):
        messages = await trio.to_thread.run_sync(client)
    first = messages[0]["tick"]
    assert before <= first
    got = [(m["tick"], m["device_index"]) for m in messages]
    assert got == [(first + k, d) for k in range(6) for d in (0, 1)]
    for m in messages:
        Snapshot.model_validate(m)
    await wait_for_subscribers(service, 0)


@pytest.mark.parametrize("path", ["/api/dersim/ws/telemetry", "/api/dersim/telemetry/ws"])
async def test_trio_websocket_client_gets_the_cached_snapshot_then_consecutive_ticks(
    start_launch: StartLaunch, launch: str, path: str
) -> None:
    service = await start_launch(launch, *FAST, "-N", "3")
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(ws_url(service, path) + "?device=2") as ws:
            first = json.loads(await ws.get_message())
            # the cached snapshot is the tick published last before the accept
            assert first["tick"] <= await service.last_tick()
            ticks = [first["tick"]]
            for _ in range(5):
                snap = json.loads(await ws.get_message())
                assert snap["device_index"] == 2
                ticks.append(snap["tick"])
    assert ticks == list(range(ticks[0], ticks[0] + 6))


async def test_a_bad_device_filter_is_closed_with_1008_and_a_reason(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST, "-N", "2")
    with trio.fail_after(5):
        async with trio_websocket.open_websocket_url(ws_url(service) + "?device=7") as ws:
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await ws.get_message()
        await release(ws)
    assert info.value.reason.code == 1008
    assert "[0, 1]" in (info.value.reason.reason or "")
    assert "'7'" in (info.value.reason.reason or "")


async def test_http_routes_answer_over_the_real_server(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST, "-N", "2")
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=service.http_url) as http:
            overview = await http.get("/api/dersim/overview?device=1")
            bad = await http.get("/api/dersim/overview?device=2")
            bundle = await http.get("/static/swagger-ui/swagger-ui-bundle.js")
            css = await http.get("/static/swagger-ui/swagger-ui.css")
            redoc = await http.get("/static/redoc/redoc.standalone.js")
    assert overview.status_code == 200
    assert overview.headers["content-type"] == "application/json"
    assert Snapshot.model_validate_json(overview.content).device_index == 1
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_device"
    # the vendored documentation assets are served whole (over 1 MB: not testable in-process)
    assert bundle.status_code == 200
    assert len(bundle.content) > 1_000_000
    assert css.headers["content-type"].startswith("text/css")
    assert redoc.status_code == 200


async def test_websocket_upgrade_to_an_unknown_path_is_refused_with_404(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST)

    def client() -> int:
        try:
            with websockets.sync.client.connect(
                ws_url(service, "/api/dersim/nope"), open_timeout=5
            ):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    with trio.fail_after(10):
        assert await trio.to_thread.run_sync(client) == 404


# --- leaks, chatty clients -------------------------------------------------------------------


async def test_500_connect_disconnect_cycles_leave_no_subscriber_and_no_connection(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST, "-N", "2")

    async def cycle(i: int) -> None:
        ws = await RawWebSocket.connect(service.port)
        try:
            await ws.receive_snapshot()
            if i % 2:
                await ws.close_cleanly()
        finally:
            await ws.reset()  # a no-op after a clean close

    with trio.fail_after(30):
        for batch in range(50):
            async with trio.open_nursery() as n:
                for i in range(10):
                    n.start_soon(cycle, batch * 10 + i)
    await wait_idle(service)
    assert await service.failed_connections() == 0


async def test_a_chatty_client_still_gets_ticks_and_its_disconnect_is_seen(
    start_launch: StartLaunch, launch: str
) -> None:
    """hypercorn stops reading a socket whose frames pile up unread (~20): the app must drain."""
    service = await start_launch(launch, *FAST, "-N", "2")
    with trio.fail_after(10):
        ws = await RawWebSocket.connect(service.port, "/api/dersim/ws/telemetry?device=0")
        try:
            for i in range(200):
                await ws.send_frame(0x1, f"chatter {i}".encode())
            ticks = [(await ws.receive_snapshot())["tick"] for _ in range(20)]
        finally:
            await ws.reset()
        assert ticks == list(range(ticks[0], ticks[0] + 20))
    await wait_idle(service)


async def test_a_chatty_trio_websocket_client_closes_cleanly(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST)
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(ws_url(service)) as ws:
            for i in range(200):
                await ws.send_message(f"chatter {i}")
            first = json.loads(await ws.get_message())["tick"]
            for k in range(1, 10):
                assert json.loads(await ws.get_message())["tick"] == first + k
        assert ws.closed is not None
        assert ws.closed.code == 1000
    await wait_for_subscribers(service, 0)


# --- shutdown -------------------------------------------------------------------------------


async def test_shutdown_closes_reading_clients_with_1001_and_returns_within_2_s(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST, "-N", "2")
    with trio.fail_after(5):
        async with trio_websocket.open_websocket_url(ws_url(service)) as ws:
            await ws.get_message()
            start = trio.current_time()
            service.request_shutdown()
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await drain(ws)
        await release(ws)
    assert info.value.reason.code == 1001
    assert await service.wait_stopped(2 - (trio.current_time() - start)) == 0


async def test_shutdown_closes_a_websockets_client_with_1001(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST)
    connected = trio.Event()

    def client(token: trio.lowlevel.TrioToken) -> int | None:
        with websockets.sync.client.connect(ws_url(service), open_timeout=5) as ws:
            ws.recv(timeout=5)
            trio.from_thread.run_sync(connected.set, trio_token=token)
            try:
                while True:
                    ws.recv(timeout=5)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    async def shut_down_when_connected() -> None:
        await connected.wait()
        service.request_shutdown()

    with trio.fail_after(10):
        async with trio.open_nursery() as n:
            n.start_soon(shut_down_when_connected)
            code = await trio.to_thread.run_sync(client, trio.lowlevel.current_trio_token())
    assert code == 1001
    assert await service.wait_stopped(2) == 0


async def test_shutdown_with_a_stalled_client_still_returns_within_2_s(
    start_launch: StartLaunch, launch: str, kit: type[Kit]
) -> None:
    """A client that stopped reading pins hypercorn's shielded send; the door aborts it."""
    service = await start_launch(launch, "-d", "Batt", "-N", "20", "--periodic_time", "0.05")
    stalled = await trio.to_thread.run_sync(lambda: kit.raw_handshake(service.port, rcvbuf=4096))
    try:
        # its sender is blocked in send once its slot starts dropping ticks
        async def dropping() -> bool:
            return (await service.statistics())["messages_dropped"] > 0

        await eventually(dropping, within=15)
        reader_codes: list[int] = []
        async with trio_websocket.open_websocket_url(ws_url(service)) as reader:
            await reader.get_message()
            start = trio.current_time()
            service.request_shutdown()
            try:
                while True:
                    await reader.get_message()
            except trio_websocket.ConnectionClosed as exc:
                reader_codes.append(exc.reason.code)
        await release(reader)
        assert await service.wait_stopped(2 - (trio.current_time() - start)) == 0
    finally:
        kit.reset_close(stalled)
    assert reader_codes == [1001]
