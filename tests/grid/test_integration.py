"""Grid support inside the engine: every inverter-based device answers its grid.

The cases of the issue, tried as a new user would (a PV unit at 1000 W/m²): it trips within
0.5 s at 1.25 pu, 62.5 Hz and 56 Hz, curtails at 60.5 Hz, ceases to energize at 0.30 pu and
never pushes more than its rated current at low voltage.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

import pytest

from dersim_trio.engine.core import Engine
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import ConfigError, parse_args

START = datetime.fromisoformat("2026-06-21T12:00:00+00:00")


def engine(*flags: str) -> Engine:
    eng = build_engine(parse_args(["--start_clock_time", "12:00:00", *flags]), START)
    for slot in eng.devices:
        slot.inputs.irradiance_w_m2 = 1000.0
        slot.inputs.ambient_temperature_c = 25.0
    return eng


def run(eng: Engine, n: int):  # type: ignore[no-untyped-def]
    snaps = eng.initial()
    for _ in range(n):
        snaps = eng.step()
    return snaps[0]


@pytest.mark.parametrize(
    ("v", "f", "cause"), [(1.25, 60.0, "OV2"), (1.0, 62.5, "OF2"), (1.0, 56.0, "UF2")]
)
def test_a_pv_unit_trips_within_half_a_second(v: float, f: float, cause: str) -> None:
    eng = engine("-d", "PV-1Phase")
    before = run(eng, 3)
    assert before.metrics.power_kw > 0.5 * eng.devices[0].model.rating.w_max_kw
    t0 = eng.elapsed_s
    eng.devices[0].inputs.grid_voltage_pu = v
    eng.devices[0].inputs.grid_frequency_hz = f
    snap = run(eng, 1)
    assert snap.status.grid_state == "tripped"
    assert snap.status.last_trip is not None
    assert snap.status.last_trip.cause == cause
    assert snap.status.last_trip.time_s - t0 == pytest.approx(0.16, abs=0.02)
    assert snap.metrics.power_kw == 0.0
    assert snap.status.connection_state == "disconnected"
    assert snap.status.service_state == "out_of_service"


def test_a_pv_unit_curtails_by_frequency_droop_at_60_5_hz() -> None:
    eng = engine("-d", "PV-1Phase")
    before = run(eng, 3)
    p0 = before.metrics.power_kw
    w_max = eng.devices[0].model.rating.w_max_kw
    eng.devices[0].inputs.grid_frequency_hz = 60.5
    snap = run(eng, 30)
    expected = p0 - (60.5 - 60.036) / (60 * 0.05) * w_max
    assert snap.metrics.power_kw == pytest.approx(expected, abs=0.01 * w_max)
    assert "freq_droop" in snap.grid_support.functions  # type: ignore[union-attr]


def test_a_pv_unit_ceases_to_energize_at_0_3_pu_and_trips_after_2_s() -> None:
    eng = engine("-d", "PV-1Phase")
    run(eng, 3)
    eng.devices[0].inputs.grid_voltage_pu = 0.30
    snap = run(eng, 1)
    assert snap.status.grid_state == "momentary_cessation"
    assert snap.metrics.power_kw == 0.0
    assert snap.metrics.current_a == 0.0
    snap = run(eng, 1)
    assert snap.status.grid_state == "tripped"
    assert snap.status.last_trip is not None
    assert snap.status.last_trip.cause == "UV2"


@pytest.mark.parametrize("device", ["PV-1Phase", "PV-3Phase", "Batt-3Phase", "Fuelcell-3Phase"])
def test_output_current_never_exceeds_rated_current_at_low_voltage(device: str) -> None:
    eng = engine("-d", device)
    slot = eng.devices[0]
    if slot.model.asset_type in ("battery", "fuelcell"):
        slot.supervisor.controls.active_power_setpoint_kw = slot.model.rating.w_max_kw
    run(eng, 10)
    slot.inputs.grid_voltage_pu = 0.6  # category III mandatory operation
    snap = run(eng, 3)
    rated_a = run_rated_current(eng)
    assert snap.status.grid_state == "mandatory"
    assert snap.metrics.current_a <= rated_a * (1 + 1e-9)
    assert snap.metrics.apparent_power_kva <= 0.6 * slot.model.rating.va_max_kva + 1e-9


def run_rated_current(eng: Engine) -> float:
    """S_rated over the nominal voltage and the line count (physics/ac.py relations)."""
    slot = eng.devices[0]
    s_va = slot.model.rating.va_max_kva * 1000.0
    per_ln = {"single": 1.0, "split": 2.0, "three": 3.0}[slot.ac_type]
    return s_va / (per_ln * slot.voltage_ln_nominal_v)


def test_a_battery_raises_its_discharge_at_under_frequency() -> None:
    eng = engine("-d", "Batt-3Phase")
    slot = eng.devices[0]
    slot.supervisor.controls.active_power_setpoint_kw = 0.2 * slot.model.rating.w_max_kw
    run(eng, 5)
    slot.inputs.grid_frequency_hz = 59.5
    snap = run(eng, 20)
    w_max = slot.model.rating.w_max_kw
    assert snap.metrics.power_kw == pytest.approx(
        0.2 * w_max + (59.964 - 59.5) / 3.0 * w_max, abs=0.01 * w_max
    )


def test_volt_var_follows_the_grid_voltage_in_the_engine() -> None:
    eng = engine("-d", "PV-1Phase")
    slot = eng.devices[0]
    gs = slot.supervisor.grid
    assert gs is not None
    gs.settings = dataclasses.replace(
        gs.settings, volt_var=dataclasses.replace(gs.settings.volt_var, enabled=True)
    )
    run(eng, 3)
    slot.inputs.grid_voltage_pu = 1.05
    snap = run(eng, 20)
    rating = slot.model.rating
    assert snap.metrics.reactive_power_kvar == pytest.approx(
        -0.5 * min(rating.var_max_abs_kvar, 0.44 * rating.va_max_kva), rel=1e-3
    )
    assert snap.grid_support is not None
    assert snap.grid_support.functions[0] == "volt_var"


def test_an_unbalanced_sag_is_judged_on_the_lowest_phase() -> None:
    eng = engine("-d", "PV-3Phase")
    run(eng, 3)
    eng.devices[0].inputs.grid_voltage_phases_pu = (1.0, 1.0, 0.3)
    eng.devices[0].inputs.grid_voltage_pu = 2.3 / 3
    snap = run(eng, 1)
    assert snap.status.grid_state == "momentary_cessation"


def test_grid_category_flag_loads_the_category_defaults() -> None:
    eng = engine("-d", "PV-1Phase", "--grid_category", "A,I")
    gs = eng.devices[0].supervisor.grid
    assert gs is not None
    assert gs.settings.normal_category == "A"
    assert gs.settings.trip.lv.must_trip[0].tms_s == 2.0  # Table 11: UV1 2 s
    with pytest.raises(ConfigError, match="--grid_category"):
        parse_args(["--grid_category", "C,III"])


def test_nothing_is_nan_over_a_grid_sweep() -> None:
    eng = engine("-d", "HybridDC-3Phase", "-N", "2")
    for v in (1.0, 0.95, 1.07, 0.6, 1.0, 1.12, 1.0):
        for slot in eng.devices:
            slot.inputs.grid_voltage_pu = v
        snaps = eng.step()
        for s in snaps:
            assert math.isfinite(s.metrics.power_kw)
            assert math.isfinite(s.metrics.reactive_power_kvar)


def test_the_snapshot_shows_the_grid_the_device_sees() -> None:
    """Per-phase voltage at the terminals, the frequency's rate of change over the last tick,
    the reactive mode acting and what sets the active power ceiling."""
    eng = engine("-d", "PV-3Phase")
    slot = eng.devices[0]
    gs = slot.supervisor.grid
    assert gs is not None
    gs.settings = dataclasses.replace(
        gs.settings,
        volt_var=dataclasses.replace(gs.settings.volt_var, enabled=True),
        active_power_limit=dataclasses.replace(
            gs.settings.active_power_limit, enabled=True, w_max_lim_pct=40.0
        ),
    )
    first = run(eng, 0)
    assert first.grid_support is not None
    assert first.grid_support.rocof_hz_per_s == 0.0  # no last tick yet
    run(eng, 15)
    slot.inputs.grid_voltage_phases_pu = (1.0, 1.02, 0.99)
    slot.inputs.grid_voltage_pu = (1.0 + 1.02 + 0.99) / 3
    slot.inputs.grid_frequency_hz = 60.015  # inside the droop's dead band
    snap = eng.step()[0]
    block = snap.grid_support
    assert block is not None
    assert block.phase_voltage_pu == pytest.approx([1.0, 1.02, 0.99])
    assert block.v_pct == pytest.approx(100.0 * 3.01 / 3)
    assert block.rocof_hz_per_s == pytest.approx(0.015 / 1.5)
    assert block.reactive_mode == "volt_var"
    assert block.p_limit_by == "active_power_limit"
    assert block.p_limit_kw == pytest.approx(0.4 * slot.model.rating.w_max_kw)
    steady = eng.step()[0].grid_support
    assert steady is not None
    assert steady.rocof_hz_per_s == 0.0

    one = engine("-d", "PV-1Phase")
    one.devices[0].inputs.grid_voltage_pu = 1.03
    block = run(one, 2).grid_support
    assert block is not None
    assert block.phase_voltage_pu == pytest.approx([1.03])
    assert block.reactive_mode is None
    balanced = engine("-d", "PV-3Phase")
    balanced.devices[0].inputs.grid_voltage_pu = 0.98
    block = run(balanced, 2).grid_support
    assert block is not None
    assert block.phase_voltage_pu == pytest.approx([0.98, 0.98, 0.98])
