"""PV against pvlib's PVWatts model chain with the same array, on clear days.

Reference: pvlib ``ModelChain.with_pvwatts`` (SPA sun position, Ineichen clear sky with the
Linke turbidity climatology, Perez transposition, physical IAM, SAPM cell temperature, PVWatts
DC and inverter) for the default device (14 kW DC with 14 % losses, 10 kW PVWatts inverter,
20° tilt facing south) at the default site (35° N, 0° E, UTC; its terrain altitude from pvlib),
air at 25 °C and 1 m/s wind. The model runs with ``clouds=False`` on its own clear sky, stepped
every minute through the day.

Targets (the physics-fidelity issue): on clear days in June and December, hourly AC power
within 5 % with the sun above 10°, daily energy within 3 %.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pvlib
import pytest

from dersim_trio.physics.base import Dispatch, Environment
from dersim_trio.physics.pv import PvModel, PvNameplate
from dersim_trio.physics.solar import quiet_pvlib
from dersim_trio.setup.solar_site import site_climatology, solar_site

LATITUDE = 35.0
LONGITUDE = 0.0
PLATE = PvNameplate(latitude_deg=LATITUDE, longitude_deg=LONGITUDE)
AIR_C = 25.0
WIND_M_S = 1.0
STEP_S = 60.0


def pvwatts_chain(day: datetime) -> pd.DataFrame:
    """pvlib's PVWatts chain for the default array over one day at one-minute resolution."""
    _, altitude = site_climatology(LATITUDE, LONGITUDE)
    location = pvlib.location.Location(LATITUDE, LONGITUDE, tz="UTC", altitude=altitude)
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=PLATE.tilt_deg,
        surface_azimuth=180.0,
        module_parameters={
            "pdc0": PLATE.dc_rating_kw * 1000.0 * (1.0 - PLATE.system_losses),
            "gamma_pdc": PLATE.gamma_pdc_per_c,
        },
        inverter_parameters={
            "pdc0": PLATE.w_max_kw * 1000.0 / PLATE.eta_inv_nom,
            "eta_inv_nom": PLATE.eta_inv_nom,
            "eta_inv_ref": PLATE.eta_inv_ref,
        },
        temperature_model_parameters={
            "a": PLATE.sapm_a,
            "b": PLATE.sapm_b,
            "deltaT": PLATE.sapm_delta_t_c,
        },
    )
    chain = pvlib.modelchain.ModelChain.with_pvwatts(system, location, losses_model="no_loss")
    times = pd.date_range(day, periods=24 * 60, freq="1min")
    with quiet_pvlib():
        weather = location.get_clearsky(times)
        weather["temp_air"] = AIR_C
        weather["wind_speed"] = WIND_M_S
        chain.run_model(weather)
    return pd.DataFrame(
        {
            "ac_kw": np.clip(np.asarray(chain.results.ac, dtype=float), 0.0, None) / 1000.0,
            "elevation": chain.results.solar_position["apparent_elevation"].to_numpy(),
        },
        index=times,
    )


def model_day(day: datetime) -> pd.Series:
    """The device model over the same day, one step per minute."""
    site = solar_site(LATITUDE, LONGITUDE, day)
    model = PvModel(PLATE, seed=1, clouds=False, site=site)
    values = []
    times = []
    for minute in range(24 * 60):
        when = day + timedelta(seconds=minute * STEP_S)
        env = Environment(when, ambient_temperature_c=AIR_C, wind_speed_m_s=WIND_M_S)
        values.append(model.step(env, Dispatch(), STEP_S).ac_power_kw)
        times.append(when)
    return pd.Series(values, index=pd.DatetimeIndex(times))


@pytest.fixture(scope="module", params=["2026-06-21", "2026-12-21"])
def clear_day(request: pytest.FixtureRequest) -> tuple[pd.DataFrame, pd.Series]:
    day = datetime.fromisoformat(request.param).replace(tzinfo=UTC)
    return pvwatts_chain(day), model_day(day)


def test_hourly_ac_matches_pvwatts_within_5_percent_above_10_degrees(
    clear_day: tuple[pd.DataFrame, pd.Series],
) -> None:
    reference, model = clear_day
    hours = reference.index[(reference.index.minute == 0) & (reference["elevation"] > 10.0)]
    assert len(hours) >= 7
    for hour in hours:
        expected = reference.loc[hour, "ac_kw"]
        assert model.loc[hour] == pytest.approx(expected, rel=0.05), hour


def test_daily_energy_matches_pvwatts_within_3_percent(
    clear_day: tuple[pd.DataFrame, pd.Series],
) -> None:
    reference, model = clear_day
    expected_kwh = reference["ac_kw"].sum() * STEP_S / 3600.0
    assert model.sum() * STEP_S / 3600.0 == pytest.approx(expected_kwh, rel=0.03)
