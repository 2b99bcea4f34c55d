"""The phases of a fuel-cell step and the cell-curve solver, as pure functions."""

from __future__ import annotations

import pytest

from dersim_trio.physics.fuelcell.cells import (
    OPEM_STANDARD_CELL,
    fuel_cell_curve,
    peak_power_current_a,
    solve_current_a,
)
from dersim_trio.physics.fuelcell.model import (
    MESSAGE_FC_ONLY,
    MESSAGE_TANK_FULL,
    RampState,
    advance_command,
    fuelcell_target,
    operating_state,
    tank_draw,
    tank_fill,
    tank_gate,
)

# --- cells ------------------------------------------------------------------------------------


def test_the_curve_closure_matches_the_cell_and_its_slope() -> None:
    """V and dV/dI of the Larminie–Dicks closure agree with the cell and a finite difference."""
    curve = fuel_cell_curve(OPEM_STANDARD_CELL)
    for current in (1.0, 10.0, 30.0, 50.0, 80.0):
        v, dv = curve(current)
        assert v == pytest.approx(OPEM_STANDARD_CELL.cell_voltage_v(current), abs=1e-12)
        h = 1e-6
        numeric = (curve(current + h)[0] - curve(current - h)[0]) / (2 * h)
        assert dv == pytest.approx(numeric, rel=1e-5)


def test_opem_23_cells_peak_near_0_85_kw_at_about_95_a() -> None:
    """Physics reference B.4 (OPEM standard vector, 23 cells): peak ≈ 0.85 kW around 95 A."""
    curve = fuel_cell_curve(OPEM_STANDARD_CELL)
    i_peak = peak_power_current_a(curve, 23.0, (100.0 - 0.23) * (1 - 1e-9))
    assert i_peak == pytest.approx(95.0, abs=3.0)
    assert 23.0 * curve(i_peak)[0] * i_peak == pytest.approx(850.0, abs=10.0)


def test_the_solver_inverts_stack_power_from_any_guess() -> None:
    curve = fuel_cell_curve(OPEM_STANDARD_CELL)
    i_peak = peak_power_current_a(curve, 23.0, (100.0 - 0.23) * (1 - 1e-9))
    for guess in (0.0, 40.0, i_peak):
        current = solve_current_a(curve, 23.0, 500.0, i_peak, guess, 1e-6)
        assert 23.0 * curve(current)[0] * current == pytest.approx(500.0, abs=1e-5)


# --- phase 1 ----------------------------------------------------------------------------------


def test_the_target_respects_rating_limit_and_turndown() -> None:
    assert fuelcell_target(None, 100.0, 5.0, 0.25, False) == (0.0, False, None)
    assert fuelcell_target(8.0, 100.0, 5.0, 0.25, False) == (5.0, False, None)
    assert fuelcell_target(4.0, 50.0, 5.0, 0.25, False) == (2.5, True, None)
    assert fuelcell_target(0.2, 100.0, 5.0, 0.25, False) == (0.0, False, None)  # below 5 %
    assert fuelcell_target(-3.0, 100.0, 5.0, 0.25, False) == (0.0, False, MESSAGE_FC_ONLY)
    assert fuelcell_target(-9.0, 100.0, 5.0, 0.25, True) == (-5.0, False, None)


# --- phase 2 ----------------------------------------------------------------------------------


def test_an_empty_tank_stops_the_fuel_cell_and_a_full_one_the_electrolyser() -> None:
    assert tank_gate(3.0, 2.0, 0.0, 2.0) == (0.0, True, None)
    assert tank_gate(3.0, 0.0, 0.0, 2.0) == (0.0, False, None)
    assert tank_gate(-3.0, -1.0, 2.0, 2.0) == (0.0, True, MESSAGE_TANK_FULL)
    assert tank_gate(-3.0, 0.0, 1.0, 2.0) == (-3.0, False, None)


# --- phase 3 ----------------------------------------------------------------------------------


def test_the_command_ramps_at_the_rate() -> None:
    """PEM 5 kW at 10 %/s = 0.5 kW/s: 1.5 s moves the command by 0.75 kW."""
    state = advance_command(RampState(), 5.0, 1.5, 0.5, 30.0)
    assert state.command_kw == pytest.approx(0.75)
    assert (state.last_direction, state.starting) == (1, True)
    state = advance_command(state, 5.0, 100.0, 0.5, 30.0)
    assert state.command_kw == 5.0


def test_a_reversal_ramps_down_dwells_then_ramps_up_in_one_long_step() -> None:
    """2 kW → −2 kW at 0.5 kW/s with a 30 s dwell: 4 s down, 30 s dwell, 4 s up = 38 s."""
    state = RampState(2.0, 1, 0.0, False)
    assert advance_command(state, -2.0, 37.0, 0.5, 30.0).command_kw == pytest.approx(-1.5)
    assert advance_command(state, -2.0, 38.0, 0.5, 30.0).command_kw == pytest.approx(-2.0)
    waiting = advance_command(state, -2.0, 20.0, 0.5, 30.0)
    assert (waiting.command_kw, waiting.zero_time_s) == (0.0, pytest.approx(16.0))


def test_restarting_in_the_same_direction_needs_no_dwell() -> None:
    state = RampState(0.0, 1, 0.0, False)
    assert advance_command(state, 1.0, 1.0, 0.5, 30.0).command_kw == pytest.approx(0.5)


def test_a_stop_keeps_the_direction_and_restarts_the_dwell() -> None:
    assert RampState(3.0, 1, 12.0, True).stopped() == RampState(0.0, 1, 0.0, False)


# --- phase 4 ----------------------------------------------------------------------------------


def test_the_tank_limits_the_step_to_the_hydrogen_there_is() -> None:
    assert tank_draw(1.0, 0.25) == (1.0, 0.75, False)
    assert tank_draw(0.1, 0.4) == (pytest.approx(0.25), 0.0, True)
    assert tank_draw(0.4, 0.4) == (1.0, 0.0, True)
    assert tank_fill(1.5, 2.0, 0.25) == (1.0, 1.75, False)
    assert tank_fill(1.9, 2.0, 0.4) == (pytest.approx(0.25), 2.0, True)


# --- phase 5 ----------------------------------------------------------------------------------


def test_the_inverter_state_follows_the_command_and_the_target() -> None:
    ramping = RampState(1.0, 1, 0.0, True)
    assert operating_state("fc", 1.0, ramping, 5.0, False, 30.0) == ("starting", True, None)
    at_target = RampState(5.0, 1, 0.0, True)
    assert operating_state("fc", 5.0, at_target, 5.0, False, 30.0) == ("running", False, None)
    assert operating_state("fc", 5.0, at_target, 5.0, True, 30.0)[0] == "throttled"
    assert operating_state("fc", 3.0, RampState(3.0, 1), 0.0, False, 30.0)[0] == "shutting_down"
    assert operating_state("fc", 3.0, RampState(), 3.0, False, 30.0)[0] == "shutting_down"
    state, _, message = operating_state("idle", 0.0, RampState(0.0, 1, 10.0), -2.0, False, 30.0)
    assert (state, message) == ("standby", "mode change dwell: 20 s remaining")
