"""The grid-support functions one by one against the numbers of IEEE 1547-2018.

Sources quoted per test: the standard's default settings (IEEE 1547-2018 Tables 8, 11–13 and
18, and the clauses of the other settings, as summarised in the physics reference B.7) and the
defining equations in each module.
"""

from __future__ import annotations

import math
import random

import pytest

from dersim_trio.grid import constant_pf, volt_var, volt_watt, watt_var
from dersim_trio.grid.active_power_limit import ActivePowerLimitSettings, LimitRamp
from dersim_trio.grid.capability import GridRating, apparent_limit_kva, q_limits_kvar
from dersim_trio.grid.curves import interpolate
from dersim_trio.grid.enter_service import EnterServiceSettings, ReEntry
from dersim_trio.grid.freq_droop import FreqDroop, FreqDroopSettings
from dersim_trio.grid.lag import Lag
from dersim_trio.grid.ride_through import region
from dersim_trio.grid.settings import abnormal_defaults, category_defaults
from dersim_trio.grid.trip import SUB_STEP_S, GridSample, TripMonitor

RATING = GridRating(w_max_kw=10.0, va_max_kva=10.0, var_max_inj_kvar=4.4, var_max_abs_kvar=4.4)
STORAGE = GridRating(
    w_max_kw=10.0,
    va_max_kva=10.0,
    var_max_inj_kvar=4.4,
    var_max_abs_kvar=4.4,
    w_max_charge_kw=10.0,
)


def steady(v: float, f: float = 60.0):  # type: ignore[no-untyped-def]
    sample = GridSample(v, v, f)
    return lambda _t: sample


@pytest.mark.parametrize(("olrt", "dt"), [(5.0, 0.5), (10.0, 1.0), (5.0, 0.1), (1.0, 0.25)])
def test_a_lag_reaches_90_percent_of_a_step_at_its_open_loop_response_time(
    olrt: float, dt: float
) -> None:
    lag = Lag(0.0)
    y = 0.0
    for _ in range(round(olrt / dt)):
        y = lag.step(1.0, olrt, dt)
    assert y == pytest.approx(0.9, abs=1e-12)


def test_category_b_volt_var_curve_gives_table_8_points() -> None:
    """Table 8 category B: (0.92, +44 %S) (0.98, 0) (1.02, 0) (1.08, −44 %S)."""
    s = category_defaults("B", "III", RATING).volt_var
    q = [volt_var.curve_q_kvar(s, 100.0, v, RATING) for v in (90, 92, 95, 100, 105, 108, 110)]
    assert q == pytest.approx([4.4, 4.4, 2.2, 0.0, -2.2, -4.4, -4.4])


def test_v_ref_shifts_the_volt_var_curve() -> None:
    s = category_defaults("B", "III", RATING).volt_var
    assert volt_var.curve_q_kvar(s, 102.0, 102.0, RATING) == pytest.approx(0.0)
    assert volt_var.curve_q_kvar(s, 102.0, 107.0, RATING) == pytest.approx(-2.2)


def test_autonomous_v_ref_follows_the_voltage_with_its_time_constant() -> None:
    s = volt_var.VoltVarSettings(v_ref_auto_ena=True, v_ref_auto_tms_s=300.0)
    tracker = volt_var.VRefTracker()
    for _ in range(300):
        v_ref = tracker.step(s, 103.0, 1.0)
    assert v_ref == pytest.approx(100.0 + 3.0 * (1 - math.exp(-1.0)), rel=1e-9)
    for _ in range(5000):
        v_ref = tracker.step(s, 110.0, 1.0)
    assert v_ref == pytest.approx(105.0)  # Table 8: V_ref within 0.95..1.05


def test_category_a_curve_has_a_vertical_segment_at_v_ref() -> None:
    s = category_defaults("A", "III", RATING).volt_var
    assert volt_var.curve_q_kvar(s, 100.0, 95.0, RATING) == pytest.approx(0.25 * 10 / 2)
    curve = ((0.0, 1.0), (1.0, 5.0), (1.0, 0.0), (2.0, 0.0))
    assert interpolate(curve, 1.0) == 0.0
    assert interpolate(curve, 0.999) == pytest.approx(4.996)


def test_watt_var_absorbs_44_percent_at_full_power_and_mirrors_for_charging() -> None:
    s = category_defaults("B", "III", STORAGE).watt_var
    assert watt_var.q_target_kvar(s, 10.0, STORAGE) == pytest.approx(-4.4)
    assert watt_var.q_target_kvar(s, 5.0, STORAGE) == pytest.approx(0.0)
    assert watt_var.q_target_kvar(s, 7.5, STORAGE) == pytest.approx(-2.2)
    assert watt_var.q_target_kvar(s, -10.0, STORAGE) == pytest.approx(4.4)
    p = watt_var.circle_p_kw(s, 10.0, 10.0, STORAGE)
    assert p**2 + watt_var.q_target_kvar(s, p, STORAGE) ** 2 == pytest.approx(100.0)


def test_constant_pf_gives_q_from_p_with_the_excitation_sign() -> None:
    s = constant_pf.ConstantPfSettings(enabled=True, pf_w_inj=0.9, pf_w_inj_ext="under")
    assert constant_pf.q_target_kvar(s, 9.0) == pytest.approx(-9.0 * math.tan(math.acos(0.9)))


def test_volt_watt_limits_linearly_between_106_and_110_percent() -> None:
    """§5.4.2: P1 = P_rated at 1.06, P2 = 0 (here) at 1.10."""
    s = volt_watt.VoltWattSettings(enabled=True)
    assert volt_watt.p_limit_kw(s, 106.0, RATING) == pytest.approx(10.0)
    assert volt_watt.p_limit_kw(s, 108.0, RATING) == pytest.approx(5.0)
    assert volt_watt.p_limit_kw(s, 112.0, RATING) == pytest.approx(0.0)


def test_over_frequency_droop_settles_at_the_table_24_slope() -> None:
    """At 60.5 Hz with db 0.036 Hz and k 5 %: P = 1 − 0.464/3 = 0.8453 pu."""
    droop = FreqDroop()
    s = FreqDroopSettings()
    out = None
    for _ in range(40):
        out = droop.step(s, 60.5, 1.0, 1.0, 1.5)
    assert out == pytest.approx(1 - (60.5 - 60.036) / 3.0, abs=1e-6)


def test_under_frequency_droop_raises_a_curtailed_unit_and_releases_after_recovery() -> None:
    droop = FreqDroop()
    s = FreqDroopSettings()
    for _ in range(40):
        out = droop.step(s, 59.5, 0.5, 0.5, 1.5)
    assert out == pytest.approx(0.5 + (59.964 - 59.5) / 3.0, abs=1e-6)
    for _ in range(40):
        out = droop.step(s, 60.0, 0.65, 0.5, 1.5)
    assert out is None
    assert not droop.active


def test_active_power_limit_ramps_at_full_scale_per_response_time() -> None:
    ramp = LimitRamp()
    s = ActivePowerLimitSettings(enabled=True, w_max_lim_pct=50.0, rsp_tms_s=15.0)
    assert ramp.step(s, 1.5) == pytest.approx(90.0)
    for _ in range(10):
        pct = ramp.step(s, 1.5)
    assert pct == pytest.approx(50.0)


def test_reactive_capability_is_reduced_below_20_percent_power() -> None:
    assert q_limits_kvar(0.4, RATING) == (0.0, 0.0)
    assert q_limits_kvar(1.0, RATING)[0] == pytest.approx(2.2)
    assert q_limits_kvar(0.5, RATING)[0] == pytest.approx(1.1)
    assert q_limits_kvar(2.0, RATING)[0] == pytest.approx(4.4)
    assert q_limits_kvar(-2.0, STORAGE)[1] == pytest.approx(4.4)


def test_current_limit_shrinks_the_apparent_power_at_low_voltage() -> None:
    assert apparent_limit_kva(RATING, 0.6) == pytest.approx(6.0)
    assert apparent_limit_kva(RATING, 1.1) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("v", "f", "cause", "clearing_s"),
    [
        (1.25, 60.0, "OV2", 0.16),
        (1.15, 60.0, "OV1", 13.0),
        (0.85, 60.0, "UV1", 21.0),
        (0.30, 60.0, "UV2", 2.0),
        (1.0, 62.5, "OF2", 0.16),
        (1.0, 56.0, "UF2", 0.16),
        (1.0, 61.5, "OF1", 300.0),
    ],
)
def test_category_iii_trips_within_20_ms_of_the_clearing_time_with_1_5_s_ticks(
    v: float, f: float, cause: str, clearing_s: float
) -> None:
    settings = abnormal_defaults("III")
    monitor = TripMonitor()
    t = 0.0
    event = None
    while event is None and t < 400:
        event = monitor.advance(settings, t, 1.5, steady(v, f))
        t += 1.5
    assert event is not None
    assert event.cause == cause
    assert abs(event.time_s - clearing_s) <= 0.02


def test_a_step_inside_a_tick_trips_clearing_time_after_the_step() -> None:
    settings = abnormal_defaults("III")
    monitor = TripMonitor()

    def grid(t: float) -> GridSample:
        return GridSample(1.0, 1.3 if t >= 0.7 else 1.0, 60.0)

    event = monitor.advance(settings, 0.0, 1.5, grid)
    assert event is not None
    assert event.time_s == pytest.approx(0.86, abs=SUB_STEP_S + 1e-9)


@pytest.mark.parametrize("category", ["I", "II", "III"])
def test_a_grid_exactly_at_a_voltage_setting_is_not_beyond_it(category: str) -> None:
    """IEEE 1547-2018 §6.4.1: the unit trips when the voltage is above OV1 (1.10 pu) or below
    UV1; at exactly 1.10 pu (1.1 × 100 is 110.00000000000001 in floating point) it runs on,
    and the enter-service window and the momentary-cessation region hold their ends too."""
    settings = abnormal_defaults(category)  # type: ignore[arg-type]
    for v in (1.1, settings.lv.must_trip[0].threshold / 100.0):
        monitor = TripMonitor()
        for t in range(100):  # 150 s, beyond every clearing time
            assert monitor.advance(settings, t * 1.5, 1.5, steady(v)) is None, v
    assert region(category, settings, GridSample(1.1, 1.1, 60.0)) == "continuous"  # type: ignore[arg-type]
    assert EnterServiceSettings().in_window(1.05, 1.05, 60.0)
    assert EnterServiceSettings().in_window(0.917, 0.917, 60.0)


def test_returning_inside_the_thresholds_resets_the_timer() -> None:
    settings = abnormal_defaults("III")
    monitor = TripMonitor()
    assert monitor.advance(settings, 0.0, 1.5, steady(0.4)) is None
    assert monitor.advance(settings, 1.5, 1.5, steady(1.0)) is None
    assert monitor.advance(settings, 3.0, 1.5, steady(0.4)) is None
    assert monitor.timers_s


@pytest.mark.parametrize(
    ("category", "v", "expected"),
    [
        ("III", 0.30, "momentary_cessation"),
        ("III", 0.60, "mandatory"),
        ("III", 1.15, "momentary_cessation"),
        ("III", 1.00, "continuous"),
        ("II", 0.40, "permissive"),
        ("II", 0.20, "momentary_cessation"),
        ("I", 0.60, "permissive"),
        ("I", 0.75, "mandatory"),
        ("I", 1.15, "permissive"),
        ("I", 1.25, "momentary_cessation"),
    ],
)
def test_ride_through_regions_follow_tables_14_to_16(category, v, expected) -> None:  # type: ignore[no-untyped-def]
    trip = abnormal_defaults(category)
    assert region(category, trip, GridSample(v, v, 60.0)) == expected


def test_frequency_ride_through_regions_follow_table_19() -> None:
    trip = abnormal_defaults("III")
    assert region("III", trip, GridSample(1, 1, 58.0)) == "mandatory"
    assert region("III", trip, GridSample(1, 1, 56.9)) == "permissive"
    assert region("III", trip, GridSample(1, 1, 61.0)) == "continuous"


def test_reentry_waits_the_delay_inside_the_window_then_ramps() -> None:
    s = EnterServiceSettings()
    r = ReEntry()
    r.start_wait()
    rng = random.Random(1)
    assert not r.advance_wait(s, True, 299.0, rng)
    assert not r.advance_wait(s, False, 1.0, rng)  # outside the window: starts over
    assert not r.advance_wait(s, True, 299.0, rng)
    assert r.advance_wait(s, True, 1.0, rng)
    # §4.10.3: the ramp starts when the delay ends, here with the step: 0 in that step
    assert r.ramp_cap_pu(s, 1.0) == 0.0
    assert r.ramp_cap_pu(s, 150.0) == pytest.approx(0.5)
    assert r.ramp_cap_pu(s, 150.0) is None


def test_a_delay_ending_inside_a_step_starts_the_ramp_there() -> None:
    s = EnterServiceSettings(es_dly_tms_s=10.0, es_rmp_tms_s=100.0)
    r = ReEntry()
    r.start_wait()
    assert not r.advance_wait(s, True, 9.0, random.Random(0))
    assert r.advance_wait(s, True, 1.5, random.Random(0))
    assert r.ramp_cap_pu(s, 1.5) == pytest.approx(0.005)  # 0.5 s of the 1.5 s step
    assert r.ramp_cap_pu(s, 1.5) == pytest.approx(0.02)


def test_randomized_delay_is_drawn_from_the_seeded_generator() -> None:
    s = EnterServiceSettings(es_dly_tms_s=10.0, es_rnd_tms_s=100.0)
    waits = []
    for _ in range(2):
        r = ReEntry()
        r.start_wait()
        rng = random.Random(7)
        n = 0
        while not r.advance_wait(s, True, 1.0, rng):
            n += 1
        waits.append(n)
    expected = 10.0 + random.Random(7).uniform(0.0, 100.0)
    assert waits[0] == waits[1] == math.ceil(expected) - 1
