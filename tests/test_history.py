"""The telemetry history (``dersim_trio.service.history``) and ``GET /api/dersim/history``.

Engine-driven: a real engine is stepped and every tick recorded, so the expected window is the
list of snapshots the engine returned. The route tests run the tick loop in virtual time
(``autojump_clock``) with the same hook the service installs (``service.observe_ticks``).
"""

from __future__ import annotations

import json
import math
from array import array
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from dersim_trio.api.history import MAX_HISTORY_S
from dersim_trio.api.schema import Snapshot
from dersim_trio.engine.core import Engine
from dersim_trio.service.history import (
    BYTES_PER_DEVICE_TICK,
    BYTES_PER_TICK,
    MAX_BYTES,
    MAX_TICKS,
    METRICS,
    MIN_TICKS,
    RETENTION_S,
    History,
    _float32_bytes,
    bytes_per_device_hour,
    capacity_for,
)
from dersim_trio.service.hub import Hub
from dersim_trio.service.logbuffer import LogBuffer
from dersim_trio.service.run import observe_ticks, tick_loop
from dersim_trio.web.app import create_app

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from conftest import Kit

PERIOD = 1.5


def run(engine: Engine, history: History, ticks: int) -> list[list[Snapshot]]:
    """Record tick 0 and ``ticks`` steps; return every tick's snapshots."""
    done = [engine.initial()]
    history.record(engine.tick, engine.clock.current, done[0])
    for _ in range(ticks):
        snapshots = engine.step()
        history.record(engine.tick, engine.clock.current, snapshots)
        done.append(snapshots)
    return done


def as_float32(value: float) -> float:
    return array("f", [value])[0]


# --- the window ------------------------------------------------------------------------------


def test_a_window_holds_exactly_the_ticks_newer_than_now_minus_seconds(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "Batt", "-N", "2", "--periodic_time", "1.5")
    history = History(2, PERIOD)
    run(engine, history, 100)  # now = tick 100 at 150 s
    # t > 150 − 15 = 135 s: ticks 91..100; tick 90 (exactly 135 s) is out
    assert history.window(15, 0).tick == list(range(91, 101))
    assert history.window(15.1, 0).tick == list(range(90, 101))
    assert history.window(1, 0).tick == [100]
    assert history.window(14400, 0).tick == list(range(101))


def test_window_columns_are_aligned_oldest_first_and_equal_the_snapshots(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "PV", "-N", "2", "--periodic_time", "1.5")
    history = History(2, PERIOD)
    ticks = run(engine, history, 40)
    for device in (0, 1):
        window = history.window(30, device)
        expected = [t[device] for t in ticks[-20:]]
        assert window.count == 20
        assert window.tick == [s.tick for s in expected]
        assert window.timestamps() == [s.metrics.timestamp for s in expected]
        for name in METRICS:
            assert len(window.values[name]) == 20
        assert window.column("power_kw") == [as_float32(s.metrics.power_kw) for s in expected]
        assert window.column("current_a") == [as_float32(s.metrics.current_a) for s in expected]
        assert window.column("dc_power_kw") == [as_float32(s.metrics.dc_power_kw) for s in expected]
        assert window.key_quantity_name == "irradiance_w_m2"
        assert window.column("key_quantity") == [
            as_float32(s.asset.irradiance_w_m2)  # type: ignore[union-attr]
            for s in expected
        ]
        assert window.column("state_of_charge_pct") == [None] * 20  # PV stores nothing
    # the device filter: the two PV devices have their own seeds (clouds), so their irradiance
    # differs (their power may not: both clip at WMax under a clear sky)
    assert history.window(60, 0).column("key_quantity") != history.window(60, 1).column(
        "key_quantity"
    )


def test_timestamps_carry_the_simulator_offset(kit: type[Kit]) -> None:
    engine = kit.make_engine(
        "-d", "Batt", "--wall_clock_timezone", "America/New_York", "--periodic_time", "1.5"
    )
    history = History(1, PERIOD)
    ticks = run(engine, history, 5)
    assert history.window(100, 0).timestamps() == [t[0].metrics.timestamp for t in ticks]
    assert ticks[0][0].metrics.timestamp.endswith("-04:00")


@pytest.mark.parametrize(
    ("device_type", "key", "read"),
    [
        ("Batt", "state_of_charge_pct", lambda s: s.metrics.state_of_charge_pct),
        ("Wind-T3-3Phase", "rotor_speed_rpm", lambda s: s.asset.rotor_speed_rpm),
        ("HybridDC-3Phase", "battery_soc_pct", lambda s: s.asset.battery_soc_pct),
        ("EVSE", "ev_power_kw", lambda s: sum(c.power_kw for c in s.asset.connectors)),
    ],
)
def test_each_asset_type_records_its_key_quantity(
    kit: type[Kit], device_type: str, key: str, read: Any
) -> None:
    engine = kit.make_engine("-d", device_type, "--periodic_time", "1.5")
    history = History(1, PERIOD)
    ticks = run(engine, history, 10)
    window = history.window(14400, 0)
    assert window.key_quantity_name == key
    assert window.column("key_quantity") == pytest.approx(
        [read(t[0]) for t in ticks], rel=1e-6, abs=1e-6
    )


def test_fuel_cell_key_quantity_is_hydrogen(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "Fuelcell-3Phase", "--periodic_time", "1.5")
    history = History(1, PERIOD)
    ticks = run(engine, history, 3)
    window = history.window(14400, 0)
    assert window.key_quantity_name == "hydrogen_pct"
    expected = [getattr(t[0].asset, "hydrogen_pct", None) for t in ticks]
    assert window.column("key_quantity") == [
        None if v is None else pytest.approx(v, rel=1e-6) for v in expected
    ]


def test_the_json_body_is_columnar_with_nulls_for_missing_values(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "PV", "--periodic_time", "1.5")
    history = History(1, PERIOD)
    ticks = run(engine, history, 12)
    body = json.loads(history.window(9, 0).to_json())
    assert body["device_index"] == 0
    assert body["period_s"] == 1.5
    assert body["count"] == 6
    assert body["tick"] == [7, 8, 9, 10, 11, 12]
    for name in (*METRICS, "timestamp"):
        assert len(body[name]) == 6, name
    assert body["state_of_charge_pct"] == [None] * 6
    assert body["key_quantity_name"] == "irradiance_w_m2"
    assert body["timestamp"][-1] == ticks[-1][0].metrics.timestamp
    # rounded as the snapshot's field is on the wire (api.resolution: 0.001 kW)
    assert body["power_kw"][-1] == pytest.approx(ticks[-1][0].metrics.power_kw, abs=0.0005)
    assert body["power_kw"][-1] == round(ticks[-1][0].metrics.power_kw, 3)


def test_an_empty_history_answers_an_empty_window() -> None:
    window = History(2, PERIOD).window(7200, 1)
    assert window.count == 0
    assert json.loads(window.to_json())["tick"] == []


# --- bounded memory --------------------------------------------------------------------------


def test_a_full_ring_drops_the_oldest_and_keeps_its_memory_constant(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "Batt", "-N", "3", "--periodic_time", "1.5")
    history = History(3, PERIOD, capacity=50)
    run(engine, history, 49)  # ticks 0..49: exactly full
    full_bytes = history.statistics().nbytes
    assert full_bytes == 50 * (BYTES_PER_TICK + 3 * BYTES_PER_DEVICE_TICK)
    for extra in range(1, 151):  # wraps around the ring three times
        snapshots = engine.step()
        history.record(engine.tick, engine.clock.current, snapshots)
        assert history.statistics().nbytes == full_bytes
        window = history.window(14400, 2)
        assert window.tick == list(range(extra, extra + 50))  # oldest first across the seam
        assert window.column("state_of_charge_pct")[-1] == as_float32(
            snapshots[2].metrics.state_of_charge_pct or 0.0
        )
    assert len(history) == 50


def test_documented_memory_numbers_match_the_array_item_sizes() -> None:
    assert BYTES_PER_DEVICE_TICK == len(METRICS) * array("f").itemsize == 40
    assert BYTES_PER_TICK == 2 * array("q").itemsize == 16
    # 2,400 ticks an hour at 1.5 s
    assert bytes_per_device_hour(1.5) == 40 * 2400 == 96_000
    # 4 h at 1.5 s is 9,600 ticks, + 10 % = 10,560; N = 1000 then holds ~403 MiB
    assert capacity_for(1.5, 1) == capacity_for(1.5, 1000) == 10_560
    assert 10_560 * (BYTES_PER_TICK + 1000 * BYTES_PER_DEVICE_TICK) == 422_568_960
    assert History(1000, 1.5).retention_s >= 4 * 3600


def test_the_longest_window_the_api_allows_is_what_the_history_keeps() -> None:
    assert MAX_HISTORY_S == RETENTION_S == 4 * 3600


def test_capacity_is_capped_for_tiny_ticks_huge_fleets_and_floored_for_huge_ticks() -> None:
    assert capacity_for(0.01, 1) == MAX_TICKS  # 1.58 M ticks wanted
    per_tick = BYTES_PER_TICK + 20_000 * BYTES_PER_DEVICE_TICK
    assert capacity_for(1.5, 20_000) == MAX_BYTES // per_tick  # 844 MB wanted
    assert capacity_for(1.5e6, 1) == MIN_TICKS


# --- the route -------------------------------------------------------------------------------


async def start_observed(nursery: trio.Nursery, kit: type[Kit], *flags: str) -> QuartTrio:
    """An app with history and logs, its tick loop recording into the history."""
    config = kit.make_config(*flags)
    engine = kit.make_engine(*flags)
    hub = Hub(config.device_count)
    history = History(config.device_count, config.periodic_time_s * config.time_scale)
    app = create_app(hub, kit.make_context(config), history=history, logs=LogBuffer())
    hook = observe_ticks(history, hub, config.periodic_time_s)
    await nursery.start(partial(tick_loop, engine, hub, config.periodic_time_s, on_tick=hook))
    return app


async def test_history_route_returns_the_window_of_the_asked_device(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kit: type[Kit]
) -> None:
    app = await start_observed(nursery, kit, "-d", "Batt", "-N", "3", "--periodic_time", "1.5")
    await trio.sleep(100 * PERIOD + PERIOD / 4)  # tick 100 published
    client = app.test_client()
    response = await client.get("/api/dersim/history?seconds=15&device=2&ignored=1")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["device_index"] == 2
    assert body["tick"] == list(range(91, 101))
    assert body["key_quantity_name"] == "state_of_charge_pct"
    default = await (await client.get("/api/dersim/history")).get_json()
    assert default["device_index"] == 0
    assert default["tick"] == list(range(101))


@pytest.mark.parametrize(
    ("query", "error", "names"),
    [
        ("seconds=0", "invalid_query", "1..14400"),
        ("seconds=14401", "invalid_query", "1..14400"),
        ("seconds=abc", "invalid_query", "not a number"),
        ("seconds=nan", "invalid_query", "1..14400"),
        ("device=3", "device_not_found", "[0, 2]"),
        ("device=-1", "device_not_found", "[0, 2]"),
        ("device=x", "device_not_found", "[0, 2]"),
    ],
)
async def test_history_route_rejects_a_bad_query_naming_the_range(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    kit: type[Kit],
    query: str,
    error: str,
    names: str,
) -> None:
    app = await start_observed(nursery, kit, "-d", "Batt", "-N", "3")
    response = await app.test_client().get(f"/api/dersim/history?{query}")
    assert response.status_code == (404 if error == "device_not_found" else 400)
    body = await response.get_json()
    assert body["error"] == error
    assert names in body["detail"]


async def test_history_route_encodes_a_four_hour_window_after_the_ring_wrapped(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kit: type[Kit]
) -> None:
    # 6 simulated s a tick: 4 h = 2,400 ticks (encoded in a worker thread), ring 2,640
    app = await start_observed(
        nursery, kit, "-d", "Batt", "--periodic_time", "1.5", "--time_scale", "4"
    )
    await trio.sleep(2_700 * PERIOD + PERIOD / 4)
    body = await (await app.test_client().get("/api/dersim/history?seconds=14400")).get_json()
    assert body["period_s"] == 6.0
    assert body["count"] == 2400  # t > now − 14,400 s
    assert body["tick"] == list(range(301, 2701))


@given(st.lists(st.floats(allow_infinity=False, width=64), max_size=50))
def test_a_float64_column_becomes_the_float32_values_array_f_makes(values: list[float]) -> None:
    """The buffer's float32 bytes come from one numpy cast of the tick's float64 column; they
    are the bytes ``array("f")`` makes of the same Python floats, value by value (NaN, ±0,
    subnormals and values beyond float32's range included)."""
    edge = [math.nan, -0.0, 0.0, 5e-324, -1e-40, 3.4028235e38, 1e39, -1e300, 1.0 / 3.0]
    column = values + edge
    assert _float32_bytes(np.array(column)) == array("f", column).tobytes()
