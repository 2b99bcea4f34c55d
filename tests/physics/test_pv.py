"""The PV array + PVWatts inverter model (physics reference B.1 items 3-6)."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.ac import EnergyCounters
from dersim_trio.physics.base import AcRating, DeviceModel, Dispatch, Environment
from dersim_trio.physics.pv import (
    PvFleet,
    PvModel,
    PvNameplate,
    pvwatts_dc_kw,
    pvwatts_inverter_ac_kw,
    pvwatts_inverter_efficiency,
    sapm_cell_temperature_c,
)
from dersim_trio.physics.solar import SolarSite

MST = timezone(timedelta(hours=-7))
SOLSTICE_NOON = datetime(2025, 6, 21, 12, 0, tzinfo=MST)
MIDNIGHT = datetime(2025, 6, 21, 0, 0, tzinfo=MST)
INV_DC0_KW = 10.0 / 0.96  # PVWatts P_dc0 = P_ac0 / η_nom


def _eta(load: float) -> float:
    return pvwatts_inverter_efficiency(load * INV_DC0_KW, INV_DC0_KW)


def _air_for_cell_temperature(cell_c: float, g_w_m2: float, wind_m_s: float = 1.0) -> float:
    """Ambient temperature that makes the SAPM open-rack glass/polymer cell reach ``cell_c``."""
    return cell_c - (sapm_cell_temperature_c(g_w_m2, 0.0, wind_m_s))


# --- pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("load", "expected"), [(0.05, 0.864), (0.10, 0.922), (0.20, 0.949), (0.50, 0.962), (1.0, 0.960)]
)
def test_pvwatts_inverter_efficiency_matches_reference_curve(load: float, expected: float) -> None:
    """Physics reference B.1.6 (pvlib.inverter.pvwatts, η_nom 0.96, η_ref 0.9637):
    86.4 % at 5 % load, 92.2 % at 10 %, 94.9 % at 20 %, 96.2 % at 50 %, 96.0 % at 100 %."""
    assert _eta(load) == pytest.approx(expected, abs=0.0006)


def test_pvwatts_inverter_cec_weighted_efficiency_is_95_9_percent() -> None:
    """CEC weighting (PVsyst help, 'European or CEC efficiency'):
    0.04·η10 + 0.05·η20 + 0.12·η30 + 0.21·η50 + 0.53·η75 + 0.05·η100 ≈ 95.9 % (reference B.1.6)."""
    weights = {0.10: 0.04, 0.20: 0.05, 0.30: 0.12, 0.50: 0.21, 0.75: 0.53, 1.00: 0.05}
    cec = sum(w * _eta(load) for load, w in weights.items())
    assert cec == pytest.approx(0.959, abs=0.0006)


def test_pvwatts_inverter_clips_at_the_ac_rating_and_floors_at_zero() -> None:
    """pvlib.inverter.pvwatts: P_ac = min(η·P_dc, P_ac0), floored at 0 (negative η at ζ < 0.6 %)."""
    assert pvwatts_inverter_ac_kw(15.0, 10.0) == 10.0
    assert pvwatts_inverter_ac_kw(0.03, 10.0) == 0.0
    assert pvwatts_inverter_ac_kw(0.0, 10.0) == 0.0
    assert pvwatts_inverter_ac_kw(5.0, 10.0) == pytest.approx(5.0 * _eta(5.0 / INV_DC0_KW))


def test_pvwatts_dc_temperature_derate_is_gamma_per_degree() -> None:
    """pvlib.pvsystem.pvwatts_dc: P = (G/1000)·P_dc0·(1 + γ(T − 25)).

    −0.37 %/°C × 25 K = −9.25 %.
    """
    assert pvwatts_dc_kw(1000.0, 25.0, 12.0, -0.0037) == pytest.approx(12.0)
    assert pvwatts_dc_kw(1000.0, 50.0, 12.0, -0.0037) == pytest.approx(12.0 * 0.9075)
    assert pvwatts_dc_kw(500.0, 25.0, 12.0, -0.0037) == pytest.approx(6.0)


def test_sapm_cell_temperature_open_rack_glass_polymer() -> None:
    """pvlib.temperature.sapm_cell with (−3.56, −0.075, 3): at 1000 W/m², 20 °C, 1 m/s
    T = 1000·e^(−3.635) + 20 + 3 = 49.38 °C."""
    assert sapm_cell_temperature_c(1000.0, 20.0, 1.0) == pytest.approx(49.38, abs=0.01)
    assert sapm_cell_temperature_c(0.0, 12.0, 4.0) == 12.0


# --- the model --------------------------------------------------------------------------------


def test_pv_model_satisfies_the_device_model_protocol() -> None:
    """asset_type "pv", dc_mode "pv", one DC port and the nameplate's AC rating."""
    model: DeviceModel = PvModel(PvNameplate(), seed=1)
    assert (model.asset_type, model.dc_mode, model.dc_port_count) == ("pv", "pv", 1)
    assert model.rating == AcRating(10.0, 10.926, 4.4, 4.4)


def test_the_advertised_reactive_capability_is_deliverable_at_full_power() -> None:
    """The physics-fidelity issue: VA rating ≥ √(W² + Var²), so ±0.44 pu Q (IEEE 1547 Cat B)
    fits beside the full 10 kW."""
    rating = PvNameplate().rating
    assert math.hypot(rating.w_max_kw, rating.var_max_inj_kvar) <= rating.va_max_kva + 1e-12
    assert math.hypot(rating.w_max_kw, rating.var_max_abs_kvar) <= rating.va_max_kva + 1e-12


def test_asset_carries_the_contract_keys() -> None:
    """Contract §2: PV asset has irradiance_w_m2, cell_temperature_c, ambient_temperature_c."""
    out = PvModel(seed=1).step(Environment(sim_time=SOLSTICE_NOON), Dispatch(), 1.5)
    for key in (
        "irradiance_w_m2",
        "cell_temperature_c",
        "ambient_temperature_c",
        "clear_sky_irradiance_w_m2",
        "clear_sky_index",
        "solar_zenith_deg",
        "dc_available_kw",
        "clipped",
    ):
        assert key in out.asset
    assert out.message is None
    assert out.reactive_power_kvar == 0.0


@pytest.mark.parametrize("dc_rating_kw", [12.0, 14.0])
def test_output_at_1000_w_m2_and_25_c_follows_pvwatts(dc_rating_kw: float) -> None:
    """At 1000 W/m² and 25 °C cells: P_dc = P_dc0·(1 − 0.14); P_ac = min(η(P_dc)·P_dc, 10 kW)
    (pvlib pvwatts_dc + pvwatts inverter). 12 kW DC: 10.32 kW DC → 9.91 kW AC, not clipped;
    14 kW DC (the default): 12.04 kW DC → clipped at 10 kW."""
    model = PvModel(PvNameplate(dc_rating_kw=dc_rating_kw), seed=1)
    env = Environment(
        sim_time=SOLSTICE_NOON,
        irradiance_w_m2=1000.0,
        irradiance_is_poa=True,
        ambient_temperature_c=_air_for_cell_temperature(25.0, 1000.0),
    )
    out = model.step(env, Dispatch(), 1.5)
    p_dc = dc_rating_kw * 0.86
    expected_ac = min(_eta(p_dc / INV_DC0_KW) * p_dc, 10.0)
    assert out.asset["cell_temperature_c"] == pytest.approx(25.0, abs=1e-9)
    assert out.asset["dc_available_kw"] == pytest.approx(p_dc, rel=1e-9)
    assert out.ac_power_kw == pytest.approx(expected_ac, rel=1e-9)
    assert out.asset["clipped"] is (expected_ac == 10.0)
    assert out.inverter_state == "running"
    if dc_rating_kw == 12.0:
        assert out.ac_power_kw == pytest.approx(9.908, abs=0.001)
        assert out.dc_voltage_v == pytest.approx(400.0)  # V_mp at STC: 714.Prt[0].DCV
        assert out.dc_current_a == pytest.approx(10320.0 / 400.0)


def test_hot_cells_derate_dc_power_by_gamma() -> None:
    """PVWatts: 50 °C cells give (1 − 0.0037·25) = 90.75 % of the 25 °C DC power."""
    model_cool = PvModel(PvNameplate(dc_rating_kw=12.0), seed=1)
    model_hot = PvModel(PvNameplate(dc_rating_kw=12.0), seed=1)
    cool = model_cool.step(
        Environment(
            SOLSTICE_NOON,
            irradiance_w_m2=800.0,
            irradiance_is_poa=True,
            ambient_temperature_c=_air(25.0, 800.0),
        ),
        Dispatch(),
        1.5,
    )
    hot = model_hot.step(
        Environment(
            SOLSTICE_NOON,
            irradiance_w_m2=800.0,
            irradiance_is_poa=True,
            ambient_temperature_c=_air(50.0, 800.0),
        ),
        Dispatch(),
        1.5,
    )
    assert hot.asset["dc_available_kw"] / cool.asset["dc_available_kw"] == pytest.approx(0.9075)
    assert hot.ac_power_kw < cool.ac_power_kw
    assert hot.asset["dc_mpp_voltage_v"] < cool.asset["dc_mpp_voltage_v"]  # β_V < 0


def _air(cell_c: float, g_w_m2: float) -> float:
    return _air_for_cell_temperature(cell_c, g_w_m2)


def test_night_is_sleeping_with_zero_power_and_zero_voltage() -> None:
    """Sun below the horizon: GHI 0 → InvSt SLEEPING, AC = DC = 0 and V = 0."""
    out = PvModel(seed=5).step(Environment(sim_time=MIDNIGHT), Dispatch(), 1.5)
    assert out.inverter_state == "sleeping"
    assert (out.ac_power_kw, out.dc_power_kw, out.dc_voltage_v, out.dc_current_a) == (0, 0, 0, 0)
    assert out.asset["irradiance_w_m2"] == 0.0
    assert out.asset["solar_zenith_deg"] > 90.0


def test_dim_light_below_the_start_threshold_sleeps_at_open_circuit_voltage() -> None:
    """5 W/m² in plane gives ≈0.06 kW DC < 0.07 kW start threshold: sleeping, V = V_oc > 0."""
    env = Environment(SOLSTICE_NOON, irradiance_w_m2=5.0, irradiance_is_poa=True)
    out = PvModel(seed=5).step(env, Dispatch(), 1.5)
    assert out.inverter_state == "sleeping"
    assert out.ac_power_kw == 0.0
    assert out.dc_current_a == 0.0
    assert out.dc_voltage_v == out.asset["dc_open_circuit_voltage_v"] > 0.0


def test_clear_solstice_noon_at_35_n_clips_at_the_ac_rating() -> None:
    """Clear sky, 21 June, 35° N, solar noon, 20° tilt (Ineichen/Perez ≈1000 W/m² in plane):
    14 kW DC yields ≈10.8 kW DC available, more than the 10.42 kW the inverter needs for 10 kW
    AC, so it clips and moves off the MPP to higher voltage (reference B.1.6: DC/AC 1.1-1.3+
    makes noon clipping appear)."""
    out = PvModel(seed=1, clouds=False).step(Environment(sim_time=SOLSTICE_NOON), Dispatch(), 1.5)
    assert 950.0 < out.asset["irradiance_w_m2"] < 1100.0
    assert out.inverter_state == "running"
    assert out.asset["clipped"] is True
    assert out.ac_power_kw == pytest.approx(10.0)
    assert out.dc_power_kw == pytest.approx(INV_DC0_KW)  # η(ζ=1)·P_dc0 = P_ac0 exactly
    assert out.dc_power_kw < out.asset["dc_available_kw"]
    assert out.dc_voltage_v > out.asset["dc_mpp_voltage_v"]
    assert out.dc_voltage_v * out.dc_current_a == pytest.approx(out.dc_power_kw * 1000.0)


def test_dc_ac_1_2_does_not_clip_a_horizontal_array_at_35_n() -> None:
    """Why the default DC rating is 14 kW: with 12 kW (DC/AC 1.2) a flat array at the same clear
    noon gets ≈9.2 kW DC (hot cells at ≈54 °C, 14 % losses), so AC stays below the rating."""
    out = PvModel(PvNameplate(dc_rating_kw=12.0, tilt_deg=0.0), seed=1, clouds=False).step(
        Environment(sim_time=SOLSTICE_NOON), Dispatch(), 1.5
    )
    assert out.asset["clipped"] is False
    assert 8.5 < out.ac_power_kw < 9.8


def test_curtailment_to_50_percent_throttles_and_moves_off_the_mpp() -> None:
    """WMaxLimPct = 50 % → InvSt THROTTLED, AC = 5 kW, DC power = the P_dc with η·P_dc = 5 kW."""
    out = PvModel(seed=1, clouds=False).step(
        Environment(sim_time=SOLSTICE_NOON), Dispatch(active_power_limit_pct=50.0), 1.5
    )
    assert out.inverter_state == "throttled"
    assert out.ac_power_kw <= 5.0
    assert out.ac_power_kw == pytest.approx(5.0)
    assert _eta(out.dc_power_kw / INV_DC0_KW) * out.dc_power_kw == pytest.approx(5.0)
    assert out.asset["clipped"] is False
    assert out.dc_voltage_v > out.asset["dc_mpp_voltage_v"]
    assert out.dc_voltage_v < out.asset["dc_open_circuit_voltage_v"]


def test_operating_point_lies_on_the_iv_curve_when_curtailed() -> None:
    """The reported (V, I) under curtailment is a point of ``iv_curve`` (linear interpolation)."""
    model = PvModel(seed=1, clouds=False)
    out = model.step(
        Environment(sim_time=SOLSTICE_NOON), Dispatch(active_power_limit_pct=30.0), 1.5
    )
    curve = model.iv_curve(out.asset["irradiance_w_m2"], out.asset["cell_temperature_c"], 4001)
    v = out.dc_voltage_v
    for left, right in itertools.pairwise(curve):
        if left.voltage_v <= v <= right.voltage_v:
            frac = (v - left.voltage_v) / (right.voltage_v - left.voltage_v)
            current = left.current_a + frac * (right.current_a - left.current_a)
            assert out.dc_current_a == pytest.approx(current, rel=2e-3)
            break
    else:
        pytest.fail("operating voltage not on the curve")


def test_a_limit_above_the_available_power_keeps_the_inverter_running() -> None:
    """Morning (≈6 kW available) with a 90 % limit (9 kW): not throttled, at the MPP."""
    out = PvModel(seed=1, clouds=False).step(
        Environment(sim_time=SOLSTICE_NOON.replace(hour=8)),
        Dispatch(active_power_limit_pct=90.0),
        1.5,
    )
    assert out.inverter_state == "running"
    assert out.asset["clipped"] is False
    assert out.dc_power_kw == out.asset["dc_available_kw"]
    assert out.dc_voltage_v == pytest.approx(out.asset["dc_mpp_voltage_v"])


def test_mppt_window_clamps_the_voltage_and_derates() -> None:
    """V_mp ≈ 400 V above a 350 V window top: the inverter works at 350 V with less than P_mp."""
    nameplate = PvNameplate(dc_rating_kw=8.0, mppt_v_max_v=350.0)
    out = PvModel(nameplate, seed=1).step(
        Environment(
            SOLSTICE_NOON, irradiance_w_m2=1000.0, ambient_temperature_c=_air(25.0, 1000.0)
        ),
        Dispatch(),
        1.5,
    )
    assert out.inverter_state == "running"
    assert out.dc_voltage_v == pytest.approx(350.0)
    assert out.dc_power_kw < 8.0 * 0.86
    assert out.dc_power_kw == out.asset["dc_available_kw"]


def test_iv_curve_includes_isc_mpp_and_voc() -> None:
    """EN 50530-style curve: starts at I_sc (V = 0), contains the MPP sample where P is largest
    and equals the PVWatts P_mp, ends at V_oc with I ≈ 0; current falls monotonically."""
    nameplate = PvNameplate(dc_rating_kw=12.0)
    model = PvModel(nameplate, seed=1)
    curve = model.iv_curve(1000.0, 25.0, points=41)
    assert len(curve) == 41
    assert curve[0].voltage_v == 0.0
    assert curve[-1].voltage_v == pytest.approx(480.0)
    assert curve[-1].current_a == pytest.approx(0.0, abs=1e-4)
    best = max(curve, key=lambda p: p.power_w)
    assert best.voltage_v == pytest.approx(400.0)
    assert best.power_w == pytest.approx(12.0 * 0.86 * 1000.0)
    currents = [p.current_a for p in curve]
    assert all(a >= b for a, b in itertools.pairwise(currents))
    fine = model.iv_curve(1000.0, 25.0, points=20001)
    assert max(p.power_w for p in fine) <= best.power_w * (1 + 1e-9)
    assert model.iv_curve(0.0, 25.0) == [(0.0, 0.0, 0.0)]


def test_cold_cells_raise_the_open_circuit_voltage() -> None:
    """β_V < 0: V_oc at −10 °C cells exceeds V_oc at 25 °C (cold-morning input-voltage case)."""
    model = PvModel(seed=1)
    cold = model.iv_curve(1000.0, -10.0)[-1].voltage_v
    warm = model.iv_curve(1000.0, 25.0)[-1].voltage_v
    assert cold == pytest.approx(480.0 * (1 + 0.003 * 35))
    assert cold > warm


def _clear_day_energy_kwh(nameplate: PvNameplate, dt_s: float) -> float:
    model = PvModel(nameplate, seed=1, clouds=False)
    counters = EnergyCounters()
    steps = round(86400.0 / dt_s)
    for i in range(steps):
        env = Environment(sim_time=MIDNIGHT + timedelta(seconds=(i + 1) * dt_s))
        out = model.step(env, Dispatch(), dt_s)
        counters.integrate(out.ac_power_kw, out.reactive_power_kvar, dt_s)
    return counters.injected_kwh


def _clear_sky_insolation_kwh_m2() -> float:
    site = SolarSite(35.0)
    total_wh = 0.0
    for minute in range(1440):
        total_wh += site.sun(MIDNIGHT + timedelta(minutes=minute + 0.5))[1] / 60.0
    return total_wh / 1000.0


@pytest.mark.parametrize("dc_rating_kw", [12.0, 14.0])
def test_clear_solstice_day_energy_is_plausible_at_any_tick(dc_rating_kw: float) -> None:
    """Daily AC energy on a clear 21 June at 35° N (horizontal array), dt = 1.5 s and 600 s.

    Band: the Ineichen day (T_L 3) gives H ≈ 8.5 kWh/m², so the DC energy before temperature,
    inverter and clipping losses is H·P_dc0·(1 − 0.14) (≈ 88 kWh for 12 kW, 102 for 14 kW).
    The remaining factors are the energy-weighted temperature factor (cells ≈ 30-55 °C while
    producing: 0.89-0.98), the inverter's energy-weighted efficiency (0.95-0.962) and clipping
    (≤ 5 % of the energy at DC/AC 1.4), so E_ac/(H·P_dc0·0.86) ∈ [0.80, 0.95]. This is
    6.0-7.1 kWh/kWp for 14 kW, in line with a clear early-summer day at a sunny mid-latitude
    site. The two step sizes agree within 0.2 %.
    """
    nameplate = PvNameplate(dc_rating_kw=dc_rating_kw, tilt_deg=0.0)
    insolation = _clear_sky_insolation_kwh_m2()
    assert insolation == pytest.approx(8.5, abs=0.4)
    reference_kwh = insolation * dc_rating_kw * 0.86
    fine = _clear_day_energy_kwh(nameplate, 1.5)
    coarse = _clear_day_energy_kwh(nameplate, 600.0)
    assert 0.80 * reference_kwh <= fine <= 0.95 * reference_kwh
    assert coarse == pytest.approx(fine, rel=0.002)


def test_cloudy_days_never_beat_the_clear_day() -> None:
    """k ≤ 1: a seeded cloudy day yields no more energy than the clear-sky day."""
    clear = _clear_day_energy_kwh(PvNameplate(), 600.0)
    for seed in range(5):
        model = PvModel(seed=seed)
        energy = 0.0
        for i in range(144):
            env = Environment(sim_time=MIDNIGHT + timedelta(seconds=(i + 1) * 600.0))
            energy += model.step(env, Dispatch(), 600.0).ac_power_kw / 6.0
        assert energy <= clear + 1e-9


def test_same_seed_and_steps_give_identical_output() -> None:
    """Determinism: the seed and the Δt sequence fix every output; another seed differs."""

    def run(seed: int) -> list[tuple[float, float, float]]:
        model = PvModel(seed=seed)
        outs = []
        t = SOLSTICE_NOON.replace(hour=7)
        for dt in [1.5, 60.0, 1.5, 900.0, 0.01, 300.0] * 20:
            t += timedelta(seconds=dt)
            out = model.step(Environment(sim_time=t), Dispatch(), dt)
            outs.append((out.ac_power_kw, out.dc_voltage_v, out.asset["cell_temperature_c"]))
        return outs

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_cell_temperature_lags_toward_sapm_steady_state() -> None:
    """First-order thermal lag (τ = 300 s): after one τ the cell covers 63 % of a step change."""
    model = PvModel(seed=1)
    env_dark = Environment(
        SOLSTICE_NOON, irradiance_w_m2=0.0, irradiance_is_poa=True, ambient_temperature_c=20.0
    )
    env_sun = Environment(
        SOLSTICE_NOON,
        irradiance_w_m2=1000.0,
        irradiance_is_poa=True,
        ambient_temperature_c=20.0,
        wind_speed_m_s=1.0,
    )
    assert model.step(env_dark, Dispatch(), 1.5).asset["cell_temperature_c"] == 20.0
    out = model.step(env_sun, Dispatch(), 300.0)
    steady = sapm_cell_temperature_c(1000.0, 20.0, 1.0)
    assert out.asset["cell_temperature_c"] == pytest.approx(
        20.0 + (steady - 20.0) * (1 - math.exp(-1.0))
    )


def test_default_ambient_follows_the_diurnal_model() -> None:
    """No ambient input: 20 + 6·cos(ω − 45°) °C, 26 °C at 15:00 solar time, 14 °C at 03:00."""
    model = PvModel(seed=1)
    eot_min = -1.6  # 21 June, Spencer: solar time = clock time + EoT (λ on the zone meridian)
    afternoon = SOLSTICE_NOON.replace(hour=15) - timedelta(minutes=eot_min)
    night = SOLSTICE_NOON.replace(hour=3) - timedelta(minutes=eot_min)
    warm = model.step(Environment(sim_time=afternoon), Dispatch(), 1.5)
    cold = model.step(Environment(sim_time=night), Dispatch(), 1.5)
    assert warm.asset["ambient_temperature_c"] == pytest.approx(26.0, abs=0.01)
    assert cold.asset["ambient_temperature_c"] == pytest.approx(14.0, abs=0.01)


optional_float = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(-100.0, 3000.0)
)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    irradiance=optional_float,
    in_plane=st.booleans(),
    ambient=optional_float,
    wind=optional_float,
    limit_pct=st.one_of(st.floats(min_value=-20.0, max_value=150.0), st.floats()),
    dt_s=st.floats(min_value=0.01, max_value=3600.0),
    when=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2060, 1, 1),
        timezones=st.sampled_from([UTC, MST, timezone(timedelta(hours=10))]),
    ),
    dc_rating_kw=st.floats(min_value=1.0, max_value=30.0),
)
def test_outputs_are_finite_and_respect_every_limit(
    seed: int,
    irradiance: float | None,
    in_plane: bool,
    ambient: float | None,
    wind: float | None,
    limit_pct: float,
    dt_s: float,
    when: datetime,
    dc_rating_kw: float,
) -> None:
    """Property: 0 ≤ P_ac ≤ min(WMax, limit); P_dc ≥ P_ac; V·I = P_dc; Q = 0 so S = P, PF = 1;
    V ≤ V_oc; every number finite (also for NaN/inf/negative inputs, which are clamped);
    state among sleeping/running/throttled."""
    model = PvModel(PvNameplate(dc_rating_kw=dc_rating_kw), seed=seed)
    for _ in range(3):
        env = Environment(
            sim_time=when,
            irradiance_w_m2=irradiance,
            irradiance_is_poa=in_plane,
            ambient_temperature_c=ambient,
            wind_speed_m_s=wind,
        )
        out = model.step(env, Dispatch(active_power_limit_pct=limit_pct), dt_s)
        numbers = [
            out.ac_power_kw,
            out.reactive_power_kvar,
            out.dc_power_kw,
            out.dc_voltage_v,
            out.dc_current_a,
            *(v for v in out.asset.values() if isinstance(v, float)),
        ]
        assert all(math.isfinite(x) for x in numbers)
        pct = 100.0 if math.isnan(limit_pct) else limit_pct
        limit_kw = min(10.0, max(0.0, min(pct, 100.0)) / 10.0)
        assert 0.0 <= out.ac_power_kw <= limit_kw + 1e-9
        assert out.reactive_power_kvar == 0.0
        assert math.hypot(out.ac_power_kw, out.reactive_power_kvar) == out.ac_power_kw
        assert out.dc_power_kw >= out.ac_power_kw
        assert out.dc_voltage_v * out.dc_current_a == pytest.approx(
            out.dc_power_kw * 1000.0, rel=1e-9, abs=1e-9
        )
        assert out.dc_voltage_v <= out.asset["dc_open_circuit_voltage_v"] + 1e-9
        assert out.inverter_state in {"sleeping", "running", "throttled"}
        if out.inverter_state == "sleeping":
            assert out.ac_power_kw == out.dc_power_kw == 0.0
        if out.inverter_state == "throttled":
            assert out.ac_power_kw == pytest.approx(limit_kw)
        when += timedelta(seconds=dt_s)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    dts=st.lists(st.floats(min_value=0.01, max_value=3600.0), min_size=1, max_size=40),
    start_hour=st.integers(min_value=0, max_value=23),
)
def test_energy_counter_is_monotonic_over_any_step_sequence(
    seed: int, dts: list[float], start_hour: int
) -> None:
    """Property: PV only injects, so TotWhInj never decreases and TotWhAbs stays 0."""
    model = PvModel(seed=seed)
    counters = EnergyCounters()
    t = SOLSTICE_NOON.replace(hour=start_hour)
    last = 0.0
    for dt in dts:
        t += timedelta(seconds=dt)
        out = model.step(Environment(sim_time=t), Dispatch(), dt)
        counters.integrate(out.ac_power_kw, out.reactive_power_kvar, dt)
        assert counters.injected_kwh >= last
        last = counters.injected_kwh
    assert counters.absorbed_kwh == 0.0


@pytest.mark.parametrize("v_oc_stc_v", [400.0, 800.0])
def test_nameplate_rejects_an_implausible_vmp_voc_ratio(v_oc_stc_v: float) -> None:
    """V_mp/V_oc outside [0.7, 0.92] (c-Si ≈ 0.8, thin film ≈ 0.72) is refused."""
    with pytest.raises(ValueError, match="v_mp_stc_v"):
        PvNameplate(v_oc_stc_v=v_oc_stc_v)


def _fleet_cases() -> tuple[list[PvNameplate], list[list[Environment]], list[list[Dispatch]]]:
    """Five differing nameplates, 60 steps from 06:00 with every kind of input in turn."""
    plates = [
        PvNameplate(),
        PvNameplate(ac_type="single", w_max_kw=5.0, dc_rating_kw=4.0, thermal_time_constant_s=0.0),
        PvNameplate(mppt_v_min_v=420.0, mppt_v_max_v=450.0, tilt_deg=60.0),
        PvNameplate(w_max_kw=100.0, dc_rating_kw=140.0, azimuth_deg=90.0),
        PvNameplate(v_oc_stc_v=500.0, tilt_deg=0.0, start_threshold_kw=0.5),
    ]
    start = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)
    inputs = itertools.cycle(
        [
            {},
            {"irradiance_w_m2": 850.0},
            {"irradiance_w_m2": 600.0, "irradiance_is_poa": True},
            {"irradiance_w_m2": math.nan, "ambient_temperature_c": 41.0},
            {"wind_speed_m_s": 12.0, "ambient_temperature_c": math.nan},
            {"irradiance_w_m2": 5000.0, "wind_speed_m_s": math.inf},
        ]
    )
    limits = itertools.cycle([100.0, 100.0, 40.0, 0.0, math.nan, 150.0, 7.5])
    envs = []
    dispatches = []
    for tick in range(60):
        when = start + timedelta(minutes=10 * tick)
        envs.append([Environment(sim_time=when, **next(inputs)) for _ in plates])  # type: ignore[arg-type]
        dispatches.append([Dispatch(active_power_limit_pct=next(limits)) for _ in plates])
    return plates, envs, dispatches


def test_a_fleet_steps_each_row_as_the_device_alone() -> None:
    """One implementation: rows of a ``PvFleet`` stepped together equal the same devices built
    alone (fleets of one) and stepped one by one, bit for bit, clouds included."""
    plates, envs, dispatches = _fleet_cases()
    seeds = [11, 12, 13, 14, 15]
    site_fleet, site_alone = SolarSite(), SolarSite()
    fleet = PvFleet(plates, seeds, site=site_fleet)
    alone = [PvModel(p, seed=s, site=site_alone) for p, s in zip(plates, seeds, strict=True)]
    assert [m.row for m in fleet.members()] == list(range(5))
    states = set()
    for tick_envs, tick_dispatches in zip(envs, dispatches, strict=True):
        together = fleet.step_rows(range(5), tick_envs, tick_dispatches, 600.0)
        one_by_one = [
            model.step(env, dispatch, 600.0)
            for model, env, dispatch in zip(alone, tick_envs, tick_dispatches, strict=True)
        ]
        assert together == one_by_one
        states |= {out.inverter_state for out in together}
    assert states == {"running", "throttled", "sleeping"}


def test_rows_of_a_fleet_can_be_stepped_apart() -> None:
    """Stepping some rows (in any order) leaves the others' state untouched: a row stepped
    later gives what it would have given in step with the rest."""
    plates, envs, dispatches = _fleet_cases()
    seeds = [1, 2, 3, 4, 5]
    reference = PvFleet(plates, seeds, site=SolarSite())
    split = PvFleet(plates, seeds, site=SolarSite())
    for tick_envs, tick_dispatches in zip(envs[:20], dispatches[:20], strict=True):
        expected = reference.step_rows(range(5), tick_envs, tick_dispatches, 600.0)
        odd = split.step_rows(
            [3, 1], [tick_envs[3], tick_envs[1]], [tick_dispatches[3], tick_dispatches[1]], 600.0
        )
        even = [split.members()[k].step(tick_envs[k], tick_dispatches[k], 600.0) for k in (4, 2, 0)]
        assert odd == [expected[3], expected[1]]
        assert even == [expected[4], expected[2], expected[0]]


def test_a_fleet_needs_one_seed_per_nameplate_and_one_site() -> None:
    with pytest.raises(ValueError, match="one seed per nameplate"):
        PvFleet([PvNameplate()], [1, 2])
    with pytest.raises(ValueError, match="one seed per nameplate"):
        PvFleet([], [])
    with pytest.raises(ValueError, match="different sites"):
        PvFleet([PvNameplate(), PvNameplate(latitude_deg=-30.0)], [1, 2])


def test_rows_outside_the_fleet_or_unmatched_inputs_are_refused() -> None:
    """The compiled loop does not check its indices: the fleet does, before it."""
    fleet = PvFleet([PvNameplate()] * 3, [1, 2, 3])
    env = Environment(sim_time=SOLSTICE_NOON)
    for rows in ([3], [0, -1], range(1, 4)):
        with pytest.raises(IndexError, match="outside a fleet of 3"):
            fleet.step_rows(rows, [env] * len(rows), [Dispatch()] * len(rows), 1.5)
    with pytest.raises(ValueError, match="one environment"):
        fleet.step_rows([0, 1], [env], [Dispatch()] * 2, 1.5)
    alone = PvModel()
    with pytest.raises(IndexError, match="outside a fleet of 1"):
        alone.fleet.step_rows([5], [env], [Dispatch()], 1.5)
