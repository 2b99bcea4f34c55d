"""Output restored after momentary cessation within the standard's restore time.

IEEE 1547-2018 §6.4.2.7 (restore output after voltage ride-through), with Table 16 (abnormal
performance category III, voltage ride-through): below 0.50 pu a category III DER shall cease to
energize (momentary cessation) without tripping, and when the applicable voltage returns into the
continuous operation range it shall restore its output, active current at least 80 % of its
pre-disturbance value, within a maximum restore time of 0.4 s (the standard's figure for
momentary cessation; the output may rise no slower than that for the unit's own ramp rate,
since §6.4.2.7 takes precedence over the normal ramp rate of §4.6.2).

The engine ticks every 0.1 s so that the 0.4 s is four ticks; the voltage falls to 0.30 pu for
1 s (UV2 trips after 2 s) and returns to 1.0 pu, where the active current is P / V, so P itself
is compared with 80 % of the P before the sag.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from dersim_trio.api.controls import ControlsUpdate
from dersim_trio.api.schema import Snapshot
from dersim_trio.engine.core import Engine
from dersim_trio.service.build import build_engine
from dersim_trio.service.operator import Controller
from dersim_trio.setup.config import parse_args

START = datetime.fromisoformat("2026-06-21T12:00:00+00:00")
TICK_S = 0.1
RESTORE_S = 0.4
"""IEEE 1547-2018 §6.4.2.7: maximum restore time after momentary cessation."""
SAG_S = 1.0


def build(device: str, setpoint_kw: float | None, ramp_pct_per_s: float | None) -> Engine:
    eng = build_engine(
        parse_args(
            ["--start_clock_time", "12:00:00", "--periodic_time", str(TICK_S), "-d", device]
        ),
        START,
    )
    for slot in eng.devices:
        slot.inputs.irradiance_w_m2 = 1000.0
        slot.inputs.ambient_temperature_c = 25.0
    controller = Controller(eng)
    update: dict[str, float] = {}
    if setpoint_kw is not None:
        update["active_power_setpoint_kw"] = setpoint_kw
    if ramp_pct_per_s is not None:
        update["ramp_rate_pct_per_s"] = ramp_pct_per_s
    if update:
        controller.update_controls(0, ControlsUpdate.model_validate(update))
    eng.initial()
    return eng


def ticks(eng: Engine, seconds: float) -> list[Snapshot]:
    return [eng.step()[0] for _ in range(round(seconds / TICK_S))]


@pytest.mark.parametrize(
    ("device", "setpoint_kw", "ramp_pct_per_s"),
    [
        ("PV-1Phase", None, None),
        ("PV-3Phase", None, 5.0),
        ("Batt-3Phase", 4.0, None),
        ("Batt-1Phase", 4.0, 5.0),
        ("Fuelcell-3Phase", 4.0, None),
    ],
)
def test_output_is_restored_within_0_4_s_after_momentary_cessation(
    device: str, setpoint_kw: float | None, ramp_pct_per_s: float | None
) -> None:
    eng = build(device, setpoint_kw, ramp_pct_per_s)
    before = ticks(eng, 20.0)[-1]
    p_before = before.metrics.power_kw
    assert abs(p_before) > 0.5, f"{device} delivers too little to see a restore"
    if setpoint_kw is not None:  # settled on its set point (the ramps are over)
        assert p_before == pytest.approx(setpoint_kw)
    grid = eng.devices[0].inputs
    grid.grid_voltage_pu = 0.30
    sag = ticks(eng, SAG_S)
    assert {s.status.grid_state for s in sag} == {"momentary_cessation"}
    assert {s.metrics.power_kw for s in sag} == {0.0}
    grid.grid_voltage_pu = 1.0
    after = ticks(eng, RESTORE_S + 1.0)
    assert after[-1].status.last_trip is None
    restored = after[round(RESTORE_S / TICK_S) - 1 :]  # from 0.4 s after the return on
    assert all(s.status.grid_state == "continuous" for s in restored)
    for s in restored:
        assert abs(s.metrics.power_kw) >= 0.8 * abs(p_before), (
            f"{device}: {s.metrics.power_kw:.3f} kW at {s.metrics.timestamp} < 80 % of "
            f"{p_before:.3f} kW"
        )
