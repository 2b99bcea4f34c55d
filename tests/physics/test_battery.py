"""Tests of the BESS model: SoC window, step-exact limits, energy bookkeeping, converter, pack."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.base import ArrayMember, DeviceOutput, Dispatch, Environment
from dersim_trio.physics.battery import (
    BatteryFleet,
    BatteryModel,
    BatteryNameplate,
    cell_ocv_v,
    converter_efficiency,
    converter_input_kw,
    converter_output_kw,
)

ENV = Environment(sim_time=datetime(2024, 6, 21, 12, 0, tzinfo=UTC))
IDLE = Dispatch()
NO_SELF_DISCHARGE = BatteryNameplate(self_discharge_pct_per_month=0.0)
K_SD_PER_H = 2.0 / 100.0 / 730.0  # default 2 %/month, SoC-proportional


def run(model: BatteryModel, dispatch: Dispatch, dt_s: float, steps: int) -> DeviceOutput:
    out = model.step(ENV, dispatch, dt_s)
    for _ in range(steps - 1):
        out = model.step(ENV, dispatch, dt_s)
    return out


def soc_of(out: DeviceOutput) -> float:
    assert out.storage is not None
    return out.storage.state_of_charge_pct


# --- defaults and reporting -------------------------------------------------------------------


def test_defaults_are_the_dersim_documented_10kw_15kwh_nmc_unit() -> None:
    """DERSim battery.html: 15 kWh, 50 % SoC, NMC, 10 kW; one string of high-voltage cells."""
    model = BatteryModel()
    plate = model.nameplate
    assert (plate.w_max_kw, plate.w_charge_max_kw, plate.energy_kwh) == (10.0, 10.0, 15.0)
    assert plate.initial_soc_pct == 50.0
    assert plate.chemistry == "NMC"
    assert (plate.series_cells, plate.strings_in_parallel) == (206, 1)
    assert (model.asset_type, model.dc_mode, model.dc_port_count) == ("battery", "battery", 1)
    assert model.rating.w_max_kw == 10.0
    assert model.rating.va_max_kva == 10.0


def test_idle_battery_is_in_standby_and_soc_moves_only_by_self_discharge() -> None:
    """No setpoint → 0 W, standby; OpenDER Eq. 3.6.1-4 with only the SoC-proportional term."""
    model = BatteryModel()
    out = run(model, IDLE, 1.5, 2400)  # one hour
    assert out.inverter_state == "standby"
    assert out.message is None
    assert (out.ac_power_kw, out.dc_power_kw, out.dc_current_a) == (0.0, 0.0, 0.0)
    assert out.dc_voltage_v == pytest.approx(out.asset["pack_ocv_v"])
    # (1 - k·Δt)^n ≈ exp(-k·t): 50 % loses 50·k·1 h ≈ 1.4e-3 points in an hour.
    assert soc_of(out) == pytest.approx(50.0 * math.exp(-K_SD_PER_H * 1.0), rel=1e-9)
    assert soc_of(out) < 50.0


def test_a_zero_setpoint_is_standby_too() -> None:
    out = BatteryModel().step(ENV, Dispatch(active_power_setpoint_kw=0.0), 1.5)
    assert out.inverter_state == "standby"
    assert out.ac_power_kw == 0.0


def test_storage_report_and_energy_available_follow_nameplate_and_soc() -> None:
    """713 WHAvail defined as WHRtg·SoH·(SoC − SoCRsvMin)/100: 15 kWh·(50 − 10) % = 6 kWh."""
    plate = replace(NO_SELF_DISCHARGE, state_of_health_pct=80.0)
    out = BatteryModel(plate).step(ENV, IDLE, 1.5)
    assert out.storage is not None
    assert out.storage.state_of_charge_pct == 50.0
    assert (out.storage.soc_reserve_min_pct, out.storage.soc_reserve_max_pct) == (10.0, 90.0)
    assert (out.storage.soc_min_pct, out.storage.soc_max_pct) == (5.0, 95.0)
    assert out.asset["energy_available_kwh"] == pytest.approx(15.0 * 0.8 * 0.40)
    assert out.asset["energy_to_full_kwh"] == pytest.approx(15.0 * 0.8 * 0.40)
    assert out.asset["chemistry"] == "NMC"
    assert out.asset["state_of_health_pct"] == 80.0


# --- following the request ----------------------------------------------------------------------


def test_full_discharge_request_is_followed_and_dc_side_covers_converter_losses() -> None:
    """PVWatts curve at 100 % load gives η = 96 % (physics reference B.1.6): P_dc = 10/0.96."""
    out = BatteryModel().step(ENV, Dispatch(active_power_setpoint_kw=10.0), 1.5)
    assert out.inverter_state == "running"
    assert out.ac_power_kw == 10.0
    assert out.dc_power_kw == pytest.approx(10.0 / 0.96, rel=1e-9)
    assert out.dc_current_a > 0.0
    assert out.reactive_power_kvar == 0.0


def test_charging_absorbs_from_grid_and_stores_less_on_the_dc_side() -> None:
    out = BatteryModel().step(ENV, Dispatch(active_power_setpoint_kw=-5.0), 1.5)
    assert out.ac_power_kw == -5.0
    assert -5.0 < out.dc_power_kw < -4.7
    assert out.dc_current_a < 0.0
    assert soc_of(out) > 50.0


def test_request_above_rating_is_capped_without_throttling() -> None:
    out = BatteryModel().step(ENV, Dispatch(active_power_setpoint_kw=-25.0), 1.5)
    assert out.ac_power_kw == -10.0
    assert out.inverter_state == "running"


def test_power_limit_pct_throttles_discharge_but_not_charge() -> None:
    """SunSpec 704 WMaxLimPct caps output (injection) only."""
    model = BatteryModel()
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=10.0, active_power_limit_pct=50.0), 1.5)
    assert out.ac_power_kw == pytest.approx(5.0)
    assert out.inverter_state == "throttled"
    assert out.message == "discharge limited by WMaxLimPct 50 %"
    out = model.step(
        ENV, Dispatch(active_power_setpoint_kw=-10.0, active_power_limit_pct=50.0), 1.5
    )
    assert out.ac_power_kw == -10.0
    assert out.inverter_state == "running"


def test_non_finite_inputs_are_treated_as_no_request_and_no_time() -> None:
    model = BatteryModel()
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=math.nan), 1.5)
    assert out.inverter_state == "standby"
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=10.0), math.inf)
    assert soc_of(out) == pytest.approx(50.0, abs=1e-6)
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=10.0), 0.0)
    assert out.ac_power_kw == 10.0
    assert soc_of(out) == pytest.approx(50.0, abs=1e-6)


# --- SoC window -------------------------------------------------------------------------------


@pytest.mark.parametrize("dt_s", [1.5, 900.0])
def test_soc_never_leaves_the_reserve_window_over_a_day_of_alternating_full_power(
    dt_s: float,
) -> None:
    """OpenDER Eq. 3.6.2-2/3: no step overshoots SocRsvMax/SoCRsvMin, at 1.5 s or 900 s steps.

    Three hours of full charge then three of full discharge, four times (a 15 kWh pack at
    10 kW reaches a limit within each half-cycle), without self-discharge so the bound is exact.
    """
    model = BatteryModel(NO_SELF_DISCHARGE)
    steps_per_half = round(3 * 3600 / dt_s)
    seen_max = seen_min = False
    for _cycle in range(4):
        for setpoint in (-10.0, 10.0):
            for _ in range(steps_per_half):
                out = model.step(ENV, Dispatch(active_power_setpoint_kw=setpoint), dt_s)
                soc = soc_of(out)
                assert 10.0 <= soc <= 90.0
                seen_max = seen_max or soc >= 90.0 - 1e-3
                seen_min = seen_min or soc <= 10.0 + 1e-3
            assert out.inverter_state == "throttled"
            assert out.ac_power_kw == 0.0
    assert seen_max
    assert seen_min
    if dt_s == 900.0:
        assert out.message == "discharge limited at SoC reserve min 10 %"


def test_with_self_discharge_only_the_idle_drift_crosses_the_reserve_min() -> None:
    """Self-discharge is physical: at the floor SoC drifts below by at most k_sd·SoC·t."""
    model = BatteryModel()
    out = run(model, Dispatch(active_power_setpoint_kw=10.0), 900.0, 96)  # a day
    assert 10.0 * (1.0 - K_SD_PER_H * 24.0) - 1e-12 <= soc_of(out) <= 10.0
    out = run(model, Dispatch(active_power_setpoint_kw=-10.0), 900.0, 96)
    assert soc_of(out) == 90.0


@pytest.mark.parametrize("chemistry", ["NMC", "LFP"])
def test_one_hour_step_lands_exactly_on_the_reserve_limit_and_stays(chemistry: str) -> None:
    """A 3600 s step from 50 % at full power would overshoot by far; it lands on 90.0/10.0."""
    plate = replace(BatteryNameplate(), chemistry=chemistry)
    model = BatteryModel(plate)
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=-10.0), 3600.0)
    assert soc_of(out) == 90.0
    assert out.inverter_state == "throttled"
    assert out.message == "charge limited at SoC reserve max 90 %"
    # The average AC power is exactly what the remaining headroom could take in an hour.
    assert -out.ac_power_kw * 0.95 == pytest.approx(15.0 * (40.0 + K_SD_PER_H * 50.0) / 100.0)
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=-10.0), 3600.0)
    assert soc_of(out) == 90.0
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=10.0), 3600.0)
    assert 10.0 < soc_of(out) < 90.0
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=10.0), 3600.0)
    assert soc_of(out) == 10.0
    assert out.message == "discharge limited at SoC reserve min 10 %"


def test_short_steps_reach_the_reserve_max_exactly_and_then_hold_it_without_dithering() -> None:
    """At 1.5 s steps the last step is a partial burst that lands on 90.0 %; parked there, a
    charge request only replaces self-discharge (OpenDER Eq. 3.6.2-2 includes that term)."""
    model = BatteryModel(replace(BatteryNameplate(), initial_soc_pct=85.0))
    charge = Dispatch(active_power_setpoint_kw=-10.0)
    for _ in range(5000):
        out = model.step(ENV, charge, 1.5)
        if soc_of(out) == 90.0:
            break
    assert soc_of(out) == 90.0
    for _ in range(100):
        out = model.step(ENV, charge, 1.5)
        assert soc_of(out) == 90.0
    assert -0.001 < out.ac_power_kw < 0.0
    assert out.inverter_state == "throttled"


def test_power_tapers_linearly_in_the_last_five_points_before_reserve_max() -> None:
    """Taper table: 100 % at 5 points from the limit, 10 % at the limit, linear between."""
    model = BatteryModel(replace(NO_SELF_DISCHARGE, initial_soc_pct=88.0))
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=-10.0), 0.01)
    assert out.ac_power_kw == pytest.approx(-10.0 * (0.1 + 0.9 * 2.0 / 5.0), rel=1e-6)
    assert out.inverter_state == "throttled"
    assert out.message == "charge tapered near SoC reserve max 90 %"
    discharge = model.step(ENV, Dispatch(active_power_setpoint_kw=10.0), 0.01)
    assert discharge.ac_power_kw == 10.0


def test_soc_outside_a_narrowed_reserve_refuses_only_the_wrong_direction() -> None:
    """Writing 802 SocRsvMax below the present SoC blocks charge but still allows discharge."""
    model = BatteryModel()
    model.set_soc_reserve(20.0, 40.0)
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=-5.0), 1.5)
    assert out.ac_power_kw == 0.0
    assert out.inverter_state == "throttled"
    assert out.message == "charge limited at SoC reserve max 40 %"
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=5.0), 1.5)
    assert out.ac_power_kw == 5.0


def test_reserve_must_lie_inside_the_nameplate_usable_range() -> None:
    with pytest.raises(ValueError, match="soc_reserve_min"):
        BatteryNameplate(soc_reserve_min_pct=2.0)
    with pytest.raises(ValueError, match="soc_reserve_min"):
        BatteryModel().set_soc_reserve(50.0, 96.0)
    with pytest.raises(ValueError, match="energy_kwh"):
        BatteryNameplate(energy_kwh=0.0)


# --- energy bookkeeping -------------------------------------------------------------------------


def cycle(
    model: BatteryModel, setpoint_kw: float, stop_soc_pct: float, dt_s: float
) -> tuple[float, float, float, float]:
    """Hold ``setpoint_kw`` until SoC reaches ``stop_soc_pct``: (AC in, AC out, DC in, DC out)
    in kWh over the half-cycle (AC from the step averages, DC from the model's counters)."""
    first = model.step(ENV, IDLE, 0.0).asset
    ac_in = ac_out = 0.0
    out = model.step(ENV, IDLE, 0.0)
    while abs(model.soc_pct - stop_soc_pct) > 1e-6:
        out = model.step(ENV, Dispatch(active_power_setpoint_kw=setpoint_kw), dt_s)
        if out.ac_power_kw < 0:
            ac_in -= out.ac_power_kw * dt_s / 3600.0
        else:
            ac_out += out.ac_power_kw * dt_s / 3600.0
    dc_in = float(out.asset["dc_energy_absorbed_kwh"]) - float(first["dc_energy_absorbed_kwh"])  # type: ignore[arg-type]
    dc_out = float(out.asset["dc_energy_injected_kwh"]) - float(first["dc_energy_injected_kwh"])  # type: ignore[arg-type]
    return ac_in, ac_out, dc_in, dc_out


@pytest.mark.parametrize(
    ("power_kw", "dt_s"), [(10.0, 1.5), (2.0, 1.5), (6.0, 60.0), (10.0, 900.0)]
)
def test_ac_energy_reconciles_with_soc_by_openders_equation(power_kw: float, dt_s: float) -> None:
    """OpenDER Eq. 3.6.1-4 (EPRI 3002025583 §3.6; opender ``bess_specifc/soc.py``), at the AC
    terminals: ΔSoC·E/100 = η_rt·E_ac,in − E_ac,out. Charge 10→90 % and discharge 90→10 % at full
    and part load, at 1.5 s to 900 s ticks: the metered AC energy reconciles with ΔSoC within
    1 % (it does exactly), and the AC round trip is the nameplate's 95 %."""
    model = BatteryModel(replace(NO_SELF_DISCHARGE, initial_soc_pct=10.0))
    stored_kwh = 80.0 * 15.0 / 100.0  # ΔSoC·E/100 over each half-cycle
    ac_in, _, _, _ = cycle(model, -power_kw, 90.0, dt_s)
    assert 0.95 * ac_in == pytest.approx(stored_kwh, rel=0.01)
    assert 0.95 * ac_in == pytest.approx(stored_kwh, rel=1e-9)
    _, ac_out, _, _ = cycle(model, power_kw, 10.0, dt_s)
    assert ac_out == pytest.approx(stored_kwh, rel=1e-9)
    assert ac_out / ac_in == pytest.approx(0.95, rel=1e-9)


def test_a_20_kwh_unit_moves_soc_as_opender_does_per_1_5_s_step() -> None:
    """OpenDER DER_BESS, 20 kWh, ±5 kW, t_s = 1.5 s: SoC moves ∓1.04e-4 pu per step (discharge
    5·1.5/3600/20 = 1.0417e-4; charging η_rt·that)."""
    plate = replace(NO_SELF_DISCHARGE, energy_kwh=20.0)
    model = BatteryModel(plate)
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=5.0), 1.5)
    assert (50.0 - soc_of(out)) / 100.0 == pytest.approx(1.0417e-4, rel=1e-4)
    before = soc_of(out)
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=-5.0), 1.5)
    assert (soc_of(out) - before) / 100.0 == pytest.approx(0.95 * 1.0417e-4, rel=1e-4)


def test_converter_losses_stay_visible_on_the_dc_side() -> None:
    """The DC port carries the converter's loss (PVWatts curve, physics reference B.1.6): a full
    cycle puts more DC energy out than AC energy and takes less DC energy in than AC energy."""
    model = BatteryModel(replace(NO_SELF_DISCHARGE, initial_soc_pct=10.0))
    ac_in, _, dc_in, _ = cycle(model, -10.0, 90.0, 1.5)
    _, ac_out, _, dc_out = cycle(model, 10.0, 10.0, 1.5)
    assert 0.95 * ac_in < dc_in < 0.962 * ac_in  # η 95-96.2 % between 20 and 100 % load
    assert ac_out / 0.962 < dc_out < ac_out / 0.95
    out = BatteryModel().step(ENV, Dispatch(active_power_setpoint_kw=10.0), 1.5)
    assert out.dc_power_kw == pytest.approx(converter_input_kw(10.0, 10.0 / 0.96), rel=1e-12)
    assert out.asset["converter_efficiency_pct"] == pytest.approx(96.0, rel=1e-9)


def test_energy_counters_are_monotonic() -> None:
    model = BatteryModel()
    last = (0.0, 0.0)
    for setpoint in (5.0, -5.0, None, 10.0, -10.0):
        out = model.step(ENV, Dispatch(active_power_setpoint_kw=setpoint), 60.0)
        now = (out.asset["dc_energy_injected_kwh"], out.asset["dc_energy_absorbed_kwh"])
        assert now[0] >= last[0]  # type: ignore[operator]
        assert now[1] >= last[1]  # type: ignore[operator]
        last = now  # type: ignore[assignment]


# --- converter ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("load", "efficiency_pct"), [(0.05, 86.4), (0.10, 92.2), (0.20, 94.9), (0.5, 96.2), (1.0, 96.0)]
)
def test_converter_efficiency_reproduces_the_pvwatts_curve(
    load: float, efficiency_pct: float
) -> None:
    """pvlib.inverter.pvwatts values computed in the physics reference B.1.6."""
    assert 100.0 * converter_efficiency(load) == pytest.approx(efficiency_pct, abs=0.05)


def test_converter_input_inverts_output_and_no_load_means_no_power() -> None:
    p0 = 10.0 / 0.96
    for out_kw in (0.01, 0.5, 3.0, 10.0):
        assert converter_output_kw(converter_input_kw(out_kw, p0), p0) == pytest.approx(out_kw)
    assert converter_input_kw(0.0, p0) == 0.0
    assert converter_output_kw(0.0, p0) == 0.0
    assert converter_output_kw(0.01, p0) == 0.0  # below the no-load loss nothing comes out
    assert converter_output_kw(1e6, p0) > 0.0  # held flat past the fit's vertex, never negative


# --- pack voltage -------------------------------------------------------------------------------


def test_lfp_ocv_is_flat_on_its_plateau_while_nmc_slopes() -> None:
    """NMC 3.0→4.2 V; LFP 3.27-3.32 V over 20-80 %, ends 2.5/3.65 V (ansh-bohrey OCV page)."""
    lfp = [cell_ocv_v("LFP", soc) for soc in range(20, 81)]
    nmc = [cell_ocv_v("NMC", soc) for soc in range(20, 81)]
    assert min(lfp) >= 3.27
    assert max(lfp) <= 3.32
    assert max(nmc) - min(nmc) > 6 * (max(lfp) - min(lfp))
    assert (cell_ocv_v("NMC", 0.0), cell_ocv_v("NMC", 100.0)) == (3.0, 4.2)
    assert (cell_ocv_v("LFP", 0.0), cell_ocv_v("LFP", 100.0)) == (2.5, 3.65)
    assert cell_ocv_v("NMC", -5.0) == 3.0
    assert all(b >= a for a, b in itertools.pairwise(nmc))


def test_pack_voltage_is_cells_in_series_times_ocv() -> None:
    out = BatteryModel(NO_SELF_DISCHARGE).step(ENV, IDLE, 1.5)
    assert out.dc_voltage_v == pytest.approx(206 * 3.70)
    assert out.asset["cell_voltage_v"] == pytest.approx(3.70)


@pytest.mark.parametrize(
    ("ac_type", "ac_voltage_v", "chemistry", "cells", "link_min_v"),
    [
        ("three", None, "NMC", 206, 678.8),  # 480 V: √2·480
        ("three", None, "LFP", 227, 678.8),
        ("three", 400.0, "NMC", 172, 565.7),  # IEC 400 V
        ("split", None, "NMC", 103, 339.4),  # 120/240 V: √2·240
        ("single", None, "NMC", 99, 325.3),  # 230 V: √2·230
    ],
)
def test_the_pack_is_a_high_voltage_pack_its_inverter_can_work_from(
    ac_type: str, ac_voltage_v: float | None, chemistry: str, cells: int, link_min_v: float
) -> None:
    """A two-level bridge needs a DC link above the AC peak (√2·V_LL three-phase, √2·V split or
    single-phase; physics reference B.6 voltages): the open-circuit pack voltage at the usable
    minimum SoC (5 %) reaches it, and at 100 % stays below the 1000 V DC limit of low-voltage
    equipment (IEC 60038 / the LVD's 1500 V DC ceiling, with margin)."""
    plate = replace(
        BatteryNameplate(), ac_type=ac_type, ac_voltage_v=ac_voltage_v, chemistry=chemistry
    )
    assert plate.dc_link_min_v == pytest.approx(link_min_v, abs=0.1)
    assert plate.series_cells == cells
    assert cells * cell_ocv_v(plate.chemistry, plate.soc_min_pct) >= link_min_v
    assert (cells - 1) * cell_ocv_v(plate.chemistry, plate.soc_min_pct) < link_min_v
    assert cells * cell_ocv_v(plate.chemistry, 100.0) < 1000.0


def test_dc_voltage_sags_under_discharge_current_and_rises_under_charge() -> None:
    """V_dc = N_s·OCV − I·R_pack, I from V·I = P_dc; R_pack = N_s·2 mΩ·30 Ah/C_cell with
    C_cell = 15 kWh/(206·3.70 V) = 19.7 Ah (battery.py)."""
    r_pack = 206 * 0.002 * 30.0 / (15000.0 / (206 * 3.70))
    assert BatteryNameplate().pack_resistance == pytest.approx(r_pack)
    for setpoint in (10.0, -10.0):
        out = BatteryModel().step(ENV, Dispatch(active_power_setpoint_kw=setpoint), 1.5)
        ocv = float(out.asset["pack_ocv_v"])  # type: ignore[arg-type]
        assert out.dc_voltage_v == pytest.approx(ocv - out.dc_current_a * r_pack)
        assert out.dc_voltage_v * out.dc_current_a == pytest.approx(out.dc_power_kw * 1000.0)
        if setpoint > 0:
            assert out.dc_voltage_v < ocv - 2.0
        else:
            assert out.dc_voltage_v > ocv + 2.0


def test_cell_spread_is_seeded_and_brackets_the_average() -> None:
    a = BatteryModel(seed=7).step(ENV, IDLE, 1.5).asset
    b = BatteryModel(seed=7).step(ENV, IDLE, 1.5).asset
    c = BatteryModel(seed=8).step(ENV, IDLE, 1.5).asset
    assert a == b
    assert a["cell_voltage_min_v"] != c["cell_voltage_min_v"]
    assert a["cell_voltage_min_v"] < a["cell_voltage_v"] < a["cell_voltage_max_v"]  # type: ignore[operator]


# --- the fleet: devices as rows of arrays --------------------------------------------------------

FLEET_PLATES = [
    BatteryNameplate(),
    BatteryNameplate(chemistry="LFP", initial_soc_pct=10.2, energy_kwh=40.0, w_max_kw=20.0),
    BatteryNameplate(ac_type="single", w_charge_max_kw=3.0, va_max_kva=5.0, w_max_kw=5.0),
    BatteryNameplate(initial_soc_pct=89.9, state_of_health_pct=80.0, taper_floor_pct=0.0),
    BatteryNameplate(initial_soc_pct=90.0, self_discharge_pct_per_month=0.0),
    BatteryNameplate(cells_in_series=300, strings_in_parallel=2, pack_resistance_ohm=0.5),
]
FLEET_SEEDS = [11, 12, 13, 14, 15, 16]


def fleet_dispatch(step: int, row: int) -> Dispatch:
    """A different request for every row and step: both signs, none, and WMaxLimPct cuts."""
    setpoints = (30.0, -30.0, None, 4.0, -2.5, 0.0, 12.0, float("nan"))
    return Dispatch(setpoints[(step + 3 * row) % 8], (100.0, 35.0, 0.0)[(step + row) % 3])


def test_a_fleet_steps_its_rows_exactly_as_lone_devices_step() -> None:
    """One implementation: ``step_rows`` over a fleet of six different units gives the same
    outputs as six fleets of one stepped one at a time, through every state and message."""
    fleet = BatteryFleet(FLEET_PLATES, FLEET_SEEDS)
    alone = [BatteryModel(p, s) for p, s in zip(FLEET_PLATES, FLEET_SEEDS, strict=True)]
    rows = list(range(len(alone)))
    states: set[tuple[str, str]] = set()
    for step, dt_s in enumerate([1.5, 600.0, 3600.0, 0.0, 1.5, 3600.0, 600.0, 3600.0] * 2):
        dispatches = [fleet_dispatch(step, row) for row in rows]
        stepped = fleet.step_rows(rows, [ENV] * len(rows), dispatches, dt_s)
        expected = [m.step(ENV, d, dt_s) for m, d in zip(alone, dispatches, strict=True)]
        assert stepped == expected
        states |= {
            (out.inverter_state, " ".join((out.message or "").split()[:3])) for out in stepped
        }
    assert {message for state, message in states if state == "throttled"} == {
        "discharge limited at",
        "discharge tapered near",
        "discharge limited by",
        "charge limited at",
        "charge tapered near",
    }
    assert {"standby", "running"} <= {state for state, _ in states}


def test_a_subset_of_rows_steps_in_any_order_and_the_others_stay_put() -> None:
    fleet = BatteryFleet(FLEET_PLATES, FLEET_SEEDS)
    alone = [BatteryModel(p, s) for p, s in zip(FLEET_PLATES, FLEET_SEEDS, strict=True)]
    rows = [4, 0, 3]
    dispatches = [Dispatch(-8.0), Dispatch(6.0), Dispatch(None)]
    stepped = fleet.step_rows(rows, [ENV] * 3, dispatches, 600.0)
    assert stepped == [alone[r].step(ENV, d, 600.0) for r, d in zip(rows, dispatches, strict=True)]
    members = fleet.members()
    for row in (1, 2, 5):
        assert members[row].soc_pct == FLEET_PLATES[row].initial_soc_pct
        assert members[row].step(ENV, IDLE, 1.5) == alone[row].step(ENV, IDLE, 1.5)


def test_members_are_row_views_and_a_lone_model_is_a_fleet_of_one() -> None:
    fleet = BatteryFleet(FLEET_PLATES, FLEET_SEEDS)
    members = fleet.members()
    assert members is fleet.members()
    assert [m.row for m in members] == list(range(6))
    assert all(isinstance(m, ArrayMember) and m.fleet is fleet for m in members)
    assert members[2].nameplate is FLEET_PLATES[2]
    assert members[2].rating.w_charge_max_kw == 3.0
    lone = BatteryModel()
    assert (lone.row, len(lone.fleet), lone.fleet.members()) == (0, 1, [lone])
    members[3].set_soc_reserve(20.0, 60.0)
    assert (members[3].soc_reserve_min_pct, members[3].soc_reserve_max_pct) == (20.0, 60.0)
    assert fleet.members()[4].soc_reserve_max_pct == 90.0


def test_advance_and_power_limits_of_rows_match_the_lone_devices() -> None:
    fleet = BatteryFleet(FLEET_PLATES, FLEET_SEEDS)
    alone = [BatteryModel(p, s) for p, s in zip(FLEET_PLATES, FLEET_SEEDS, strict=True)]
    rows = [5, 1, 2, 0]
    limits = fleet.power_limits_rows(rows, 600.0).tolist()
    assert limits == [list(alone[r].power_limits_kw(600.0)) for r in rows]
    requests = [25.0, -25.0, 1.0, -0.5]
    stepped = fleet.advance_rows(rows, requests, 600.0, [50.0, 100.0, 0.0, 100.0])
    expected = [
        alone[r].advance(q, 600.0, lim)
        for r, q, lim in zip(rows, requests, [50.0, 100.0, 0.0, 100.0], strict=True)
    ]
    assert stepped == expected


def test_a_fleet_refuses_rows_it_does_not_have_and_mismatched_inputs() -> None:
    fleet = BatteryFleet(FLEET_PLATES[:2], FLEET_SEEDS[:2])
    with pytest.raises(IndexError, match="outside a fleet of 2"):
        fleet.step_rows([2], [ENV], [IDLE], 1.5)
    with pytest.raises(IndexError, match="outside a fleet of 2"):
        fleet.step_rows([0, -1], [ENV] * 2, [IDLE] * 2, 1.5)
    with pytest.raises(ValueError, match="one environment and one dispatch per row"):
        fleet.step_rows([0, 1], [ENV], [IDLE, IDLE], 1.5)
    with pytest.raises(ValueError, match="one seed per nameplate"):
        BatteryFleet(FLEET_PLATES, FLEET_SEEDS[:1])
    assert fleet.step_rows([], [], [], 1.5) == []


# --- properties ---------------------------------------------------------------------------------

_steps = st.lists(
    st.tuples(
        st.one_of(st.none(), st.floats(-30.0, 30.0)),
        st.floats(0.01, 3600.0),
        st.floats(0.0, 100.0),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    steps=_steps,
    seed=st.integers(0, 2**32 - 1),
    chemistry=st.sampled_from(["NMC", "LFP"]),
    initial_soc=st.floats(10.0, 90.0),
    soh=st.floats(50.0, 100.0),
)
def test_random_dispatch_keeps_every_output_physical_and_inside_the_window(
    steps: list[tuple[float | None, float, float]],
    seed: int,
    chemistry: str,
    initial_soc: float,
    soh: float,
) -> None:
    """Finite outputs, ratings respected, SoC inside the reserve (up to idle self-discharge)."""
    plate = replace(
        BatteryNameplate(),
        chemistry=chemistry,
        initial_soc_pct=initial_soc,
        state_of_health_pct=soh,
    )
    model = BatteryModel(plate, seed=seed)
    hours = 0.0
    last_in = last_out = 0.0
    for setpoint, dt_s, limit_pct in steps:
        hours += dt_s / 3600.0
        out = model.step(
            ENV, Dispatch(active_power_setpoint_kw=setpoint, active_power_limit_pct=limit_pct), dt_s
        )
        numbers = [out.ac_power_kw, out.dc_power_kw, out.dc_voltage_v, out.dc_current_a]
        numbers += [v for v in out.asset.values() if isinstance(v, float)]
        assert all(math.isfinite(x) for x in numbers)
        soc = soc_of(out)
        assert 10.0 * (1.0 - K_SD_PER_H * hours) - 1e-9 <= soc <= 90.0 + 1e-9
        assert -10.0 - 1e-9 <= out.ac_power_kw <= 10.0 * limit_pct / 100.0 + 1e-9
        assert out.reactive_power_kvar == 0.0
        if out.ac_power_kw > 0.0:
            assert out.dc_power_kw > out.ac_power_kw
            assert out.dc_voltage_v < out.asset["pack_ocv_v"]  # type: ignore[operator]
        elif out.ac_power_kw < 0.0:
            assert out.ac_power_kw <= out.dc_power_kw <= 0.0
        else:
            assert out.dc_power_kw == 0.0
        if out.dc_current_a != 0.0:
            assert out.dc_voltage_v * out.dc_current_a == pytest.approx(out.dc_power_kw * 1000.0)
        assert out.dc_voltage_v > 0.0
        assert (out.inverter_state == "standby") == (out.ac_power_kw == 0.0 and out.message is None)
        assert float(out.asset["energy_available_kwh"]) >= 0.0  # type: ignore[arg-type]
        dc_in = float(out.asset["dc_energy_absorbed_kwh"])  # type: ignore[arg-type]
        dc_out = float(out.asset["dc_energy_injected_kwh"])  # type: ignore[arg-type]
        assert dc_in >= last_in
        assert dc_out >= last_out
        last_in, last_out = dc_in, dc_out


@settings(max_examples=100, deadline=None)
@given(start=st.floats(10.0, 90.0), setpoint=st.floats(-10.0, 10.0), dt_s=st.floats(0.01, 3600.0))
def test_soc_bookkeeping_holds_for_any_single_step(
    start: float, setpoint: float, dt_s: float
) -> None:
    """OpenDER Eq. 3.6.1-4 without self-discharge: ΔSoC·E/100 = (η_rt·P_ch,ac − P_dis,ac)·Δt_h."""
    model = BatteryModel(replace(NO_SELF_DISCHARGE, initial_soc_pct=start))
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=setpoint), dt_s)
    ac = out.ac_power_kw
    expected = (0.95 * -ac if ac < 0 else -ac) * dt_s / 3600.0
    assert (soc_of(out) - start) * 15.0 / 100.0 == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_a_battery_run_is_one_fleet_whose_rows_are_the_seeded_devices() -> None:
    """``-d Batt-3Phase -N 3``: one ``BatteryFleet``, device i its row i with seed ``seed + i``."""
    from dersim_trio.service.build import build_engine
    from dersim_trio.setup.config import parse_args

    args = ["-d", "Batt-3Phase", "-N", "3", "--seed", "40"]
    engine = build_engine(parse_args(args), datetime(2026, 6, 21, 12, 0, tzinfo=UTC))
    models = [slot.model for slot in engine.devices if isinstance(slot.model, BatteryModel)]
    assert len(models) == 3
    assert [m.fleet for m in models] == [models[0].fleet] * 3
    assert [m.row for m in models] == [0, 1, 2]
    for i, model in enumerate(models):
        lone = BatteryModel(model.nameplate, 40 + i)
        assert model.step(ENV, IDLE, 1.5) == lone.step(ENV, IDLE, 1.5)
