"""The contract suite, end to end under every launch: real sockets, real clients.

Every check runs against the launches of ``helpers.LAUNCHES``: ``run_service`` on 127.0.0.1
port 0 with the front door's fast path (``dersim-trio``) and with the quart route only
(``dersim-trio --fast_path no``), and ``hypercorn -k trio -w 0 --graceful-timeout 1
dersim_trio.asgi:app`` as a real process.

Few tests, each bounded by ``trio.fail_after``; nothing waits by sleeping a fixed time: the
tests wait on a client's receive or poll a counter with a deadline. Periods are short (0.05 s)
so a run of ticks takes a fraction of a second. Tests whose outcome depends on timing
(consecutive ticks for a busy client, the shutdown budget) run on virtual time
(``autojump_clock``, still real sockets), so a loaded machine cannot make a reader look slow;
tests with a client in a worker thread run on the real clock with generous guards. Virtual
time cannot drive another process, so for the hypercorn process such a check is a test of its
own on the real clock with a slower tick (``HYPERCORN_TICKS``); its shutdown budget, with
stalled clients, is tested in ``test_hypercorn_launch.py`` (a ``fail_after`` of 2 s from the
signal).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio
import trio.testing
import trio_websocket
import websockets.sync.client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dersim_trio.api.schema import Snapshot
from helpers import (
    LAUNCHES,
    TEXT,
    WS_PATH,
    InProcessLaunch,
    Launched,
    RawClient,
    drain,
    release,
    wait_launch_idle,
    wait_until,
    ws_url,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from conftest import Kit
    from dersim_trio.service.hub import TickPayload
    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]
    StartLaunch = Callable[..., Awaitable[Launched]]

FAST = ("-d", "Batt", "--periodic_time", "0.05")
HYPERCORN_TICKS = ("-d", "Batt", "--periodic_time", "0.2")
"""For the checks of consecutive ticks against the hypercorn process on the real clock: slow
enough that a test client on a loaded machine keeps up."""
SHUTDOWN_BUDGET_S = 2.0
"""README: on shutdown every client gets 1001 and the service returns within 2 s."""


@pytest.fixture(params=LAUNCHES)
def launch(request: pytest.FixtureRequest) -> str:
    """``dersim-trio`` (the door's pre-framed broadcaster), ``dersim-trio --fast_path no`` (the
    quart route), or ``hypercorn -k trio dersim_trio.asgi:app`` (a real process)."""
    return str(request.param)


@pytest.fixture(params=[True, False], ids=["fast_path", "quart_route"])
def fast_path(request: pytest.FixtureRequest) -> bool:
    """The in-process launches (tests on virtual time): the door's pre-framed broadcaster, or
    the quart route."""
    return bool(request.param)


# --- real clients -------------------------------------------------------------------------


async def test_websockets_client_gets_the_cached_snapshot_then_consecutive_ticks(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST, "-N", "2")
    before = await service.last_tick()

    def client() -> list[dict[str, Any]]:
        with websockets.sync.client.connect(ws_url(service.port), open_timeout=10) as ws:
            return [json.loads(ws.recv(timeout=10)) for _ in range(2 * 6)]

    with trio.fail_after(10):
        messages = await trio.to_thread.run_sync(client)
    first = messages[0]["tick"]
    assert before <= first
    got = [(m["tick"], m["device_index"]) for m in messages]
    assert got == [(first + k, d) for k in range(6) for d in (0, 1)]
    for m in messages:
        Snapshot.model_validate(m)
    await wait_launch_idle(service)


PATHS = ["/api/dersim/ws/telemetry", "/api/dersim/telemetry/ws"]


@pytest.mark.parametrize("path", PATHS)
async def test_trio_websocket_client_gets_the_cached_snapshot_then_consecutive_ticks(
    start_service: StartService, fast_path: bool, path: str, autojump_clock: trio.testing.MockClock
) -> None:
    service = await start_service(*FAST, "-N", "3", fast_path=fast_path)
    await check_cached_snapshot_then_consecutive_ticks(InProcessLaunch(service), path)


@pytest.mark.parametrize("path", PATHS)
async def test_trio_websocket_client_gets_the_cached_snapshot_then_consecutive_ticks_under_hypercorn(  # noqa: E501
    start_launch: StartLaunch, path: str
) -> None:
    service = await start_launch("hypercorn", *HYPERCORN_TICKS, "-N", "3")
    await check_cached_snapshot_then_consecutive_ticks(service, path)


async def check_cached_snapshot_then_consecutive_ticks(service: Launched, path: str) -> None:
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(
            ws_url(service.port, path) + "?device=2"
        ) as ws:
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
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(ws_url(service.port) + "?device=7") as ws:
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
    assert bad.status_code == 404
    assert bad.json()["error"] == "device_not_found"
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
                ws_url(service.port, "/api/dersim/nope"), open_timeout=10
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
        ws = await RawClient.open(service.port)
        try:
            await ws.handshake(service.port)
            await ws.read_snapshot(answer_pings=True)
            if i % 2:
                await ws.close_cleanly()
        finally:
            ws.reset()  # a no-op after a clean close

    with trio.fail_after(30):
        for batch in range(50):
            async with trio.open_nursery() as n:
                for i in range(10):
                    n.start_soon(cycle, batch * 10 + i)
    await wait_launch_idle(service)
    assert await service.failed_connections() == 0


async def test_a_chatty_client_still_gets_ticks_and_its_disconnect_is_seen(
    start_service: StartService, fast_path: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """hypercorn stops reading a socket whose frames pile up unread (~20): the app must drain."""
    service = await start_service(*FAST, "-N", "2", fast_path=fast_path)
    await check_chatty_client(InProcessLaunch(service))


async def test_a_chatty_client_still_gets_ticks_and_its_disconnect_is_seen_under_hypercorn(
    start_launch: StartLaunch,
) -> None:
    await check_chatty_client(await start_launch("hypercorn", *HYPERCORN_TICKS, "-N", "2"))


async def check_chatty_client(service: Launched) -> None:
    with trio.fail_after(10):
        ws = await RawClient.open(service.port)
        try:
            await ws.handshake(service.port, WS_PATH + "?device=0")
            for i in range(200):
                await ws.send_frame(TEXT, f"chatter {i}".encode())
            ticks = [(await ws.read_snapshot(answer_pings=True))["tick"] for _ in range(20)]
        finally:
            ws.reset()
        assert ticks == list(range(ticks[0], ticks[0] + 20))
    await wait_launch_idle(service)


async def test_a_chatty_trio_websocket_client_closes_cleanly(
    start_service: StartService, fast_path: bool, autojump_clock: trio.testing.MockClock
) -> None:
    service = await start_service(*FAST, fast_path=fast_path)
    await check_chatty_trio_websocket_client(InProcessLaunch(service))


async def test_a_chatty_trio_websocket_client_closes_cleanly_under_hypercorn(
    start_launch: StartLaunch,
) -> None:
    await check_chatty_trio_websocket_client(await start_launch("hypercorn", *HYPERCORN_TICKS))


async def check_chatty_trio_websocket_client(service: Launched) -> None:
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(ws_url(service.port)) as ws:
            for i in range(200):
                await ws.send_message(f"chatter {i}")
            first = json.loads(await ws.get_message())["tick"]
            for k in range(1, 10):
                assert json.loads(await ws.get_message())["tick"] == first + k
        assert ws.closed is not None
        assert ws.closed.code == 1000
    await wait_launch_idle(service)


# --- encoding on demand ----------------------------------------------------------------------


async def test_with_nobody_connected_no_tick_is_encoded_and_a_later_client_gets_the_tick_bytes(
    start_service: StartService,
    fast_path: bool,
    kit: type[Kit],
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The tick loop publishes each tick unencoded (``Hub.publish_on_demand``): with nobody
    connected no tick is encoded, a GET of one device (and server-info) encodes that device
    alone, so does a client of one device while it is the only one, and a client connecting
    mid-run gets the cached tick and then every tick, each message the bytes an engine built
    alike encoded at that tick."""
    flags = (*FAST, "-N", "3")
    service = await start_service(*flags, fast_path=fast_path)
    hub = service.hub
    twin = kit.make_engine(*flags)
    assert hub.last.tick == 0
    expected = {0: twin.initial().payloads}
    published = {0: hub.last}

    def on_tick(item: TickPayload) -> None:
        expected[item.tick] = twin.step().payloads
        assert twin.tick == item.tick
        published[item.tick] = item

    hub.add_listener(on_tick)

    async def until_tick(tick: int) -> None:
        while hub.last.tick < tick:
            await hub.wait_published()

    def encoded(ticks: range) -> list[int]:
        return [t for t in ticks if published[t].encoded]

    with trio.fail_after(10):
        await until_tick(5)
        async with httpx.AsyncClient(base_url=service.http_url) as http:
            one = await http.get("/api/dersim/overview?device=1")
            info = (await http.get("/api/dersim/server-info")).json()
        assert one.content == expected[json.loads(one.content)["tick"]][1]
        assert info["clock_time"] == json.loads(expected[info["tick"]][0])["clock_time"]
        assert encoded(range(hub.last.tick + 1)) == []
        # a client of one device arrives, leaves; nobody for three ticks; a client of all
        async with trio_websocket.open_websocket_url(ws_url(service.port) + "?device=2") as ws:
            got = [(await ws.get_message()).encode() for _ in range(4)]
        ticks = [json.loads(m)["tick"] for m in got]
        assert ticks == list(range(ticks[0], ticks[0] + 4))
        assert got == [expected[t][2] for t in ticks]
        assert encoded(range(ticks[0], ticks[-1] + 1)) == []  # device 2 alone was encoded
        await wait_launch_idle(InProcessLaunch(service))
        quiet = hub.last.tick
        await until_tick(quiet + 3)
        assert encoded(range(quiet + 1, quiet + 4)) == []
        async with trio_websocket.open_websocket_url(ws_url(service.port)) as ws:
            got = [(await ws.get_message()).encode() for _ in range(3 * 4)]
    ticks = [json.loads(m)["tick"] for m in got[::3]]
    assert ticks == list(range(ticks[0], ticks[0] + 4))
    assert ticks[0] > quiet + 2
    assert got == [payload for t in ticks for payload in expected[t]]
    await wait_launch_idle(InProcessLaunch(service))


# --- shutdown -------------------------------------------------------------------------------


async def test_shutdown_closes_reading_clients_with_1001_and_returns_within_2_s(
    start_service: StartService, fast_path: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """On virtual time: the shutdown's own timeouts fit in the 2 s budget, whatever the load."""
    service = await start_service(*FAST, "-N", "2", fast_path=fast_path)
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(ws_url(service.port)) as ws:
            await ws.get_message()
            start = trio.current_time()
            service.request_shutdown()
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await drain(ws)
        await release(ws)
    assert info.value.reason.code == 1001
    with trio.fail_after(SHUTDOWN_BUDGET_S - (trio.current_time() - start)):
        await service.done.wait()


async def test_shutdown_closes_a_websockets_client_with_1001(
    start_launch: StartLaunch, launch: str
) -> None:
    service = await start_launch(launch, *FAST)
    connected = trio.Event()

    def client(token: trio.lowlevel.TrioToken) -> int | None:
        with websockets.sync.client.connect(ws_url(service.port), open_timeout=10) as ws:
            ws.recv(timeout=10)
            trio.from_thread.run_sync(connected.set, trio_token=token)
            try:
                while True:
                    ws.recv(timeout=10)
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
    # real clock (a client thread): a generous guard; the budget is pinned on virtual time above
    # and, for the hypercorn process, in test_hypercorn_launch.py
    assert await service.wait_stopped(10) == 0


async def test_shutdown_with_a_stalled_client_still_returns_within_2_s(
    start_service: StartService, fast_path: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """A client that stopped reading pins hypercorn's shielded send; the door aborts it (on
    virtual time, as above)."""
    service = await start_service(
        "-d", "Batt", "-N", "20", "--periodic_time", "0.05", fast_path=fast_path
    )
    stalled = await RawClient.open(service.port, rcvbuf=4096)
    await stalled.handshake(service.port)  # and never reads again
    try:
        # its sender is blocked in send once its slot starts dropping ticks
        await wait_until(lambda: service.hub.statistics().messages_dropped > 0, within=15)
        reader_codes: list[int] = []
        async with trio_websocket.open_websocket_url(ws_url(service.port)) as reader:
            await reader.get_message()
            start = trio.current_time()
            service.request_shutdown()
            try:
                while True:
                    await reader.get_message()
            except trio_websocket.ConnectionClosed as exc:
                reader_codes.append(exc.reason.code)
        await release(reader)
        with trio.fail_after(SHUTDOWN_BUDGET_S - (trio.current_time() - start)):
            await service.done.wait()
    finally:
        stalled.reset()
    assert reader_codes == [1001]
