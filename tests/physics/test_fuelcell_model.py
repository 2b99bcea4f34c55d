"""Fuel cell model: Larminie–Dicks stack, hydrogen accounting, dispatch, ramp and dwell."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.base import DeviceModel, DeviceOutput, Dispatch, Environment
from dersim_trio.physics.fuelcell.cells import (
    FARADAY_C_PER_MOL,
    H2_MOLAR_MASS_G_PER_MOL,
    OPEM_STANDARD_CELL,
)
from dersim_trio.physics.fuelcell.model import (
    MESSAGE_FC_ONLY,
    MESSAGE_TANK_EMPTY,
    MESSAGE_TANK_FULL,
    FuelCellModel,
)
from dersim_trio.physics.fuelcell.stacks import (
    SUPPORTED_COMBINATIONS,
    FuelCellNameplate,
    fuelcell_nameplate,
)

ENV = Environment(sim_time=datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
PEM_FC_ONLY = fuelcell_nameplate("PEMFC", "fc_only", "tank")
PEM_REV = fuelcell_nameplate("PEMFC", "bidirectional", "tank")
SOFC_REV = fuelcell_nameplate("SOFC", "bidirectional", "tank")
SOFC_PIPE = fuelcell_nameplate("SOFC", "fc_only", "continuous")
ALL_NAMEPLATES = [fuelcell_nameplate(*combo) for combo in SUPPORTED_COMBINATIONS]
REVERSIBLE = [PEM_REV, SOFC_REV]


def run(
    model: FuelCellModel, setpoint_kw: float | None, seconds: float, dt_s: float = 1.5
) -> DeviceOutput:
    """Hold one setpoint for ``seconds`` and return the last output."""
    out = model.step(ENV, Dispatch(setpoint_kw), 0.0)
    steps = max(1, round(seconds / dt_s))
    for _ in range(steps):
        out = model.step(ENV, Dispatch(setpoint_kw), dt_s)
    return out


def assert_finite(out: DeviceOutput) -> None:
    for value in (
        out.ac_power_kw,
        out.reactive_power_kvar,
        out.dc_power_kw,
        out.dc_voltage_v,
        out.dc_current_a,
    ):
        assert math.isfinite(value)
    for item in out.asset.values():
        if isinstance(item, float):
            assert math.isfinite(item)


# --- polarisation curve -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current_a", "expected_v"),
    [(1.0, 0.86), (10.0, 0.72), (30.0, 0.61), (50.0, 0.54), (80.0, 0.45)],
)
def test_opem_standard_vector_gives_the_reference_cell_voltages(
    current_a: float, expected_v: float
) -> None:
    """OPEM's Larminie–Dicks standard vector (ECSIM/opem ``opem/Static/Larminie_Dicks.py``;
    physics reference B.4): 0.86/0.72/0.61/0.54/0.45 V at 1/10/30/50/80 A, T 328 K, B = RT/(2F)."""
    assert OPEM_STANDARD_CELL.cell_voltage_v(current_a) == pytest.approx(expected_v, abs=0.005)


def test_opem_23_cell_stack_peaks_near_0_85_kw_around_95_a() -> None:
    """Physics reference B.4: OPEM's 23-cell stack peaks near 0.85 kW around 95 A."""
    nameplate = replace(PEM_FC_ONLY, cell_count=23, fc_cell=OPEM_STANDARD_CELL, rated_power_kw=0.5)
    model = FuelCellModel(nameplate)
    assert model.peak_stack_power_kw == pytest.approx(0.85, abs=0.01)
    assert model.peak_current_a == pytest.approx(95.0, abs=3.0)


@pytest.mark.parametrize("nameplate", ALL_NAMEPLATES, ids=lambda n: n.name)
def test_cell_voltage_falls_monotonically_with_current(nameplate: FuelCellNameplate) -> None:
    """Every loss term grows with current, so V_cell(I) is strictly decreasing on [0, i_L − i_n)."""
    cell = nameplate.fc_cell
    top = cell.max_current_a
    voltages = [cell.cell_voltage_v(top * k / 400.0) for k in range(400)]
    assert all(b < a for a, b in itertools.pairwise(voltages))


@pytest.mark.parametrize("nameplate", REVERSIBLE, ids=lambda n: n.name)
def test_electrolysis_voltage_rises_monotonically_above_reversible(
    nameplate: FuelCellNameplate,
) -> None:
    """V_el = E_rev + A·asinh(I/2i_0) + R·I rises from E_rev with current."""
    el = nameplate.el_cell
    assert el is not None
    voltages = [el.cell_voltage_v(k * 2.0) for k in range(300)]
    assert voltages[0] == pytest.approx(el.reversible_voltage_v)
    assert all(b > a for a, b in itertools.pairwise(voltages))


@pytest.mark.parametrize("nameplate", ALL_NAMEPLATES, ids=lambda n: n.name)
def test_each_product_reaches_its_rating_at_0_6_to_0_7_v_per_cell(
    nameplate: FuelCellNameplate,
) -> None:
    """Physics reference B.4: operate at 0.6–0.7 V/cell at rated power, below peak current."""
    model = FuelCellModel(nameplate)
    out = run(model, nameplate.rated_power_kw, seconds=7200.0, dt_s=60.0)
    assert out.ac_power_kw == pytest.approx(nameplate.rated_power_kw)
    cell_v = out.asset["cell_voltage_v"]
    assert isinstance(cell_v, float)
    assert 0.6 <= cell_v <= 0.7
    assert out.dc_current_a < model.peak_current_a


def test_pemfc_5_kw_stack_voltage_is_in_the_48_to_100_v_class() -> None:
    """Ballard FCgen-LCS-class 5 kW stack: 80 cells, ≈52 V at rated, OCV ≈77 V (module doc)."""
    model = FuelCellModel(PEM_FC_ONLY)
    idle = model.step(ENV, Dispatch(None), 1.5)
    rated = run(model, 5.0, seconds=60.0)
    assert 48.0 <= rated.dc_voltage_v <= idle.dc_voltage_v <= 100.0


@settings(max_examples=200, deadline=None)
@given(
    nameplate=st.sampled_from(ALL_NAMEPLATES),
    fraction=st.floats(0.0, 1.0),
    guess_fraction=st.floats(0.0, 1.0),
)
def test_current_solver_inverts_stack_power_on_the_branch_below_peak(
    nameplate: FuelCellNameplate, fraction: float, guess_fraction: float
) -> None:
    """Newton/bisection returns I ≤ I_peak with N·V_cell(I)·I equal to the requested power."""
    model = FuelCellModel(nameplate)
    power_w = fraction * model.peak_stack_power_kw * 1000.0
    current = model.fc_current_for_power_a(power_w, guess_fraction * model.peak_current_a)
    assert 0.0 <= current <= model.peak_current_a
    achieved = nameplate.cell_count * nameplate.fc_cell.cell_voltage_v(current) * current
    assert achieved == pytest.approx(power_w, rel=1e-6, abs=1e-3)


# --- nameplates -----------------------------------------------------------------------------


def test_exactly_four_combinations_are_supported() -> None:
    """Documented behaviour §4.4: four (chemistry, mode, fuel) tuples."""
    assert set(SUPPORTED_COMBINATIONS) == {
        ("PEMFC", "fc_only", "tank"),
        ("PEMFC", "bidirectional", "tank"),
        ("SOFC", "bidirectional", "tank"),
        ("SOFC", "fc_only", "continuous"),
    }
    assert [n.rated_power_kw for n in ALL_NAMEPLATES] == [5.0, 5.0, 200.0, 200.0]


@pytest.mark.parametrize(
    "combo",
    [
        ("SOFC", "fc_only", "tank"),
        ("PEMFC", "fc_only", "continuous"),
        ("PEMFC", "bidirectional", "continuous"),
        ("SOFC", "bidirectional", "continuous"),
        ("AFC", "fc_only", "tank"),
    ],
)
def test_invalid_combination_error_lists_the_four_supported(combo: tuple[str, str, str]) -> None:
    """Documented behaviour §4.4: anything else fails with an error listing the four."""
    with pytest.raises(ValueError, match="unsupported fuel cell combination") as info:
        fuelcell_nameplate(*combo)
    text = str(info.value)
    for chemistry, mode, fuel in SUPPORTED_COMBINATIONS:
        assert (
            f"--fuelcell_chemistry {chemistry} --fuelcell_mode {mode} --fuelcell_fuel {fuel}"
            in text
        )


def test_model_satisfies_the_device_model_protocol() -> None:
    model: DeviceModel = FuelCellModel(PEM_FC_ONLY, seed=7)
    assert model.asset_type == "fuelcell"
    assert model.dc_mode == "fuelcell"
    assert model.dc_port_count == 1
    assert model.rating.w_max_kw == 5.0


def test_bidirectional_without_electrolysis_cell_is_rejected() -> None:
    with pytest.raises(ValueError, match="electrolysis cell"):
        FuelCellModel(replace(PEM_REV, el_cell=None))


# --- hydrogen accounting --------------------------------------------------------------------


def test_hydrogen_drain_equals_faraday_charge_within_0_1_pct() -> None:
    """Physics reference B.4: H₂ consumed = N·I/(2F) mol/s; ∫I·dt over a run vs tank drop."""
    model = FuelCellModel(PEM_FC_ONLY)
    start_kg = model.hydrogen_kg
    charge_c = 0.0
    setpoints = [5.0, 2.0, 4.0, 1.0, 3.5]
    for k in range(2000):
        dt = 1.5 if k % 3 else 7.0
        out = model.step(ENV, Dispatch(setpoints[(k // 150) % 5]), dt)
        charge_c += out.dc_current_a * dt
    drained_kg = start_kg - model.hydrogen_kg
    expected_kg = PEM_FC_ONLY.cell_count * charge_c / (2.0 * FARADAY_C_PER_MOL)
    expected_kg *= H2_MOLAR_MASS_G_PER_MOL / 1000.0
    assert drained_kg > 0.1
    assert drained_kg == pytest.approx(expected_kg, rel=1e-3)


def test_hydrogen_flow_reports_consumption_at_rated() -> None:
    """5 kW PEMFC at rated: 80·I/(2F)·2.016 g/mol ≈ 0.091 g/s (module docstring)."""
    out = run(FuelCellModel(PEM_FC_ONLY), 5.0, seconds=30.0)
    assert out.asset["hydrogen_flow_g_s"] == pytest.approx(0.0914, rel=0.01)


@pytest.mark.parametrize("nameplate", REVERSIBLE, ids=lambda n: n.name)
def test_electrolysis_refills_tank_with_faradaic_efficiency(nameplate: FuelCellNameplate) -> None:
    """H₂ produced = η_F·N·I/(2F); the tank level rises and the flow is negative."""
    model = FuelCellModel(nameplate)
    el = nameplate.el_cell
    assert el is not None
    start_kg = model.hydrogen_kg
    charge_c = 0.0
    out = model.step(ENV, Dispatch(-nameplate.rated_power_kw), 0.0)
    for _ in range(400):
        out = model.step(ENV, Dispatch(-nameplate.rated_power_kw), 3.0)
        charge_c += -out.dc_current_a * 3.0
    assert out.asset["mode"] == "electrolysis"
    flow = out.asset["hydrogen_flow_g_s"]
    assert isinstance(flow, float)
    assert flow < 0.0
    produced_kg = model.hydrogen_kg - start_kg
    expected_kg = (
        el.faradaic_efficiency
        * nameplate.cell_count
        * charge_c
        / (2.0 * FARADAY_C_PER_MOL)
        * H2_MOLAR_MASS_G_PER_MOL
        / 1000.0
    )
    assert produced_kg == pytest.approx(expected_kg, rel=1e-3)


def test_tank_empty_stops_output_with_standby_and_message() -> None:
    """Spec: tank empty → cannot produce; inverter state standby, "hydrogen tank empty"."""
    model = FuelCellModel(replace(PEM_FC_ONLY, initial_hydrogen_pct=0.2))  # 4 g: ≈ 45 s at 5 kW
    outputs = [model.step(ENV, Dispatch(5.0), 1.5) for _ in range(80)]
    assert max(o.ac_power_kw for o in outputs) == pytest.approx(5.0)
    last = outputs[-1]
    assert last.ac_power_kw == 0.0
    assert last.inverter_state == "standby"
    assert last.message == MESSAGE_TANK_EMPTY
    assert last.asset["mode"] == "idle"
    assert last.asset["hydrogen_pct"] == 0.0
    assert model.hydrogen_kg == 0.0


def test_tank_running_out_mid_step_reports_the_step_average() -> None:
    """A 600 s step that empties the tank after part of it delivers the fuel's share only."""
    model = FuelCellModel(replace(PEM_FC_ONLY, initial_hydrogen_pct=0.2))
    run(model, 5.0, seconds=12.0)
    before_kg = model.hydrogen_kg
    out = model.step(ENV, Dispatch(5.0), 600.0)
    assert out.message == MESSAGE_TANK_EMPTY
    assert out.inverter_state == "shutting_down"
    assert 0.0 < out.ac_power_kw < 5.0
    used_kg = out.dc_current_a * 600.0 * 80 / (2.0 * FARADAY_C_PER_MOL) * 2.01588 / 1000.0
    assert used_kg == pytest.approx(before_kg, rel=1e-9)


def test_tank_full_refuses_electrolysis() -> None:
    model = FuelCellModel(replace(PEM_REV, initial_hydrogen_pct=100.0))
    out = run(model, -5.0, seconds=30.0)
    assert out.ac_power_kw == 0.0
    assert out.inverter_state == "standby"
    assert out.message == MESSAGE_TANK_FULL


def test_continuous_fuel_has_no_tank_state() -> None:
    """Documented behaviour §4.4: SOFC pipeline unit has no tank: hydrogen_pct 100, kg None."""
    model = FuelCellModel(SOFC_PIPE)
    out = run(model, 200.0, seconds=1e5, dt_s=3600.0)
    assert out.ac_power_kw == pytest.approx(200.0)
    assert out.asset["fuel"] == "continuous"
    assert out.asset["hydrogen_pct"] == 100.0
    assert out.asset["hydrogen_kg"] is None
    assert out.message is None


# --- dispatch -------------------------------------------------------------------------------


@pytest.mark.parametrize("setpoint", [None, 0.0, 0.2, -0.2])
def test_no_setpoint_or_below_turndown_is_idle_standby(setpoint: float | None) -> None:
    """Below the 5 % PEM minimum turndown (0.25 kW) or without a setpoint: mode idle, standby."""
    out = run(FuelCellModel(PEM_REV), setpoint, seconds=30.0)
    assert out.ac_power_kw == 0.0
    assert out.asset["mode"] == "idle"
    assert out.inverter_state == "standby"
    assert out.dc_current_a == 0.0
    assert out.dc_voltage_v > 0.0  # open-circuit stack voltage


def test_fc_only_refuses_negative_setpoint_with_a_message() -> None:
    out = run(FuelCellModel(PEM_FC_ONLY), -3.0, seconds=30.0)
    assert out.ac_power_kw == 0.0
    assert out.asset["mode"] == "idle"
    assert out.message == MESSAGE_FC_ONLY


def test_positive_setpoint_runs_fc_mode_with_ac_dc_relation() -> None:
    """P_ac = η_inv·(1 − f_bop)·P_stack; P_stack = V_stack·I_stack; efficiency = V_cell/1.48."""
    out = run(FuelCellModel(PEM_FC_ONLY), 3.0, seconds=30.0)
    assert out.asset["mode"] == "fc"
    assert out.inverter_state == "running"
    assert out.ac_power_kw == pytest.approx(3.0)
    assert out.ac_power_kw == pytest.approx(0.96 * 0.92 * out.dc_power_kw)
    assert out.dc_power_kw == pytest.approx(out.dc_voltage_v * out.dc_current_a / 1000.0)
    assert out.asset["stack_voltage_v"] == out.dc_voltage_v
    assert out.asset["stack_current_a"] == out.dc_current_a
    cell_v = out.dc_voltage_v / 80
    assert out.asset["stack_efficiency_pct"] == pytest.approx(100.0 * cell_v / 1.48)


@pytest.mark.parametrize("nameplate", REVERSIBLE, ids=lambda n: n.name)
def test_negative_setpoint_electrolyses_with_negative_dc_current(
    nameplate: FuelCellNameplate,
) -> None:
    """EL mode: P_ac < 0, stack current and DC power < 0, P_stack = η_inv·(1 − f_bop)·|P_ac|."""
    rated = nameplate.rated_power_kw
    out = run(FuelCellModel(nameplate), -rated, seconds=7200.0, dt_s=60.0)
    assert out.asset["mode"] == "electrolysis"
    assert out.ac_power_kw == pytest.approx(-rated)
    assert out.dc_current_a < 0.0
    assert out.dc_power_kw < 0.0
    conv = nameplate.inverter_efficiency * (1.0 - nameplate.bop_fraction)
    assert -out.dc_power_kw == pytest.approx(conv * rated)
    efficiency = out.asset["stack_efficiency_pct"]
    assert isinstance(efficiency, float)
    assert 50.0 < efficiency <= 100.0


def test_active_power_limit_caps_fc_output_and_reports_throttled() -> None:
    model = FuelCellModel(PEM_FC_ONLY)
    model.step(ENV, Dispatch(5.0, active_power_limit_pct=60.0), 0.0)
    out = model.step(ENV, Dispatch(5.0, active_power_limit_pct=60.0), 60.0)
    assert out.ac_power_kw == pytest.approx(3.0)
    assert out.inverter_state == "throttled"


def test_leaving_idle_reports_starting_until_the_setpoint_is_reached() -> None:
    model = FuelCellModel(PEM_FC_ONLY)
    states = [model.step(ENV, Dispatch(4.0), 1.0).inverter_state for _ in range(10)]
    # 10 %/s of 5 kW = 0.5 kW/s: 4 kW takes 8 s.
    assert states[:7] == ["starting"] * 7
    assert states[7:] == ["running"] * 3
    down = model.step(ENV, Dispatch(None), 1.0)
    assert down.inverter_state == "shutting_down"
    assert down.ac_power_kw == pytest.approx(3.5)


@pytest.mark.parametrize(
    ("nameplate", "rate_kw_per_s"),
    [(PEM_REV, 0.5), (SOFC_REV, 200.0 * 0.01 / 60.0)],
    ids=["PEM 10 %/s", "SOFC 1 %/min"],
)
def test_ramp_limit_is_respected_up_and_down(
    nameplate: FuelCellNameplate, rate_kw_per_s: float
) -> None:
    """Assumed ramp defaults (physics reference B.4): PEM 10 %/s, SOFC 1 %/min of rating."""
    model = FuelCellModel(nameplate)
    rated = nameplate.rated_power_kw
    previous = 0.0
    largest_step = 0.0
    for setpoint in [rated, 0.3 * rated, rated, None]:
        for _ in range(50):
            out = model.step(ENV, Dispatch(setpoint), 1.5)
            largest_step = max(largest_step, abs(out.ac_power_kw - previous))
            previous = out.ac_power_kw
    assert largest_step == pytest.approx(rate_kw_per_s * 1.5)


@pytest.mark.parametrize(
    ("nameplate", "dwell_s"), [(PEM_REV, 30.0), (SOFC_REV, 300.0)], ids=["PEM", "SOFC"]
)
def test_reversal_ramps_to_zero_then_dwells_before_electrolysis(
    nameplate: FuelCellNameplate, dwell_s: float
) -> None:
    """Mode-change dwell (assumption): ramp to 0, wait 30 s PEM / 300 s SOFC, then reverse."""
    model = FuelCellModel(nameplate)
    rated = nameplate.rated_power_kw
    rate = nameplate.ramp_rate_pct_per_s / 100.0 * rated
    run(model, 0.5 * rated, seconds=0.5 * rated / rate + 10.0, dt_s=0.5)
    t = 0.0
    zero_reached_s = None
    first_negative_s = None
    while first_negative_s is None and t < 10.0 * (rated / rate + dwell_s):
        out = model.step(ENV, Dispatch(-0.5 * rated), 0.5)
        t += 0.5
        if zero_reached_s is None and out.ac_power_kw == 0.0:
            zero_reached_s = t
            assert out.inverter_state == "standby"
        if out.ac_power_kw < 0.0:
            first_negative_s = t
    assert zero_reached_s == pytest.approx(0.5 * rated / rate, abs=0.5)
    assert first_negative_s is not None
    assert zero_reached_s is not None
    assert first_negative_s - zero_reached_s == pytest.approx(dwell_s, abs=1.0)


def test_dwell_is_reported_in_the_message() -> None:
    model = FuelCellModel(PEM_REV)
    run(model, 1.0, seconds=10.0)
    out = run(model, -1.0, seconds=5.0, dt_s=1.0)  # 2 s to ramp down, then 3 s of dwell
    assert out.message == "mode change dwell: 27 s remaining"


def test_same_direction_restart_needs_no_dwell() -> None:
    model = FuelCellModel(PEM_REV)
    run(model, 2.0, seconds=10.0)
    run(model, None, seconds=10.0)
    out = model.step(ENV, Dispatch(2.0), 1.0)
    assert out.ac_power_kw == pytest.approx(0.5)


def test_one_large_step_covers_ramp_down_dwell_and_ramp_up() -> None:
    """dt = 600 s: 4 s down from 2 kW, 30 s dwell, 4 s up to −2 kW, all inside one step."""
    model = FuelCellModel(PEM_REV)
    run(model, 2.0, seconds=10.0)
    out = model.step(ENV, Dispatch(-2.0), 600.0)
    assert out.ac_power_kw == pytest.approx(-2.0)
    assert out.inverter_state == "running"


def test_large_600_s_steps_are_stable_over_a_day() -> None:
    model = FuelCellModel(SOFC_REV)
    pattern = [200.0, -200.0, 50.0, None, -120.0, 180.0]
    for k in range(144):
        out = model.step(ENV, Dispatch(pattern[(k // 12) % len(pattern)]), 600.0)
        assert_finite(out)
        assert -200.0 <= out.ac_power_kw <= 200.0
        hydrogen_pct = out.asset["hydrogen_pct"]
        assert isinstance(hydrogen_pct, float)
        assert 0.0 <= hydrogen_pct <= 100.0


def test_zero_and_non_finite_inputs_never_produce_nan() -> None:
    model = FuelCellModel(PEM_REV)
    for setpoint, limit, dt in [
        (math.nan, 100.0, 1.5),
        (math.inf, 100.0, 1.5),
        (-math.inf, 100.0, 1.5),
        (3.0, math.nan, 1.5),
        (3.0, -50.0, 1.5),
        (3.0, 100.0, math.nan),
        (3.0, 100.0, -5.0),
        (3.0, 100.0, 0.0),
    ]:
        assert_finite(model.step(ENV, Dispatch(setpoint, limit), dt))


# --- properties -----------------------------------------------------------------------------

setpoint_st = st.one_of(st.none(), st.floats(-300.0, 300.0, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(
    nameplate=st.sampled_from(ALL_NAMEPLATES),
    initial_pct=st.floats(0.0, 100.0),
    commands=st.lists(
        st.tuples(setpoint_st, st.floats(0.0, 100.0), st.floats(0.01, 3600.0)),
        min_size=1,
        max_size=40,
    ),
)
def test_random_dispatch_keeps_limits_ramp_and_tank_bounds(
    nameplate: FuelCellNameplate,
    initial_pct: float,
    commands: list[tuple[float | None, float, float]],
) -> None:
    """Random setpoints, limits and dt: finite, within rating, ramp-limited, tank in [0, 100] %,
    fc_only never absorbs, the stack stays below peak current, S = |P| (Q = 0)."""
    model = FuelCellModel(replace(nameplate, initial_hydrogen_pct=initial_pct))
    rated = nameplate.rated_power_kw
    rate = nameplate.ramp_rate_pct_per_s / 100.0 * rated
    previous = 0.0
    previous_kg = model.hydrogen_kg
    previous_message: str | None = None
    tank_messages = (MESSAGE_TANK_EMPTY, MESSAGE_TANK_FULL)
    for setpoint, limit, dt in commands:
        out = model.step(ENV, Dispatch(setpoint, limit), dt)
        assert_finite(out)
        assert -rated - 1e-9 <= out.ac_power_kw <= rated + 1e-9
        assert math.hypot(out.ac_power_kw, out.reactive_power_kvar) == pytest.approx(
            abs(out.ac_power_kw)
        )
        assert out.dc_current_a <= model.peak_current_a
        if nameplate.mode == "fc_only":
            assert out.ac_power_kw >= 0.0
            assert model.hydrogen_kg <= previous_kg
        if out.message not in tank_messages and previous_message not in tank_messages:
            assert abs(out.ac_power_kw - previous) <= rate * dt + 1e-6
        hydrogen_pct = out.asset["hydrogen_pct"]
        assert isinstance(hydrogen_pct, float)
        assert 0.0 <= hydrogen_pct <= 100.0
        assert (out.ac_power_kw == 0.0) == (out.asset["mode"] == "idle" or out.dc_current_a == 0.0)
        if out.asset["mode"] == "idle":
            assert out.inverter_state == "standby"
        previous = out.ac_power_kw
        previous_kg = model.hydrogen_kg
        previous_message = out.message
