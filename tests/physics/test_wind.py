"""Wind turbine models (physics reference B.3; documented behaviour §4.3)."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.base import DeviceOutput, Dispatch, Environment
from dersim_trio.physics.wind import (
    BETZ_LIMIT,
    RotorAero,
    WindModel,
    WindNameplate,
    iea_15mw_nameplate,
    nrel_5mw_nameplate,
)
from dersim_trio.setup.rotor_tables import rotor_performance

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
FULL = Dispatch()
CONTRACT_KEYS = {
    "wind_speed_m_s",
    "hub_wind_speed_m_s",
    "rotor_speed_rpm",
    "generator_speed_rpm",
    "pitch_deg",
    "tip_speed_ratio",
    "power_coefficient",
}


def model_of(plate: WindNameplate, seed: int = 0, anemometer_height_m: float = 10.0) -> WindModel:
    """A turbine with its bundled rotor table."""
    return WindModel(plate, rotor_performance(plate.rotor_table), seed, anemometer_height_m)


def hub_model(plate: WindNameplate, seed: int = 0) -> WindModel:
    """A model whose anemometer sits at hub height, so the input wind is the hub wind."""
    return model_of(plate, seed, plate.hub_height_m)


@functools.cache
def aero_of(plate: WindNameplate) -> RotorAero:
    """The turbine's rotor table prepared for interpolation."""
    return RotorAero(rotor_performance(plate.rotor_table), plate.rotor_radius_m)


def run(
    model: WindModel,
    wind_m_s: float | None,
    seconds: float,
    dt_s: float = 1.5,
    dispatch: Dispatch = FULL,
) -> DeviceOutput:
    """Step ``model`` at constant wind for ``seconds`` and return the last output."""
    env = Environment(sim_time=T0, wind_speed_m_s=wind_m_s)
    out = model.step(env, dispatch, dt_s)
    for _ in range(max(int(seconds / dt_s) - 1, 0)):
        out = model.step(env, dispatch, dt_s)
    return out


def num(out: DeviceOutput, key: str) -> float:
    """An asset value as a float."""
    value = out.asset[key]
    assert isinstance(value, float)
    return value


# --------------------------------------------------------------------------- aerodynamics


@pytest.mark.parametrize(
    ("plate", "cp_max", "tsr", "pitch"),
    [(nrel_5mw_nameplate(), 0.466, 7.5, 0.0), (iea_15mw_nameplate(), 0.470, 8.5, -1.0)],
)
def test_bundled_rotor_tables_peak_where_the_published_tables_do(
    plate: WindNameplate, cp_max: float, tsr: float, pitch: float
) -> None:
    """Physics reference B.3: ROSCO ``Cp_Ct_Cq.NREL5MW.txt`` peaks at C_p 0.466 at TSR 7.5,
    pitch 0°; ``Cp_Ct_Cq.IEA15MW.txt`` at 0.470, TSR 8.5, pitch −1° (36 pitch × 26 TSR)."""
    table = rotor_performance(plate.rotor_table)
    assert (len(table.pitch_deg), len(table.tip_speed_ratio)) == (36, 26)
    best_cp, best_tsr, best_pitch = table.peak()
    assert best_cp == pytest.approx(cp_max, abs=0.0005)
    assert (best_tsr, best_pitch) == (tsr, pitch)


def test_interpolation_reproduces_the_table_at_its_nodes_and_is_bilinear_between() -> None:
    table = rotor_performance("Cp_Ct_Cq.NREL5MW.txt")
    aero = aero_of(nrel_5mw_nameplate())
    i = table.tip_speed_ratio.index(7.5)
    j = table.pitch_deg.index(2.0)
    assert aero.power_coefficient(7.5, 2.0) == pytest.approx(table.power[i][j], rel=1e-12)
    corners = [table.power[i + a][j + b] for a in (0, 1) for b in (0, 1)]
    assert aero.power_coefficient(7.75, 2.5) == pytest.approx(sum(corners) / 4.0, rel=1e-12)


def test_above_the_grid_the_table_continues_smoothly() -> None:
    """Quadratic continuation of each pitch column past λ = 14.5 (``aero.py`` docstring)."""
    aero = aero_of(iea_15mw_nameplate())
    at_edge = aero.power_coefficient(14.5, 3.0)
    assert aero.power_coefficient(14.5 + 1e-9, 3.0) == pytest.approx(at_edge, abs=1e-7)
    assert aero.power_coefficient(16.0, 3.0) < at_edge


def test_standstill_torque_is_finite_and_a_feathered_rotor_makes_none() -> None:
    aero = aero_of(nrel_5mw_nameplate())
    assert aero.torque_n_m(0.0, 0.0, 9.0) > 0.0
    assert aero.torque_n_m(0.0, 90.0, 9.0) == 0.0
    assert aero.power_coefficient(0.0, 0.0) == 0.0


@settings(max_examples=300, deadline=None)
@given(
    tsr=st.floats(min_value=-5.0, max_value=60.0),
    pitch=st.floats(min_value=-10.0, max_value=100.0),
    t4=st.booleans(),
)
def test_power_coefficient_is_finite_and_never_exceeds_betz(
    tsr: float, pitch: float, t4: bool
) -> None:
    """Betz: C_p ≤ 16/27 for any rotor; the tables and their continuation stay finite."""
    aero = aero_of(iea_15mw_nameplate() if t4 else nrel_5mw_nameplate())
    cp = aero.power_coefficient(tsr, pitch)
    assert math.isfinite(cp)
    assert cp <= BETZ_LIMIT


# --------------------------------------------------------------------------- NREL 5-MW


def test_nrel_5mw_at_8_m_s_runs_in_region_2_near_the_optimal_tip_speed_ratio() -> None:
    """Jonkman 2009 §7.1 region 2, T = K·ω²: the rotor settles near the table's optimal
    λ = 7.5 (OpenFAST steady state at 8 m/s: 8.998 rpm, λ 7.42 on the hub wind; the
    reference sweep in ``test_wind_reference.py`` checks power and speed)."""
    out = run(hub_model(nrel_5mw_nameplate()), 8.0, 600.0)
    assert num(out, "tip_speed_ratio") == pytest.approx(7.5, abs=0.15)
    assert out.asset["operating_region"] == "2"
    assert out.inverter_state == "running"


def test_nrel_5mw_at_15_m_s_holds_rated_power_and_speed_by_pitching() -> None:
    """Jonkman 2009: region 3 holds 5 MW at 12.1 rpm with positive blade pitch."""
    out = run(hub_model(nrel_5mw_nameplate()), 15.0, 600.0)
    assert out.ac_power_kw == pytest.approx(5000.0, rel=0.03)
    assert num(out, "rotor_speed_rpm") == pytest.approx(12.1, rel=0.05)
    assert num(out, "generator_speed_rpm") == pytest.approx(12.1 * 97.0, rel=0.05)
    assert num(out, "pitch_deg") > 0.0


def test_nrel_5mw_cuts_out_above_25_m_s_after_the_delay_and_restarts_below_20_m_s() -> None:
    """Jonkman 2009: cut-out 25 m/s; hysteresis per the module docstring (30 s above cut-out,
    re-cut-in below 20 m/s after 60 s)."""
    model = hub_model(nrel_5mw_nameplate())
    run(model, 24.0, 300.0)
    assert run(model, 26.0, 15.0).ac_power_kw > 4900.0
    out = run(model, 26.0, 120.0)
    assert out.ac_power_kw == 0.0
    assert out.inverter_state == "standby"
    assert out.message is not None
    assert num(out, "pitch_deg") == pytest.approx(90.0)
    out = run(model, 22.0, 300.0)
    assert out.inverter_state == "standby"
    assert out.ac_power_kw == 0.0
    out = run(model, 18.0, 600.0)
    assert out.inverter_state == "running"
    assert out.ac_power_kw == pytest.approx(5000.0, rel=0.03)


def test_turbine_parks_in_standby_when_the_wind_drops_below_cut_in() -> None:
    """Jonkman 2009: cut-in 3 m/s; below it the rotor is parked and P = 0."""
    model = hub_model(nrel_5mw_nameplate())
    run(model, 8.0, 120.0)
    out = run(model, 1.0, 300.0)
    assert out.inverter_state == "standby"
    assert out.ac_power_kw == 0.0
    assert num(out, "rotor_speed_rpm") == 0.0


def test_parked_turbine_starts_up_through_the_starting_state() -> None:
    """A parked turbine passes SunSpec 701 ``starting`` before it produces power."""
    model = hub_model(nrel_5mw_nameplate())
    run(model, 0.0, 10.0)
    states = [run(model, 9.0, 1.5).inverter_state for _ in range(200)]
    assert "starting" in states
    assert states[-1] == "running"
    assert states.index("starting") < states.index("running")


def test_type3_rotor_converter_carries_the_slip_power() -> None:
    """DFIG: P_rotor = −s·P_stator, s = 1 − p·ω_gen/ω_s (p = 3, 60 Hz → 1,200 rpm); below
    synchronous speed the rotor draws power (dc_power < 0), I_dc = P_dc/V_dc."""
    out = run(hub_model(nrel_5mw_nameplate()), 8.0, 600.0)
    slip = num(out, "slip")
    assert slip == pytest.approx(1.0 - num(out, "generator_speed_rpm") / 1200.0, rel=1e-9)
    stator_kw = out.ac_power_kw / (1.0 - slip)
    assert out.dc_power_kw == pytest.approx(-slip * stator_kw, rel=1e-9)
    assert out.dc_power_kw < 0.0
    assert abs(out.dc_power_kw) < 0.33 * 5000.0
    assert out.dc_current_a == pytest.approx(out.dc_power_kw * 1000.0 / out.dc_voltage_v)


# --------------------------------------------------------------------------- IEA 15-MW


def test_iea_15mw_at_15_m_s_holds_rated_power_and_speed() -> None:
    """Gaertner 2020: rated 15 MW at 7.56 rpm in region 3."""
    out = run(hub_model(iea_15mw_nameplate()), 15.0, 900.0)
    assert out.ac_power_kw == pytest.approx(15000.0, rel=0.03)
    assert num(out, "rotor_speed_rpm") == pytest.approx(7.56, rel=0.05)
    assert num(out, "pitch_deg") > 0.0
    assert num(out, "generator_speed_rpm") == num(out, "rotor_speed_rpm")


def test_iea_15mw_at_8_m_s_runs_at_design_tip_speed_ratio() -> None:
    """Gaertner 2020 / ROSCO VS_TSRopt: design TSR 9.0 → ω = 9·8/120.97 rad/s = 5.68 rpm at
    8 m/s; the IEA-15-240-RWT CCBlade table (``performance/performance_ccblade.dat``) gives
    C_p 0.4637 in region 2, the bundled ROSCO table 0.469 at λ 9, β 0°."""
    out = run(hub_model(iea_15mw_nameplate()), 8.0, 900.0)
    assert num(out, "rotor_speed_rpm") == pytest.approx(5.68, rel=0.005)
    assert num(out, "power_coefficient") == pytest.approx(0.4637, rel=0.015)


def test_type4_dc_link_carries_the_power_before_the_grid_side_converter() -> None:
    """Type IV full converter: dc_power = P_ac/η_gsc on the 1,100 V back-to-back link."""
    out = run(hub_model(iea_15mw_nameplate()), 9.0, 300.0)
    assert out.dc_power_kw == pytest.approx(out.ac_power_kw / 0.985)
    assert out.dc_voltage_v == 1100.0
    assert out.dc_current_a == pytest.approx(out.dc_power_kw * 1000.0 / 1100.0)


# --------------------------------------------------------------------------- dynamics, control


@pytest.mark.parametrize("plate", [nrel_5mw_nameplate(), iea_15mw_nameplate()])
def test_rotor_speed_follows_a_wind_step_with_the_inertia_time_constant(
    plate: WindNameplate,
) -> None:
    """Single-mass drivetrain J·dω/dt = T_aero − T_gen: one 1.5 s tick after a 7 → 9.5 m/s
    step the rotor has covered less than half of its speed change."""
    model = hub_model(plate)
    before = num(run(model, 7.0, 900.0), "rotor_speed_rpm")
    after_one_tick = num(run(model, 9.5, 1.5), "rotor_speed_rpm")
    settled = num(run(model, 9.5, 900.0), "rotor_speed_rpm")
    assert settled > before
    assert 0.0 < after_one_tick - before < 0.5 * (settled - before)


@pytest.mark.parametrize("plate", [nrel_5mw_nameplate(), iea_15mw_nameplate()])
def test_curtailment_pitches_to_shed_power_and_reports_throttled(plate: WindNameplate) -> None:
    """SunSpec 704 WMaxLimPct: output capped at the limit, surplus shed by pitch."""
    free = run(hub_model(plate), 14.0, 600.0)
    limited = run(hub_model(plate), 14.0, 900.0, dispatch=Dispatch(active_power_limit_pct=40.0))
    assert limited.ac_power_kw == pytest.approx(0.4 * plate.rated_power_kw, rel=0.01)
    assert limited.inverter_state == "throttled"
    assert num(limited, "pitch_deg") > num(free, "pitch_deg")


def test_rating_reports_the_reactive_range_of_each_topology() -> None:
    """Documented behaviour §4.3: ±0.33 pu (Type III) and ±0.50 pu (Type IV) at full P."""
    t3 = model_of(nrel_5mw_nameplate()).rating
    t4 = model_of(iea_15mw_nameplate()).rating
    assert (t3.w_max_kw, t3.var_max_inj_kvar, t3.var_max_abs_kvar) == (5000.0, 1650.0, 1650.0)
    assert (t4.w_max_kw, t4.var_max_inj_kvar, t4.var_max_abs_kvar) == (15000.0, 7500.0, 7500.0)
    assert t3.va_max_kva == pytest.approx(math.hypot(5000.0, 1650.0))


def test_hub_wind_follows_the_one_seventh_power_law() -> None:
    """Hellman power law with α = 1/7 (windpowerlib default): v_hub = v·(90/10)^(1/7)."""
    out = run(model_of(nrel_5mw_nameplate(), anemometer_height_m=10.0), 6.0, 3.0)
    assert num(out, "wind_speed_m_s") == 6.0
    assert num(out, "hub_wind_speed_m_s") == pytest.approx(6.0 * 9.0 ** (1.0 / 7.0))


def test_model_declares_the_wind_device_interface() -> None:
    """Contract §2: asset_type/dc_mode ``wind``, one DC port, the wind asset keys."""
    model = model_of(iea_15mw_nameplate())
    out = run(model, None, 3.0)
    assert (model.asset_type, model.dc_mode, model.dc_port_count) == ("wind", "wind", 1)
    assert set(out.asset) >= CONTRACT_KEYS
    assert {"aerodynamic_power_kw", "generator_torque_knm"} <= set(out.asset)
    assert out.reactive_power_kvar == 0.0


# --------------------------------------------------------------------------- stochastic wind


def test_stochastic_wind_is_seeded_and_averages_near_its_mean() -> None:
    """Without a wind input the model draws a Weibull(k=2, mean 8 m/s) wind with turbulence."""
    winds = []
    model = model_of(nrel_5mw_nameplate(), seed=7)
    for _ in range(8000):
        winds.append(num(model.step(Environment(sim_time=T0), FULL, 600.0), "wind_speed_m_s"))
    assert sum(winds) / len(winds) == pytest.approx(8.0, rel=0.15)
    assert min(winds) >= 0.0
    again = model_of(nrel_5mw_nameplate(), seed=7)
    assert [num(again.step(Environment(sim_time=T0), FULL, 600.0), "wind_speed_m_s")] == [winds[0]]


# --------------------------------------------------------------------------- properties

wind_values = st.one_of(st.none(), st.floats(min_value=-5.0, max_value=40.0), st.just(math.nan))


@settings(max_examples=60, deadline=None)
@given(
    t4=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32),
    steps=st.lists(
        st.tuples(
            wind_values,
            st.floats(min_value=0.05, max_value=600.0),
            st.floats(min_value=0.0, max_value=100.0),
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_outputs_stay_finite_and_within_limits_for_any_wind_and_step(
    t4: bool, seed: int, steps: list[tuple[float | None, float, float]]
) -> None:
    """No NaN/inf; 0 ≤ P ≤ min(rating, curtailment); Q = 0 so S = P; rpm ≤ 1.5 × rated;
    pitch in [0°, 90°]; running states only with hub wind."""
    plate = iea_15mw_nameplate() if t4 else nrel_5mw_nameplate()
    model = model_of(plate, seed=seed)
    for wind, dt, limit in steps:
        out = model.step(
            Environment(sim_time=T0, wind_speed_m_s=wind),
            Dispatch(active_power_limit_pct=limit),
            dt,
        )
        numbers = [out.ac_power_kw, out.dc_power_kw, out.dc_current_a, out.dc_voltage_v]
        numbers += [v for v in out.asset.values() if isinstance(v, float)]
        assert all(math.isfinite(x) for x in numbers)
        assert 0.0 <= out.ac_power_kw <= plate.rated_power_kw * limit / 100.0 * (1 + 1e-9) + 1e-9
        assert out.reactive_power_kvar == 0.0
        assert 0.0 <= num(out, "rotor_speed_rpm") <= 1.5 * plate.rated_rotor_speed_rpm
        assert 0.0 <= num(out, "pitch_deg") <= 90.0
        assert num(out, "power_coefficient") <= BETZ_LIMIT
        if out.inverter_state not in ("running", "throttled"):
            assert out.ac_power_kw == 0.0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(min_value=0, max_value=1000), dt=st.floats(min_value=0.05, max_value=60))
def test_same_seed_gives_the_same_run(seed: int, dt: float) -> None:
    """Determinism: randomness comes only from the instance's seeded generator."""
    a = model_of(nrel_5mw_nameplate(), seed=seed)
    b = model_of(nrel_5mw_nameplate(), seed=seed)
    env = Environment(sim_time=T0)
    for _ in range(20):
        assert a.step(env, FULL, dt) == b.step(env, FULL, dt)
