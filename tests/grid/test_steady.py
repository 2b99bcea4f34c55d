"""The grid support's shortcuts change no result: the steady-state reuse of a settled tick's
bounds (``support``, "Steady state"), the trip monitor's quick look with a grid event's corners
(``trip.TripMonitor.advance``) and the cached snapshot block.

Each test runs the same scenario twice, once as the engine runs it and once with every
shortcut defeated (the settled state forgotten before each tick), and compares the snapshots.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

import pytest

from dersim_trio.api.schema import Snapshot
from dersim_trio.engine.core import Engine
from dersim_trio.grid.events import GridEvent, series
from dersim_trio.grid.trip import GridSample, TripMonitor, TripSettings
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import parse_args

START = datetime.fromisoformat("2026-06-21T12:00:00+00:00")


def engine(*flags: str, mode: str = "constant_q") -> Engine:
    eng = build_engine(parse_args(["--start_clock_time", "12:00:00", *flags]), START)
    for slot in eng.devices:
        slot.inputs.irradiance_w_m2 = 800.0
        slot.inputs.ambient_temperature_c = 25.0
        gs = slot.supervisor.grid
        assert gs is not None
        s = gs.settings
        gs.settings = dataclasses.replace(
            s,
            constant_q=dataclasses.replace(
                s.constant_q, enabled=mode == "constant_q", var_set_pct=30.0
            ),
            volt_var=dataclasses.replace(
                s.volt_var, enabled=mode == "volt_var", v_ref_auto_ena=True
            ),
            volt_watt=dataclasses.replace(s.volt_watt, enabled=True),
            active_power_limit=dataclasses.replace(
                s.active_power_limit, enabled=True, w_max_lim_pct=80.0
            ),
        )
    eng.initial()
    return eng


def run(eng: Engine, ticks: int, *, forget: bool) -> list[Snapshot]:
    out: list[Snapshot] = []
    for k in range(ticks):
        if k == 40:  # a change of grid, then steady again
            for slot in eng.devices:
                slot.inputs.grid_voltage_pu = 1.07
        if forget:
            for slot in eng.devices:
                gs = slot.supervisor.grid
                assert gs is not None
                gs._steady = None
                gs._tracking = None
                slot.grid_status = None
        out.extend(eng.step())
    return out


def _close(a: Snapshot, b: Snapshot) -> None:
    assert a.metrics.power_kw == pytest.approx(b.metrics.power_kw, abs=1e-7)
    assert a.metrics.reactive_power_kvar == pytest.approx(b.metrics.reactive_power_kvar, abs=1e-7)
    assert a.status == b.status
    assert a.grid_support is not None
    assert b.grid_support is not None
    assert a.grid_support.p_limit_kw == pytest.approx(b.grid_support.p_limit_kw, abs=1e-7)
    assert a.grid_support.v_ref_pct == pytest.approx(b.grid_support.v_ref_pct, abs=1e-9)


@pytest.mark.parametrize("device", ["PV-3Phase", "Batt-3Phase", "EVSE"])
@pytest.mark.parametrize("mode", ["constant_q", "volt_var"])
def test_reusing_a_settled_tick_changes_no_snapshot(device: str, mode: str) -> None:
    """With volt-var and the autonomous V_ref (τ 300 s) V_ref never settles in these 180 s:
    every tick after the first on an unchanged grid takes the V_ref-tracking shortcut."""
    fast = run(engine("-d", device, mode=mode), 120, forget=False)
    slow = run(engine("-d", device, mode=mode), 120, forget=True)
    for a, b in zip(fast, slow, strict=True):
        _close(a, b)
        assert a.grid_support.reactive_mode == b.grid_support.reactive_mode  # type: ignore[union-attr]
        assert a.grid_support.p_limit_by == b.grid_support.p_limit_by  # type: ignore[union-attr]
        assert a.grid_support.target_q_kvar == pytest.approx(  # type: ignore[union-attr]
            b.grid_support.target_q_kvar,  # type: ignore[union-attr]
            abs=1e-7,
        )


def test_the_v_ref_tracking_shortcut_is_taken() -> None:
    eng = engine("-d", "PV-3Phase", mode="volt_var")
    for slot in eng.devices:
        slot.inputs.grid_voltage_pu = 1.04
    eng.step()
    eng.step()
    gs = eng.devices[0].supervisor.grid
    assert gs is not None
    assert gs._tracking is not None
    assert gs._steady is None
    before = gs.v_ref_pct
    q_before = gs.q_target_kvar
    eng.step()
    assert gs._tracking is not None
    assert before < gs.v_ref_pct < 104.0  # V_ref follows the voltage up
    assert gs.q_target_kvar > q_before  # so the curve asks for less absorption


def test_v_ref_keeps_following_the_voltage_while_another_mode_is_steady() -> None:
    """V_ref is a first-order filter (τ = 300 s) of the voltage: 40 ticks of 1.5 s at 1.03 pu,
    then 61 at 1.07 pu (``run`` steps the grid at tick 40) give
    107 − (107 − (103 − 3·e^(−60/300)))·e^(−91.5/300) %, whether or not the steady ticks were
    computed in full."""
    engines = [engine("-d", "PV-3Phase"), engine("-d", "PV-3Phase")]
    for forget, eng in zip((False, True), engines, strict=True):
        eng.devices[0].inputs.grid_voltage_pu = 1.03
        run(eng, 100, forget=forget)
        gs = eng.devices[0].supervisor.grid
        assert gs is not None
        gs.settings = dataclasses.replace(
            gs.settings,
            constant_q=dataclasses.replace(gs.settings.constant_q, enabled=False),
            volt_var=dataclasses.replace(gs.settings.volt_var, enabled=True),
        )
    v_refs = [eng.step()[0].grid_support.v_ref_pct for eng in engines]  # type: ignore[union-attr]
    assert v_refs[0] == pytest.approx(v_refs[1], abs=1e-9)
    v40 = 103.0 - 3.0 * math.exp(-60.0 / 300.0)
    assert v_refs[0] == pytest.approx(107.0 - (107.0 - v40) * math.exp(-91.5 / 300.0), abs=1e-9)


def test_the_quick_look_sees_a_spike_between_two_tick_ends() -> None:
    """1.25 pu for 0.3 s in the middle of a 1.5 s tick is beyond OV2 (1.20 pu, 0.16 s)."""
    event = GridEvent(
        0.0, voltage=series([(0, 1.0), (0.5, 1.0), (0.5, 1.25), (0.8, 1.25), (0.8, 1.0)])
    )

    def grid_at(t: float) -> GridSample:
        v, _ = event.sample(t)
        assert v is not None
        return GridSample(min(v), max(v), 60.0)

    trip = TripMonitor().advance(TripSettings(), 0.0, 1.5, grid_at, event.corners(0.0, 1.5))
    assert trip is not None
    assert trip.cause == "OV2"
    assert trip.time_s == pytest.approx(0.5 + 0.16, abs=0.02)
    assert TripMonitor().advance(TripSettings(), 0.0, 1.5, grid_at) is None  # without corners
