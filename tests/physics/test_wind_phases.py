"""The wind model's step phases and controller laws as pure functions and small objects.

Phases: ``physics/wind/model.py`` docstring; controllers: ``physics/wind/controller.py``
(Jonkman et al. 2009 §7 for the NREL 5-MW, ROSCO for the IEA 15-MW).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from dersim_trio.physics.base import Dispatch
from dersim_trio.physics.wind import RotorAero
from dersim_trio.physics.wind.controller import (
    JonkmanController,
    RoscoController,
    SupervisorTimers,
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
from dersim_trio.physics.wind.turbines import (
    IEA_15MW,
    NREL_5MW,
    JonkmanBaseline,
    RoscoBaseline,
    WindNameplate,
)
from dersim_trio.setup.rotor_tables import rotor_performance

NO_LIMIT = 1e12
JONKMAN = JonkmanBaseline()
ROSCO = RoscoBaseline()


def aero(plate: WindNameplate) -> RotorAero:
    return RotorAero(rotor_performance(plate.rotor_table), plate.rotor_radius_m)


def jonkman() -> JonkmanController:
    return JonkmanController(NREL_5MW, JONKMAN, aero(NREL_5MW))


def rosco() -> RoscoController:
    return RoscoController(IEA_15MW, ROSCO, aero(IEA_15MW))


# --------------------------------------------------------------------------- power limit


@pytest.mark.parametrize(
    ("limit_pct", "expected_kw"),
    [(100.0, 5000.0), (40.0, 2000.0), (150.0, 5000.0), (-5.0, 0.0), (math.nan, 5000.0)],
)
def test_power_limit_clamps_the_percentage_and_refers_it_to_the_shaft(
    limit_pct: float, expected_kw: float
) -> None:
    """SunSpec 704 WMaxLimPct in [0, 100] (NaN = none); shaft cap = electrical cap / η_gen."""
    p_w, p_mech = power_limit(NREL_5MW, Dispatch(active_power_limit_pct=limit_pct))
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
    """J·dω/dt = T_aero − T_gen."""
    w = drivetrain_step(1.0, 3.0e6, 1.0e6, 0.5 / 4.0e7, 10.0)
    assert w == pytest.approx(1.0 + 0.5 / 4.0e7 * 2.0e6)


def test_drivetrain_speed_stays_between_zero_and_the_clamp() -> None:
    assert drivetrain_step(0.1, 0.0, 1e9, 1.0, 2.0) == 0.0
    assert drivetrain_step(1.9, 1e9, 0.0, 1.0, 2.0) == 2.0


# --------------------------------------------------------------------------- small blocks


def test_rate_limited_moves_at_most_one_step() -> None:
    assert rate_limited(10.0, 0.0, 4.0) == 4.0
    assert rate_limited(-10.0, 0.0, 4.0) == -4.0
    assert rate_limited(1.0, 0.0, 4.0) == 1.0


# --------------------------------------------------------------------------- Jonkman torque law


def test_jonkman_region_1_has_no_torque_below_670_rpm() -> None:
    """Jonkman 2009 §7.1: VS_CtInSp = 670 rpm (70.16224 rad/s)."""
    assert jonkman().torque_law(70.0, False) == (0.0, "1")


def test_jonkman_region_1_5_ramps_from_670_to_871_rpm() -> None:
    """The region-1½ line reaches K·VS_Rgn2Sp² at 871 rpm (91.21091 rad/s)."""
    controller = jonkman()
    mid = 0.5 * (JONKMAN.vs_cut_in_speed_rad_s + JONKMAN.vs_rgn2_speed_rad_s)
    torque, region = controller.torque_law(mid, False)
    assert region == "1.5"
    assert torque == pytest.approx(0.5 * JONKMAN.vs_rgn2_k * JONKMAN.vs_rgn2_speed_rad_s**2)


def test_jonkman_region_2_torque_is_k_omega_squared() -> None:
    """§7.1: T = 2.332287·ω² N·m (ω in generator rad/s) between regions 1½ and 2½."""
    torque, region = jonkman().torque_law(100.0, False)
    assert region == "2"
    assert torque == pytest.approx(2.332287 * 100.0**2)


def test_jonkman_region_2_5_reaches_rated_torque_at_99_percent_speed() -> None:
    """§7.1: the 10 %-slip line meets rated power at VS_RtGnSp = 121.6805 rad/s."""
    controller = jonkman()
    torque, region = controller.torque_law(121.68, False)
    assert region == "2.5"
    assert torque * 121.6805 == pytest.approx(5296610.0, rel=1e-4)


def test_jonkman_region_3_holds_the_published_mechanical_power() -> None:
    """§7.1: above 99 % speed or with the pitch past 1°, T = VS_RtPwr/ω, VS_RtPwr = 5,296,610 W
    (5 MW / 0.944)."""
    controller = jonkman()
    for w, region3 in ((122.9, False), (115.0, True)):
        torque, region = controller.torque_law(w, region3)
        assert region == "3"
        assert torque * w == pytest.approx(5296610.0, rel=1e-6)


def test_jonkman_pitch_holds_a_preloaded_pitch_at_rated_speed() -> None:
    """Bumpless transfer: the integrator preload reproduces the present pitch at zero error."""
    controller = jonkman()
    w_rated = JONKMAN.pc_ref_speed_rad_s / 97.0
    controller.preload(w_rated, 7.0, 4.0e6, 15.0)
    assert controller.step(w_rated, 15.0, NO_LIMIT, 0.5) == pytest.approx(7.0)


def test_jonkman_pitch_rises_with_overspeed_at_most_8_degrees_per_second() -> None:
    controller = jonkman()
    controller.preload(1.1 * JONKMAN.pc_ref_speed_rad_s / 97.0, 0.0, 4.0e6, 15.0)
    pitch = controller.step(1.1 * JONKMAN.pc_ref_speed_rad_s / 97.0, 15.0, NO_LIMIT, 0.5)
    assert pitch == pytest.approx(4.0, rel=1e-3)


def test_jonkman_curtailment_caps_the_torque_and_reports_it() -> None:
    controller = jonkman()
    w = JONKMAN.pc_ref_speed_rad_s / 97.0
    controller.preload(w, 5.0, 4.0e6 * 0.4, 15.0)
    controller.step(w, 15.0, 0.4 * NREL_5MW.rated_mechanical_power_w, 0.5)
    assert controller.throttled
    assert controller.torque_n_m * w == pytest.approx(
        0.4 * NREL_5MW.rated_mechanical_power_w, rel=1e-3
    )


# --------------------------------------------------------------------------- ROSCO


def test_rosco_minimum_pitch_follows_the_published_minimum_speed_schedule() -> None:
    """Gaertner et al. 2020, IEA-15-240-RWT ``performance/performance_ccblade.dat``: at the
    5 rpm minimum rotor speed the pitch is 3.8603° at 3 m/s, 3.6639° at 4.0679 m/s, 2.8757° at
    5.0064 m/s, 1.3907° at 6.153 m/s and 0 from 7.1589 m/s."""
    controller = rosco()
    for wind, pitch in ((3.0, 3.8603), (4.0679, 3.6639), (5.0064, 2.8757), (6.153, 1.3907)):
        assert math.degrees(controller.min_pitch_rad(wind)) == pytest.approx(pitch, abs=0.4)
    assert controller.min_pitch_rad(7.1589) == 0.0
    assert controller.min_pitch_rad(12.0) == 0.0


def test_rosco_speed_reference_tracks_tsr_9_between_5_rpm_and_vs_refspd() -> None:
    """ROSCO VS_ControlMode 2: ω_ref = 9·v/R clamped to [0.5236, 0.78788] rad/s."""
    controller = rosco()
    assert controller.speed_reference(8.0) == pytest.approx(9.0 * 8.0 / 120.97)
    assert controller.speed_reference(3.0) == pytest.approx(0.5236)
    assert controller.speed_reference(14.0) == pytest.approx(0.78788)


def test_rosco_holds_constant_torque_above_rated() -> None:
    """VS_ConstPower = 0: T = VS_RtTq = P_rated/(η·PC_RefSpd) = 1.9787e7 N·m in region 3."""
    controller = rosco()
    controller.preload(0.79168, 10.0, 1.97868e7, 15.0)
    controller.step(0.80, 15.0, NO_LIMIT, 0.5)
    assert controller.region == "3"
    assert controller.torque_n_m == pytest.approx(1.97868e7, rel=1e-4)


def test_rosco_pitch_gains_come_from_the_published_schedule() -> None:
    """PC_GS_KP/KI at PC_GS_angles[0] = 0.064 rad: −1.157 s and −0.1207 (ROSCO signs)."""
    controller = rosco()
    controller.preload(0.79168, math.degrees(0.064), 1.97868e7, 12.0)
    # At zero error the command is the integrator; 0.01 rad/s of overspeed adds −K_P·0.01.
    pitch = controller.step(0.79168 + 0.01 / (1.0 - math.exp(-1.0081 * 0.5)), 12.0, NO_LIMIT, 0.5)
    expected = 0.064 + 1.157 * 0.01 + 0.1207 * 0.01 * 0.5
    assert math.radians(pitch) == pytest.approx(expected, rel=1e-3)


# --------------------------------------------------------------------------- steady states


@pytest.mark.parametrize(
    ("make", "plate"), [(jonkman, NREL_5MW), (rosco, IEA_15MW)], ids=["jonkman", "rosco"]
)
def test_a_steady_state_balances_aerodynamic_and_generator_torque(
    make: Callable[[], JonkmanController | RoscoController], plate: WindNameplate
) -> None:
    controller = make()
    rotor = aero(plate)
    for wind in (5.0, 8.0, 10.5, 14.0, 22.0):
        steady = controller.steady_state(wind, NO_LIMIT)
        t_aero = rotor.torque_n_m(steady.rotor_speed_rad_s, steady.pitch_deg, wind)
        assert t_aero == pytest.approx(steady.torque_n_m, rel=1e-3)


# --------------------------------------------------------------------------- supervision


def test_supervisor_starts_a_parked_turbine_after_the_start_delay() -> None:
    mode, timers, message = supervise(NREL_5MW, "standby", SupervisorTimers(), "x", 8.0, 29.0)
    assert mode == "standby"
    mode, timers, message = supervise(NREL_5MW, mode, timers, message, 8.0, 1.0)
    assert (mode, message) == ("starting", None)


def test_supervisor_cuts_out_latches_and_releases_below_the_restart_wind() -> None:
    """Cut-out after 30 s above 25 m/s; the latch holds until 60 s below 20 m/s."""
    mode, timers, message = supervise(NREL_5MW, "running", SupervisorTimers(), None, 26.0, 30.0)
    assert mode == "shutting_down"
    assert timers.cut_out_latched
    assert message is not None
    mode, timers, message = supervise(NREL_5MW, "standby", timers, message, 22.0, 120.0)
    assert timers.cut_out_latched
    assert mode == "standby"
    mode, timers, message = supervise(NREL_5MW, mode, timers, message, 18.0, 60.0)
    assert not timers.cut_out_latched


def test_supervisor_stops_a_running_turbine_after_a_minute_below_cut_in() -> None:
    mode, timers, _ = supervise(NREL_5MW, "running", SupervisorTimers(), None, 2.0, 59.0)
    assert mode == "running"
    mode, _, message = supervise(NREL_5MW, mode, timers, None, 2.0, 1.0)
    assert mode == "shutting_down"
    assert message == "hub wind below cut-in speed"


# --------------------------------------------------------------------------- own wind


def test_stochastic_wind_repeats_for_the_same_seed_and_is_never_negative() -> None:
    a = StochasticWind(random.Random(5), 8.0, 0.1)
    b = StochasticWind(random.Random(5), 8.0, 0.1)
    seq_a = [a.advance(1.5) for _ in range(500)]
    assert seq_a == [b.advance(1.5) for _ in range(500)]
    assert min(seq_a) >= 0.0
