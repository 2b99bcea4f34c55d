"""The wind model's step phases as pure functions (``physics/wind/model.py`` docstring)."""

from __future__ import annotations

import math
import random

import pytest

from dersim_trio.physics.base import Dispatch
from dersim_trio.physics.wind.controller import (
    PitchGains,
    SupervisorTimers,
    TorqueLaw,
    generator_torque,
    operating_region,
    pitch_command,
    rate_limited,
    supervise,
)
from dersim_trio.physics.wind.model import (
    MAX_SUBSTEP_S,
    StochasticWind,
    drivetrain_step,
    power_limit,
    substeps,
)
from dersim_trio.physics.wind.turbines import nrel_5mw_nameplate

PLATE = nrel_5mw_nameplate()
LAW = TorqueLaw.of(PLATE)
NO_LIMIT = 1e12


# --------------------------------------------------------------------------- power limit


@pytest.mark.parametrize(
    ("limit_pct", "expected_kw"),
    [(100.0, 5000.0), (40.0, 2000.0), (150.0, 5000.0), (-5.0, 0.0), (math.nan, 5000.0)],
)
def test_power_limit_clamps_the_percentage_and_refers_it_to_the_shaft(
    limit_pct: float, expected_kw: float
) -> None:
    """SunSpec 704 WMaxLimPct in [0, 100] (NaN = none); shaft cap = electrical cap / η_gen."""
    p_w, p_mech = power_limit(PLATE, Dispatch(active_power_limit_pct=limit_pct))
    assert p_w == pytest.approx(expected_kw * 1000.0)
    assert p_mech == pytest.approx(p_w / 0.944)


# --------------------------------------------------------------------------- sub-steps


@pytest.mark.parametrize(
    ("dt", "plan"),
    [(0.0, (0, 0.0, False)), (0.3, (1, 0.3, False)), (1.5, (3, 0.5, False))],
)
def test_substeps_never_exceed_half_a_second(dt: float, plan: tuple[int, float, bool]) -> None:
    n, h, settle = substeps(dt)
    assert (n, settle) == (plan[0], plan[2])
    assert h == pytest.approx(plan[1])


def test_a_long_step_settles_first_and_integrates_the_last_20_s() -> None:
    assert substeps(600.0) == (40, MAX_SUBSTEP_S, True)


# --------------------------------------------------------------------------- drivetrain


def test_drivetrain_step_is_explicit_euler_of_the_torque_balance() -> None:
    """J·dω/dt = T_aero − T_gen − D·ω."""
    w = drivetrain_step(1.0, 3.0e6, 1.0e6, 1000.0, 0.5 / 4.0e7, 10.0)
    assert w == pytest.approx(1.0 + 0.5 / 4.0e7 * (3.0e6 - 1.0e6 - 1000.0))


def test_drivetrain_speed_stays_between_zero_and_the_clamp() -> None:
    assert drivetrain_step(0.1, 0.0, 1e9, 0.0, 1.0, 2.0) == 0.0
    assert drivetrain_step(1.9, 1e9, 0.0, 0.0, 1.0, 2.0) == 2.0


# --------------------------------------------------------------------------- torque law


def test_generator_torque_is_zero_below_cut_in_speed() -> None:
    assert generator_torque(LAW, 0.9 * LAW.w_min, 0.0, NO_LIMIT) == (0.0, False)
    assert operating_region(LAW, 0.9 * LAW.w_min, 0.0, "running") == "1"


def test_region_2_torque_is_k_omega_squared() -> None:
    """Jonkman 2009 §7.1: T = K·ω² between the region-1½ ramp and region 2½."""
    w = 0.5 * (LAW.w_15 + LAW.w_r99) * 0.9
    torque, throttled = generator_torque(LAW, w, 0.0, NO_LIMIT)
    assert torque == pytest.approx(LAW.k * w * w)
    assert not throttled
    assert operating_region(LAW, w, 0.0, "running") == "2"


def test_region_1_5_ramps_linearly_from_zero() -> None:
    w = 0.5 * (LAW.w_min + LAW.w_15)
    torque, _ = generator_torque(LAW, w, 0.0, NO_LIMIT)
    assert torque == pytest.approx(0.5 * LAW.t_15)
    assert operating_region(LAW, w, 0.0, "running") == "1.5"


def test_region_3_holds_constant_power() -> None:
    """Region 3 (ω ≥ 0.99 ω_rated or pitch > 1°): T·ω = P_rated/η."""
    for w in (LAW.w_r99, 1.05 * LAW.w_r99):
        torque, _ = generator_torque(LAW, w, 0.0, NO_LIMIT)
        assert torque * w == pytest.approx(LAW.p_mech_rated)
    torque, _ = generator_torque(LAW, 0.95 * LAW.w_r99, 5.0, NO_LIMIT)
    assert torque * 0.95 * LAW.w_r99 == pytest.approx(LAW.p_mech_rated)
    assert operating_region(LAW, 0.95 * LAW.w_r99, 5.0, "running") == "3"


def test_curtailment_caps_the_torque_and_reports_it() -> None:
    w = LAW.w_r99
    torque, throttled = generator_torque(LAW, w, 0.0, 0.4 * LAW.p_mech_rated)
    assert torque * w == pytest.approx(0.4 * LAW.p_mech_rated)
    assert throttled


# --------------------------------------------------------------------------- pitch PI


def test_pitch_command_holds_the_preloaded_pitch_at_zero_speed_error() -> None:
    """Bumpless transfer: the integrator preload reproduces the present pitch."""
    gains = PitchGains.of(PLATE)
    integ = gains.integrator_for(7.0)
    target, after = pitch_command(gains, gains.w_ref, 7.0, integ, 0.5)
    assert target == pytest.approx(7.0)
    assert after == pytest.approx(integ)


def test_pitch_integrator_does_not_wind_up_below_rated_speed() -> None:
    gains = PitchGains.of(PLATE)
    target, integ = pitch_command(gains, 0.8 * gains.w_ref, 0.0, 0.0, 0.5)
    assert (target, integ) == (0.0, 0.0)


def test_pitch_rises_with_overspeed() -> None:
    gains = PitchGains.of(PLATE)
    target, integ = pitch_command(gains, 1.05 * gains.w_ref, 0.0, 0.0, 0.5)
    assert target > 0.0
    assert integ > 0.0


def test_rate_limited_moves_at_most_one_step() -> None:
    assert rate_limited(10.0, 0.0, 4.0) == 4.0
    assert rate_limited(-10.0, 0.0, 4.0) == -4.0
    assert rate_limited(1.0, 0.0, 4.0) == 1.0


# --------------------------------------------------------------------------- supervision


def test_supervisor_starts_a_parked_turbine_after_the_start_delay() -> None:
    mode, timers, message = supervise(PLATE, "standby", SupervisorTimers(), "x", 8.0, 29.0)
    assert mode == "standby"
    mode, timers, message = supervise(PLATE, mode, timers, message, 8.0, 1.0)
    assert (mode, message) == ("starting", None)


def test_supervisor_cuts_out_latches_and_releases_below_the_restart_wind() -> None:
    """Cut-out after 30 s above 25 m/s; the latch holds until 60 s below 20 m/s."""
    mode, timers, message = supervise(PLATE, "running", SupervisorTimers(), None, 26.0, 30.0)
    assert mode == "shutting_down"
    assert timers.cut_out_latched
    assert message is not None
    mode, timers, message = supervise(PLATE, "standby", timers, message, 22.0, 120.0)
    assert timers.cut_out_latched
    assert mode == "standby"
    mode, timers, message = supervise(PLATE, mode, timers, message, 18.0, 60.0)
    assert not timers.cut_out_latched


def test_supervisor_stops_a_running_turbine_after_a_minute_below_cut_in() -> None:
    mode, timers, _ = supervise(PLATE, "running", SupervisorTimers(), None, 2.0, 59.0)
    assert mode == "running"
    mode, _, message = supervise(PLATE, mode, timers, None, 2.0, 1.0)
    assert mode == "shutting_down"
    assert message == "hub wind below cut-in speed"


# --------------------------------------------------------------------------- own wind


def test_stochastic_wind_repeats_for_the_same_seed_and_is_never_negative() -> None:
    a = StochasticWind(random.Random(5), 8.0, 0.1)
    b = StochasticWind(random.Random(5), 8.0, 0.1)
    seq_a = [a.advance(1.5) for _ in range(500)]
    assert seq_a == [b.advance(1.5) for _ in range(500)]
    assert min(seq_a) >= 0.0
