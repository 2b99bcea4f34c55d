"""Grid events: the series (steps, ramps, holding), the engine playing them at sub-tick
resolution, ``--grid_profile`` CSV, the REST routes, and a ride-through profile played through
the ``dersim`` fixture on virtual time.

The ride-through profile follows the shape of the IEEE 1547.1-2020 low-voltage ride-through
test for abnormal category III (§5.4.4: 0.88–1.00 pu, then 0–0.05 pu for 1 s, below 0.50 pu
for 9 s, 0.50–0.70 pu for 10 s, back to nominal), with the under-voltage trips set out of the
way as the procedure asks ("disabled or set so as not to influence the outcome of the test").
IEEE 1547-2018 §6.4.2, category III: momentary cessation at or below 0.50 pu, mandatory
operation from 0.50 to 0.88 pu.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from dersim_trio.api.resolution import AMP, KW
from dersim_trio.client import ApiError
from dersim_trio.engine.core import Engine
from dersim_trio.errors import ConfigError
from dersim_trio.grid.events import GridEvent, series
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import parse_args
from dersim_trio.testing import SimulatorHandle, run_simulator

START = datetime.fromisoformat("2026-06-21T12:00:00+00:00")
GUARD_S = 600.0


def engine(*flags: str) -> Engine:
    eng = build_engine(parse_args(["--start_clock_time", "12:00:00", *flags]), START)
    for slot in eng.devices:
        slot.inputs.irradiance_w_m2 = 1000.0
        slot.inputs.ambient_temperature_c = 25.0
    eng.initial()
    return eng


# --- the series ----------------------------------------------------------------------------


def test_a_series_steps_at_equal_times_ramps_between_and_holds_past_its_end() -> None:
    s = series([(0, 1.0), (2, 1.0), (2, 0.5), (4, 0.9)])
    assert s.at(1.999)[0] == 1.0
    assert s.at(2.0)[0] == 0.5  # the later of two points at one time applies from it
    assert s.at(3.0)[0] == pytest.approx(0.7)
    assert s.at(100.0)[0] == 0.9
    assert s.end_s == 4.0


def test_a_series_carries_three_phases_or_one_value_for_all() -> None:
    s = series([(0, 1.0), (1, [1.0, 0.5, 1.0])])
    assert s.at(0.5) == pytest.approx((1.0, 0.75, 1.0))


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([(1, 1.0)], "the first point must be at t_s 0"),
        ([(0, 1.0), (2, 1.0), (1, 1.0)], "before the previous point"),
    ],
)
def test_a_series_refuses_bad_times(points: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        series(points)


# --- in the engine -------------------------------------------------------------------------


def test_a_step_inside_a_tick_trips_within_20_ms_of_the_clearing_time() -> None:
    """OV2 (IEEE 1547-2018 Table 13: 1.20 pu, 0.16 s) after a step 0.7 s into a 1.5 s tick."""
    eng = engine("-d", "PV-3Phase")
    for _ in range(3):
        eng.step()
    t0 = eng.elapsed_s
    eng.grid_event = GridEvent(t0, voltage=series([(0, 1.0), (0.7, 1.0), (0.7, 1.25)]))
    snap = eng.step()[0]
    assert snap.status.last_trip is not None
    assert snap.status.last_trip.cause == "OV2"
    assert snap.status.last_trip.time_s - t0 == pytest.approx(0.7 + 0.16, abs=0.02)
    assert snap.metrics.power_kw == 0.0


def test_an_event_for_one_device_leaves_the_others_on_their_inputs() -> None:
    eng = engine("-d", "PV-3Phase", "-N", "2")
    eng.grid_event = GridEvent(eng.elapsed_s, frequency=series([(0, 60.5)]), device=1)
    snaps = eng.step()
    assert snaps[0].metrics.frequency_hz == 60.0
    assert snaps[1].metrics.frequency_hz == 60.5


def test_past_its_data_an_event_holds_the_last_value_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    eng = engine("-d", "PV-3Phase")
    eng.grid_event = GridEvent(eng.elapsed_s, voltage=series([(0, 1.0), (2, 0.95)]))
    with caplog.at_level(logging.WARNING, logger="dersim_trio.Grid"):
        snaps = [eng.step()[0] for _ in range(6)]
    nominal = eng.devices[0].voltage_ln_nominal_v
    assert snaps[-1].metrics.voltage_ln_v == pytest.approx(0.95 * nominal)
    past = [r for r in caplog.records if "past its data" in r.getMessage()]
    assert len(past) == 1
    assert "holding the last value (V 0.950 pu)" in past[0].getMessage()


def test_the_snapshot_voltage_is_the_phase_average_and_the_lowest_phase_decides() -> None:
    eng = engine("-d", "PV-3Phase")
    eng.grid_event = GridEvent(eng.elapsed_s, voltage=series([(0, [1.0, 1.0, 0.4])]))
    snap = eng.step()[0]
    nominal = eng.devices[0].voltage_ln_nominal_v
    assert snap.metrics.voltage_ln_v == pytest.approx(0.8 * nominal)
    assert snap.status.grid_state == "momentary_cessation"  # 0.40 pu ≤ 0.50 on one phase


# --- --grid_profile --------------------------------------------------------------------------


def _profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_grid_profile_plays_from_the_start(tmp_path: Path) -> None:
    path = _profile(
        tmp_path, "# sag then frequency ramp\nt_s,v_pu,freq_hz\n0,1.0,60\n3,1.0,\n3,0.6,\n6,,60.6\n"
    )
    eng = engine("-d", "PV-3Phase", "--grid_profile", str(path))
    assert eng.grid_event is not None
    assert eng.grid_event.source == "profile.csv"
    snaps = [eng.step()[0] for _ in range(4)]  # t = 1.5, 3, 4.5, 6 s
    nominal = eng.devices[0].voltage_ln_nominal_v
    assert snaps[0].metrics.voltage_ln_v == pytest.approx(nominal)
    assert snaps[1].metrics.voltage_ln_v == pytest.approx(0.6 * nominal)
    assert snaps[2].metrics.frequency_hz == pytest.approx(60.45)
    assert snaps[3].metrics.frequency_hz == pytest.approx(60.6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t,v_pu\n0,1\n", "line 1: the first column must be t_s"),
        ("t_s,volts\n0,1\n", "line 1: unexpected column 'volts'"),
        ("t_s,v_pu\n0,1\n2,1\n1,1\n", "line 4: t_s 1 is before the previous row's 2"),
        ("t_s,v_pu\n0,1\n2,1.7\n", "line 3: v_pu: 1.7 is outside 0..1.5"),
        ("t_s,v_pu,freq_hz\n0,1,\n2,1,60\n", "line 3: the frequency series must start at t_s 0"),
        ("t_s,v_a_pu,v_b_pu\n0,1,1\n", "line 1: per-phase voltage needs v_a_pu, v_b_pu and v_c_pu"),
        ("t_s,v_pu\n", "no data rows"),
    ],
)
def test_a_bad_grid_profile_is_one_line_naming_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _profile(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        engine("-d", "PV-3Phase", "--grid_profile", str(path))
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"--grid_profile {path}")


def test_per_phase_profile_columns_need_a_three_phase_device(tmp_path: Path) -> None:
    path = _profile(tmp_path, "t_s,v_a_pu,v_b_pu,v_c_pu\n0,1,1,0.5\n")
    with pytest.raises(ConfigError, match="per-phase voltages apply to three-phase devices"):
        engine("-d", "PV-1Phase", "--grid_profile", str(path))
    with pytest.raises(ConfigError, match="does not exist"):
        parse_args(["--grid_profile", str(tmp_path / "missing.csv")])


# --- REST ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "voltage"),
        ({"voltage": [{"t_s": 1, "v_pu": 1.0}]}, "voltage[0].t_s"),
        (
            {"frequency": [{"t_s": 0, "freq_hz": 60}, {"t_s": -1, "freq_hz": 60}]},
            "frequency[1].t_s",
        ),
        ({"frequency": [{"t_s": 0, "freq_hz": 70}]}, "frequency[0].freq_hz"),
        ({"voltage": [{"t_s": 0, "v_pu": [1.0, 1.0]}]}, "voltage[0].v_pu"),
        ({"voltage": [{"t_s": 0, "v_pu": 1.0, "phase": "a"}]}, "voltage[0].phase"),
    ],
)
async def test_a_bad_grid_event_is_422_naming_the_point_and_changes_nothing(
    dersim: SimulatorHandle,
    autojump_clock: trio.testing.MockClock,
    body: dict[str, Any],
    field: str,
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            await api.start_grid_event(frequency=[(0, 60.01)])
            before = await api.grid_event()
            with pytest.raises(ApiError) as caught:
                await api.request("POST", "/api/dersim/grid-events", body=body)
            after = await api.grid_event()
    assert caught.value.status == 422
    assert field in [f.field for f in caught.value.fields or []], caught.value.detail
    assert after.frequency == before.frequency
    assert after.started_s == before.started_s


@pytest.mark.dersim("-d", "PV-1Phase")
async def test_per_phase_voltages_are_refused_for_a_single_phase_device(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            with pytest.raises(ApiError) as event_refused:
                await api.start_grid_event(voltage=[(0, [1.0, 1.0, 0.5])])
            with pytest.raises(ApiError) as input_refused:
                await api.set_inputs(0, grid_voltage_pu=[1.0, 1.0, 0.5])
            with pytest.raises(ApiError) as unknown_device:
                await api.start_grid_event(voltage=[(0, 1.0)], device=1)
    assert event_refused.value.status == 422
    assert "three-phase devices" in event_refused.value.detail
    assert input_refused.value.status == 422
    assert unknown_device.value.status == 404


async def test_post_replaces_get_shows_delete_ends(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            assert not (await api.grid_event()).active
            await api.start_grid_event(voltage=[(0, 1.0), (60, 1.05)])
            started = await api.start_grid_event(frequency=[(0, 60.0), (3, 60.3)])
            assert started.voltage is None  # the first event was replaced
            await dersim.wait_ticks(4)
            shown = await api.grid_event()
            inputs = await api.inputs(0)
            snap = await api.overview(0)
            ended = await api.end_grid_event()
            await dersim.wait_ticks(1)
            after = await api.overview(0)
    assert shown.active
    assert shown.holding
    assert shown.duration_s == 3.0
    assert shown.elapsed_s is not None
    assert shown.elapsed_s > 3.0
    assert inputs.grid_event
    assert snap.metrics.frequency_hz == pytest.approx(60.3)
    assert not ended.active
    assert after.metrics.frequency_hz == 60.0  # the inputs apply again


# --- a ride-through profile on virtual time -----------------------------------------------

LVRT_III = [
    (0.0, 1.0),
    (5.0, 1.0),
    (5.0, 0.03),  # 0–0.05 pu for 1 s: momentary cessation
    (6.0, 0.03),
    (6.0, 0.45),  # below 0.50 pu for 9 s: momentary cessation, no trip
    (15.0, 0.45),
    (15.0, 0.60),  # 0.50–0.70 pu for 10 s: mandatory operation
    (25.0, 0.60),
    (25.0, 1.0),
]
UV_OUT_OF_THE_WAY = {"lv": {"must_trip": [{"v_pct": 88, "tms_s": 50}, {"v_pct": 0, "tms_s": 21}]}}


async def _play_lvrt(sim: SimulatorHandle) -> list[tuple[int, str | None, float, float]]:
    """Play ``LVRT_III`` to a PV unit at full sun; (tick, grid_state, P, I) for 40 ticks."""
    rows: list[tuple[int, str | None, float, float]] = []
    async with sim.client() as api:
        await api.set_inputs(0, irradiance_w_m2=1000.0, ambient_temperature_c=25.0)
        await api.set_grid_support(0, trip=UV_OUT_OF_THE_WAY)
        await sim.wait_ticks(5)
        async with sim.telemetry(device=0) as stream:
            await stream.receive()
            await api.start_grid_event(voltage=LVRT_III)
            after = (await api.overview(0)).tick
            async for snap in stream:
                if snap.tick <= after:
                    continue
                assert snap.status.last_trip is None
                rows.append(
                    (
                        snap.tick - after,
                        snap.status.grid_state,
                        snap.metrics.power_kw,
                        snap.metrics.current_a,
                    )
                )
                if len(rows) == 40:
                    break
    return rows


@pytest.mark.dersim("-d", "PV-3Phase")
async def test_a_ride_through_profile_plays_deterministically_in_virtual_time(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        rows = await _play_lvrt(dersim)
        async with run_simulator("-d", "PV-3Phase") as again:
            rows_again = await _play_lvrt(again)
    assert rows == rows_again  # the same profile, the same answer, tick for tick
    s_rated_kva = dersim.engine.devices[0].model.rating.va_max_kva
    rated_a = s_rated_kva * 1000.0 / (3 * dersim.engine.devices[0].voltage_ln_nominal_v)
    states = [state for _, state, _, _ in rows]
    assert (
        states
        == ["continuous"] * 3
        + ["momentary_cessation"] * 6
        + ["mandatory"] * 7
        + ["continuous"] * 24
    )  # ticks at 1.5 s: t < 5, 5 <= t < 15, 15 <= t < 25, t >= 25
    half_a, half_kw = AMP.step / 2, KW.step / 2  # the stream's numbers are rounded
    for k, state, p, i in rows:
        assert i <= rated_a * (1 + 1e-9) + half_a
        if state == "momentary_cessation":
            assert p == 0.0
        if state == "mandatory":  # at 0.60 pu the rated current allows 0.60 of S
            assert p == pytest.approx(0.6 * s_rated_kva, abs=half_kw * (1 + 1e-9)), k
    assert rows[-1][2] > 0.9 * s_rated_kva  # back to full output after the disturbance
