"""The operator's setpoints against the grid functions, and per-phase grid voltage over REST.

Priority (README "IEEE 1547 grid support"; IEEE 1547.1-2020 §5.16 tests it with volt-watt and
frequency droop on at once): a trip or momentary cessation holds the output at 0; the
frequency droop replaces the operator's active power setpoint or limit while it acts, inside
the volt-watt limit; an enabled reactive mode replaces the operator's power factor or var
setpoint. ``GET``/``PUT .../controls`` report each override in ``clamped`` with what applies.

Numbers: frequency droop (IEEE 1547-2018 §6.5.2.7.2 defaults: dead band 0.036 Hz, droop 5 %)
P = P_pre + (59.964 − f)/(60·0.05) per unit; volt-watt (§5.4.2 defaults) 100 % at 1.06 V_nom
to 0 % at 1.10.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from dersim_trio.api.resolution import KVA, VOLT
from dersim_trio.client import ControlsState
from dersim_trio.testing import SimulatorHandle

GUARD_S = 300.0


def _clamp(state: ControlsState, field: str) -> tuple[float, float, str]:
    found = [c for c in state.clamped if c.field == field]
    assert found, state.clamped
    return found[0].requested, found[0].applied, found[0].reason


@pytest.mark.dersim("-d", "Batt")
async def test_volt_watt_bounds_the_operators_setpoint_and_the_answer_says_so(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            await api.set_grid_support(0, volt_watt={"enabled": True})
            await api.set_inputs(0, grid_voltage_pu=1.08)
            await dersim.wait_ticks(40)  # 60 s: six volt-watt response times of 10 s
            answer = await api.set_controls(0, active_power_setpoint_kw=10.0)
            await dersim.wait_ticks(2)
            snap = await api.overview(0)
            later = await api.controls(0)
    requested, applied, reason = _clamp(answer, "active_power_setpoint_kw")
    assert requested == 10.0
    assert applied == pytest.approx(5.0, rel=1e-3)  # halfway from 1.06 to 1.10
    assert reason.startswith("volt_watt")
    assert snap.metrics.power_kw == pytest.approx(5.0, rel=1e-3)
    assert _clamp(later, "active_power_setpoint_kw")[1] == pytest.approx(5.0, rel=1e-3)


@pytest.mark.dersim("-d", "Batt")
async def test_under_frequency_droop_overrides_the_setpoint_but_stays_under_volt_watt(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            await api.set_controls(0, active_power_setpoint_kw=2.0)
            await dersim.wait_ticks(5)
            await api.set_inputs(0, grid_frequency_hz=59.5)
            await dersim.wait_ticks(30)
            raised = await api.overview(0)
            state = await api.controls(0)
            await api.set_grid_support(0, volt_watt={"enabled": True})
            await api.set_inputs(0, grid_voltage_pu=1.09)
            await dersim.wait_ticks(40)
            capped = await api.overview(0)
    droop_kw = 10.0 * (0.2 + (59.964 - 59.5) / 3.0)
    assert raised.metrics.power_kw == pytest.approx(droop_kw, rel=1e-3)
    requested, applied, reason = _clamp(state, "active_power_setpoint_kw")
    assert (requested, reason.split(" ")[0]) == (2.0, "freq_droop")
    assert applied == pytest.approx(droop_kw, rel=1e-3)
    assert capped.metrics.power_kw == pytest.approx(10.0 * 0.25, rel=1e-3)  # volt-watt at 1.09


async def test_an_enabled_reactive_mode_replaces_the_operators_power_factor(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            await api.set_inputs(0, irradiance_w_m2=1000.0, grid_voltage_pu=1.0)
            await api.set_grid_support(0, volt_var={"enabled": True})
            answer = await api.set_controls(0, power_factor=0.9, excitation="over")
            await dersim.wait_ticks(10)
            snap = await api.overview(0)
    requested, applied, reason = _clamp(answer, "power_factor")
    assert requested == 0.9
    assert reason.startswith("volt_var")
    assert applied == pytest.approx(1.0)
    assert snap.metrics.reactive_power_kvar == pytest.approx(0.0, abs=1e-9)  # dead band at 1.0


async def test_a_tripped_unit_reports_its_limit_held_at_zero(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            await api.set_inputs(0, irradiance_w_m2=1000.0, grid_voltage_pu=1.25)
            await dersim.wait_ticks(2)
            state = await api.set_controls(0, active_power_limit_pct=80)
    requested, applied, reason = _clamp(state, "active_power_limit_pct")
    assert (requested, applied) == (80.0, 0.0)
    assert reason.startswith("tripped (OV2)")


@pytest.mark.dersim("-d", "PV-3Phase")
async def test_three_per_phase_voltages_drive_the_grid_functions_and_the_telemetry(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            await api.set_inputs(0, irradiance_w_m2=1000.0, ambient_temperature_c=25.0)
            state = await api.set_inputs(0, grid_voltage_pu=[1.0, 1.0, 0.6])
            await dersim.wait_ticks(2)
            snap = await api.overview(0)
            back = await api.set_inputs(0, grid_voltage_pu=0.98)
            await dersim.wait_ticks(2)
            after = await api.overview(0)
    nominal = dersim.engine.devices[0].voltage_ln_nominal_v
    assert state.grid_voltage_pu == [1.0, 1.0, 0.6]
    half_v = VOLT.step / 2 * (1 + 1e-9)  # the telemetry is rounded (api.resolution)
    assert snap.metrics.voltage_ln_v == pytest.approx(nominal * 2.6 / 3, abs=half_v)  # average
    assert snap.status.grid_state == "mandatory"  # the lowest phase, 0.60 pu (category III)
    s_rated = dersim.engine.devices[0].model.rating.va_max_kva
    # rated current × lowest phase
    assert snap.metrics.apparent_power_kva <= 0.6 * s_rated + KVA.step / 2 + 1e-9
    assert back.grid_voltage_pu == 0.98
    assert after.metrics.voltage_ln_v == pytest.approx(nominal * 0.98, abs=half_v)
    assert after.status.grid_state == "continuous"
