"""The quart-trio app through its test client, with the tick loop in virtual time.

Each test starts ``service.tick_loop`` itself (``kit.start_in_process``) under pytest-trio's
``autojump_clock``, so a thousand 1.5 s ticks take milliseconds and the times are exact.
Pitfalls this file respects (stack notes §5): assertions are made a quarter period after a
tick, never on a boundary; every receive is inside ``trio.fail_after``; the test websocket's
``close()`` is never called (leaving the ``async with`` disconnects); the test websocket buffers
10 server→client messages before the server's ``send`` blocks.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError

from dersim_trio.api.schema import Snapshot
from dersim_trio.api.server import ServerInfo

if TYPE_CHECKING:
    from conftest import InProcess, Kit

PERIOD = 1.5
WS = "/api/dersim/ws/telemetry"
WS_ALIAS = "/api/dersim/telemetry/ws"
AT_ONCE = PERIOD / 10
"""A receive that must not wait for another tick (virtual seconds)."""
FILE_READ_GUARD_S = 600.0
"""A static file's answer (virtual seconds; its reads run in threads, time jumps meanwhile)."""


@pytest.fixture
async def env3(nursery: trio.Nursery, kit: type[Kit]) -> InProcess:
    """Three batteries ticking every 1.5 virtual seconds.

    Tests using it must take ``autojump_clock`` themselves: pytest-trio picks the clock from
    the test function's own arguments only, not from its fixtures'.
    """
    return await kit.start_in_process(nursery, "-d", "Batt", "-N", "3", "--periodic_time", "1.5")


async def receive(ws: Any, within: float = PERIOD * 1.5) -> str:
    with trio.fail_after(within):
        message: str = await ws.receive()
    return message


async def receive_tick(ws: Any, devices: int, within: float = PERIOD * 1.5) -> list[dict[str, Any]]:
    """One tick's messages: ``devices`` messages, all of the same tick."""
    return [json.loads(await receive(ws, within)) for _ in range(devices)]


# --- the stream -------------------------------------------------------------------------------


async def test_first_message_is_the_cached_snapshot_sent_at_once(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    await env3.sleep_to_mid_tick(5)
    async with env3.app.test_app() as ta, ta.test_client().websocket(WS) as ws:
        messages = [await receive(ws, AT_ONCE) for _ in range(3)]
        assert [m.encode() for m in messages] == list(env3.hub.last.data)
        assert [json.loads(m)["tick"] for m in messages] == [5, 5, 5]


@pytest.mark.parametrize("path", [WS, WS_ALIAS])
async def test_unfiltered_stream_sends_each_device_once_per_tick_for_1000_ticks(
    env3: InProcess, autojump_clock: trio.testing.MockClock, path: str
) -> None:
    async with env3.app.test_app() as ta, ta.test_client().websocket(path) as ws:
        for k in range(1001):
            tick = await receive_tick(ws, 3)
            assert [(s["tick"], s["device_index"]) for s in tick] == [(k, 0), (k, 1), (k, 2)]
            if k > 0:  # pushed exactly when tick k was published
                assert trio.current_time() - env3.t0 == pytest.approx(k * PERIOD)
        # nothing more before the next tick
        await env3.sleep_to_mid_tick(1000)
        with trio.move_on_after(PERIOD / 2) as scope:
            await ws.receive()
        assert scope.cancelled_caught
    stats = env3.hub.statistics()
    assert stats.messages_dropped == 0
    assert stats.messages_sent >= 3 * 1001


async def test_filtered_stream_sends_only_that_device_once_per_tick_for_1000_ticks(
    env3: InProcess,
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with env3.app.test_app() as ta, ta.test_client().websocket(f"{WS}?device=1") as ws:
        for k in range(1001):
            (snap,) = await receive_tick(ws, 1)
            assert (snap["tick"], snap["device_index"]) == (k, 1)
    assert env3.hub.statistics().messages_dropped == 0


async def test_other_query_parameters_are_ignored(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        env3.app.test_app() as ta,
        ta.test_client().websocket(f"{WS}?device=2&token=abc&x") as ws,
    ):
        (snap,) = await receive_tick(ws, 1, AT_ONCE)
        assert snap["device_index"] == 2


async def test_a_client_that_never_reads_delays_neither_the_tick_loop_nor_other_clients(
    env3: InProcess,
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with env3.app.test_app() as ta:
        client = ta.test_client()
        async with client.websocket(WS) as stalled, client.websocket(f"{WS}?device=0") as reader:
            for k in range(200):
                (snap,) = await receive_tick(reader, 1)
                assert snap["tick"] == k
                if k > 0:
                    assert trio.current_time() - env3.t0 == pytest.approx(k * PERIOD)
            await env3.sleep_to_mid_tick(199)
            stats = env3.hub.statistics()
            assert stats.max_tick_lateness_ms == 0.0
            assert stats.ticks_published == 200
            assert stats.messages_dropped > 0  # all the stalled client's
            assert stats.messages_dropped % 3 == 0  # whole ticks of 3 messages

            # It resumes: first what was buffered before it stalled, then the freshest tick.
            newest = env3.hub.last.tick
            ticks: list[int] = []
            devices: list[int] = []
            while not ticks or ticks[-1] != newest or devices[-1] != 2:
                snap = json.loads(await receive(stalled, AT_ONCE))
                ticks.append(snap["tick"])
                devices.append(snap["device_index"])
            assert ticks[0] == 0
            assert ticks == sorted(ticks)
            jumps = [b - a for a, b in itertools.pairwise(ticks)]
            assert max(jumps) > 1, ticks
            assert ticks[-3:] == [newest] * 3
            assert devices[-3:] == [0, 1, 2]
            assert len(ticks) < 30  # not a backlog of 200 ticks


async def test_client_frames_are_read_and_ignored(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    """The test websocket's inbound buffer holds 10 frames: 50 only fit if the app drains them."""
    async with env3.app.test_app() as ta, ta.test_client().websocket(f"{WS}?device=0") as ws:
        with trio.fail_after(AT_ONCE):
            for i in range(50):
                await ws.send(f"hello {i}")
        for k in range(3):
            (snap,) = await receive_tick(ws, 1)
            assert snap["tick"] == k


async def test_leaving_the_websocket_removes_the_subscriber(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    async with env3.app.test_app() as ta:
        client = ta.test_client()
        for _ in range(200):
            async with client.websocket(WS) as ws:
                await receive(ws, AT_ONCE)
                assert env3.hub.statistics().subscribers == 1
            await trio.testing.wait_all_tasks_blocked()
            assert env3.hub.statistics().subscribers == 0


async def test_hub_close_all_closes_the_stream_with_1001(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    async with env3.app.test_app() as ta, ta.test_client().websocket(f"{WS}?device=1") as ws:
        await receive(ws, AT_ONCE)
        env3.hub.close_all()
        with pytest.raises(WebsocketDisconnectError) as info:
            await receive(ws, AT_ONCE)
        assert info.value.args == (1001,)
    assert env3.hub.statistics().subscribers == 0


@pytest.mark.parametrize("bad", ["bad", "-1", "3", "1.0", "", "%201%20x"])
async def test_a_bad_device_filter_closes_the_websocket_with_1008(
    env3: InProcess, autojump_clock: trio.testing.MockClock, bad: str
) -> None:
    async with env3.app.test_app() as ta, ta.test_client().websocket(f"{WS}?device={bad}") as ws:
        with pytest.raises(WebsocketDisconnectError) as info:
            await receive(ws, AT_ONCE)
        assert info.value.args == (1008,)
    assert env3.hub.statistics().subscribers == 0


async def test_a_websocket_to_an_unknown_path_gets_404(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    async with env3.app.test_app() as ta, ta.test_client().websocket("/api/dersim/nope") as ws:
        with pytest.raises(WebsocketResponseError) as info:
            await receive(ws, AT_ONCE)
        assert info.value.response.status_code == 404


# --- HTTP -----------------------------------------------------------------------------------


async def get(
    env: InProcess, path: str, method: str = "GET", *, within: float = AT_ONCE
) -> tuple[int, str, bytes]:
    async with env.app.test_app() as ta:
        with trio.fail_after(within):
            response = await ta.test_client().open(path, method=method)
            body = await response.get_data()
    return response.status_code, response.content_type, body


async def test_overview_bytes_equal_the_websocket_message_of_the_same_tick(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    async with env3.app.test_app() as ta, ta.test_client().websocket(f"{WS}?device=1") as ws:
        for k in range(8):
            raw = await receive(ws)
            assert json.loads(raw)["tick"] == k
        await env3.sleep_to_mid_tick(7)
        status, ctype, body = await get(env3, "/api/dersim/overview?device=1")
    assert status == 200
    assert ctype == "application/json"
    assert body == raw.encode()
    assert body == env3.hub.last.data[1]


async def test_overview_defaults_to_device_0(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    await env3.sleep_to_mid_tick(2)
    status, _, body = await get(env3, "/api/dersim/overview")
    assert status == 200
    assert body == env3.hub.last.data[0]
    assert json.loads(body)["tick"] == 2


async def test_devices_is_the_json_array_of_the_same_bytes(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    await env3.sleep_to_mid_tick(3)
    status, ctype, body = await get(env3, "/api/dersim/devices")
    assert status == 200
    assert ctype == "application/json"
    assert body == b"[" + b",".join(env3.hub.last.data) + b"]"
    snaps = [Snapshot.model_validate(s) for s in json.loads(body)]
    assert [(s.tick, s.device_index) for s in snaps] == [(3, 0), (3, 1), (3, 2)]


@pytest.mark.parametrize("bad", ["x", "-1", "3", "1.5", "", "99999999999999999999"])
async def test_overview_answers_a_bad_device_with_404_naming_the_range(
    env3: InProcess, autojump_clock: trio.testing.MockClock, bad: str
) -> None:
    status, ctype, body = await get(env3, f"/api/dersim/overview?device={bad}")
    assert status == 404
    assert ctype == "application/json"
    error = json.loads(body)
    assert set(error) == {"error", "detail"}
    assert error["error"] == "device_not_found"
    assert "[0, 2]" in error["detail"]
    assert repr(bad) in error["detail"]


async def test_single_device_error_says_only_0_is_allowed(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kit: type[Kit]
) -> None:
    env = await kit.start_in_process(nursery, "-d", "Batt")
    status, _, body = await get(env, "/api/dersim/overview?device=1")
    assert status == 404
    assert "device must be 0" in json.loads(body)["detail"]


async def test_unknown_route_is_a_404_json_error(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    status, ctype, body = await get(env3, "/api/dersim/nope")
    assert status == 404
    assert ctype == "application/json"
    assert json.loads(body) == {
        "error": "not_found",
        "detail": "no route for GET /api/dersim/nope",
    }


@pytest.mark.parametrize("path", ["/api/dersim/overview", "/api/dersim/devices"])
async def test_wrong_method_is_a_405_json_error(
    env3: InProcess, autojump_clock: trio.testing.MockClock, path: str
) -> None:
    status, ctype, body = await get(env3, path, method="POST")
    assert status == 405
    assert ctype == "application/json"
    error = json.loads(body)
    assert error["error"] == "method_not_allowed"
    assert "POST" in error["detail"]
    assert path in error["detail"]


def response_schema(operation: dict[str, Any], status: str) -> dict[str, Any]:
    schema: dict[str, Any] = operation["responses"][status]["content"]["application/json"]["schema"]
    return schema


def documents_model(schema: dict[str, Any], model: type[Any], spec: dict[str, Any]) -> bool:
    """True if ``schema`` is ``model`` (inlined by quart-schema, or as a component reference)."""
    ref = schema.get("$ref", "")
    if ref:
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return set(schema.get("properties", {})) == set(model.model_fields)


async def test_openapi_documents_every_route_and_the_websocket_with_the_snapshot_schema(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    status, _, body = await get(env3, "/openapi.json")
    assert status == 200
    spec = json.loads(body)
    paths = spec["paths"]
    overview = paths["/api/dersim/overview"]["get"]
    assert documents_model(response_schema(overview, "200"), Snapshot, spec)
    assert [p["name"] for p in overview["parameters"]] == ["device"]
    devices = paths["/api/dersim/devices"]["get"]
    devices_list = spec["components"]["schemas"]["SnapshotList"]
    assert response_schema(devices, "200") == {"$ref": "#/components/schemas/SnapshotList"}
    assert documents_model(devices_list["items"], Snapshot, spec)
    info = paths["/api/dersim/server-info"]["get"]
    assert documents_model(response_schema(info, "200"), ServerInfo, spec)
    for ws_path in (WS, WS_ALIAS):
        operation = paths[ws_path]["get"]
        assert documents_model(response_schema(operation, "101"), Snapshot, spec)
        assert [p["name"] for p in operation["parameters"]] == ["device"]
        assert "1008" in operation["description"]


async def test_openapi_operation_ids_are_unique(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    """OpenAPI 3.1 §4.8.10: operationId "MUST be unique among all operations described"."""
    _, _, body = await get(env3, "/openapi.json")
    ids = [
        op["operationId"]
        for item in json.loads(body)["paths"].values()
        for op in item.values()
        if "operationId" in op
    ]
    assert len(ids) == len(set(ids)), sorted(ids)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_doc_pages_load_only_local_assets(
    env3: InProcess, autojump_clock: trio.testing.MockClock, path: str
) -> None:
    status, ctype, body = await get(env3, path)
    assert status == 200
    assert ctype.startswith("text/html")
    html = body.decode()
    assert "/static/" in html
    for cdn in ("cdn.jsdelivr", "cdnjs", "unpkg.com", "http://", "https://"):
        assert cdn not in html, cdn


async def test_start_page_links_the_api(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    # The page is read from the package directory in worker threads; while a read is under way
    # the autojump clock would see every task blocked and jump ticks ahead, so on a loaded
    # machine virtual time could run past any guard. Jump only after a real second of idleness:
    # nothing here waits on virtual time, and the guard stays generous in virtual time.
    autojump_clock.autojump_threshold = 1.0
    status, ctype, body = await get(env3, "/", within=FILE_READ_GUARD_S)
    assert status == 200
    assert ctype.startswith("text/html")
    assert b"/api/dersim/overview" in body


async def test_server_info_reports_run_facts_and_live_counters(
    env3: InProcess, autojump_clock: trio.testing.MockClock
) -> None:
    async with env3.app.test_app() as ta, ta.test_client().websocket(WS) as ws:
        await receive_tick(ws, 3, AT_ONCE)
        await env3.sleep_to_mid_tick(4)
        status, _, body = await get(env3, "/api/dersim/server-info")
    assert status == 200
    info = ServerInfo.model_validate_json(body)
    assert info.name == "dersim-trio"
    assert info.device_type == "Batt"
    assert info.device_count == 3
    assert info.periodic_time_s == 1.5
    assert info.time_scale == 1.0
    assert info.wall_clock is False
    assert info.timezone == "UTC"
    assert info.seed == 0
    assert info.tick == 4
    assert info.clock_time == json.loads(env3.hub.last.data[0])["clock_time"] == "12:00:06"
    assert info.uptime_s == pytest.approx(4 * PERIOD + PERIOD / 4)
    assert info.statistics.subscribers == 1
    assert info.statistics.ticks_published == 5
    assert info.statistics.messages_sent >= 3
    assert info.trio_version == trio.__version__
    assert info.hypercorn_version.startswith("0.18.")
