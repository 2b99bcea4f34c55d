"""Sun, clear sky and plane-of-array irradiance of a site (``physics/solar.py``, pvlib), and the
seeded cloud model."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.clouds import CloudArray, CloudModel
from dersim_trio.physics.solar import (
    Geometry,
    SolarSite,
    equator_facing_azimuth_deg,
    quiet_pvlib,
)

SOLSTICE = datetime(2026, 6, 21, tzinfo=UTC)
SOUTH_20 = Geometry(20.0, 180.0)


def test_noon_zenith_at_the_june_solstice_is_latitude_minus_declination() -> None:
    """35° N, 21 June, solar noon on the prime meridian: zenith ≈ 35° − 23.44° = 11.56°."""
    site = SolarSite(35.0, 0.0)
    zenith = min(site.sun(SOLSTICE + timedelta(minutes=m))[0] for m in range(11 * 60, 13 * 60))
    assert zenith == pytest.approx(35.0 - 23.44, abs=0.05)


def test_night_brings_no_irradiance() -> None:
    site = SolarSite(35.0, 0.0)
    index = site.add_array(SOUTH_20)
    zenith, ghi, _ = site.sun(SOLSTICE)
    assert zenith > 90.0
    assert ghi == 0.0
    assert site.clear_sky(SOLSTICE, index) == (0.0, 0.0)
    assert site.from_ghi(SOLSTICE, 300.0, index) == (0.0, 0.0)


def test_identical_orientations_share_one_array() -> None:
    site = SolarSite()
    assert site.add_array(SOUTH_20) == site.add_array(Geometry(20.0, 180.0)) == 0
    assert site.add_array(Geometry(30.0, 90.0)) == 1
    assert site.geometries == (SOUTH_20, Geometry(30.0, 90.0))


def test_equator_facing_is_south_in_the_north_and_north_in_the_south() -> None:
    assert equator_facing_azimuth_deg(35.0) == 180.0
    assert equator_facing_azimuth_deg(-33.9) == 0.0


def test_linke_turbidity_comes_from_the_given_climatology_by_day_of_year() -> None:
    site = SolarSite(linke_turbidity_by_day=[2.0 + d / 1000.0 for d in range(366)])
    assert site.linke_turbidity(1) == 2.0
    assert site.linke_turbidity(366) == pytest.approx(2.365)
    assert SolarSite().linke_turbidity(100) == 3.0
    with pytest.raises(ValueError, match="366"):
        SolarSite(linke_turbidity_by_day=[3.0] * 12)


def _pvlib_at(when: datetime, geometry: Geometry) -> tuple[float, float]:
    """pvlib evaluated at the instant itself: (POA global, effective) under the clear sky."""
    times = pd.DatetimeIndex([pd.Timestamp(when)])
    with quiet_pvlib():
        position = pvlib.solarposition.get_solarposition(times, 35.0, 0.0, altitude=0.0)
        zenith = position["apparent_zenith"].to_numpy()
        azimuth = position["azimuth"].to_numpy()
        extra = np.asarray(pvlib.irradiance.get_extra_radiation(times))
        am_rel = np.asarray(pvlib.atmosphere.get_relative_airmass(zenith))
        am_abs = pvlib.atmosphere.get_absolute_airmass(am_rel, 101325.0)
        cs = pvlib.clearsky.ineichen(zenith, am_abs, 3.0, altitude=0.0, dni_extra=extra)
        poa = pvlib.irradiance.get_total_irradiance(
            geometry.tilt_deg,
            geometry.azimuth_deg,
            zenith,
            azimuth,
            cs["dni"],
            cs["ghi"],
            cs["dhi"],
            dni_extra=extra,
            airmass=am_rel,
            model="perez",
        )
        aoi = pvlib.irradiance.aoi(geometry.tilt_deg, geometry.azimuth_deg, zenith, azimuth)
        iam = pvlib.iam.physical(aoi)
    direct = float(np.asarray(poa["poa_direct"])[0])
    diffuse = float(np.asarray(poa["poa_diffuse"])[0])
    return direct + diffuse, direct * float(np.asarray(iam)[0]) + diffuse


@pytest.mark.parametrize("day", [SOLSTICE, datetime(2026, 12, 21, tzinfo=UTC)])
def test_the_one_minute_day_grid_matches_pvlib_at_the_instant(day: datetime) -> None:
    """``solar.py`` docstring: interpolation changes POA by < 0.1 % with the sun above 5°."""
    site = SolarSite(35.0, 0.0)
    index = site.add_array(SOUTH_20)
    for seconds in range(6 * 3600 + 17, 18 * 3600, 1234):
        when = day + timedelta(seconds=seconds)
        if site.sun(when)[0] > 85.0:
            continue
        glob, eff = _pvlib_at(when, SOUTH_20)
        got = site.clear_sky(when, index)
        assert got.poa_global_w_m2 == pytest.approx(glob, rel=1e-3)
        assert got.effective_w_m2 == pytest.approx(eff, rel=1e-3)


def test_a_tilted_array_gains_in_winter_and_loses_a_little_in_summer() -> None:
    """20° toward the equator at 35° N: more than GHI at a December noon, about GHI in June."""
    site = SolarSite(35.0, 0.0)
    tilted = site.add_array(SOUTH_20)
    flat = site.add_array(Geometry(0.0, 180.0))
    december_noon = datetime(2026, 12, 21, 12, tzinfo=UTC)
    assert site.clear_sky(december_noon, tilted).poa_global_w_m2 > 1.25 * site.sun(december_noon)[1]
    assert site.clear_sky(december_noon, flat).poa_global_w_m2 == pytest.approx(
        site.sun(december_noon)[1], rel=0.01
    )
    june_noon = SOLSTICE.replace(hour=12)
    assert site.clear_sky(june_noon, tilted).poa_global_w_m2 == pytest.approx(
        site.sun(june_noon)[1], rel=0.05
    )


def test_a_measured_ghi_is_split_with_erbs_and_transposed() -> None:
    """Erbs then Perez: a flat array receives the GHI itself; a tilted one, GHI transposed."""
    site = SolarSite(35.0, 0.0)
    flat = site.add_array(Geometry(0.0, 180.0))
    tilted = site.add_array(SOUTH_20)
    when = datetime(2026, 12, 21, 12, tzinfo=UTC)
    assert site.from_ghi(when, 400.0, flat).poa_global_w_m2 == pytest.approx(400.0, rel=1e-6)
    assert site.from_ghi(when, 400.0, tilted).poa_global_w_m2 > 400.0
    assert site.from_ghi(when, 400.0, tilted) is site.from_ghi(when, 400.0, tilted)


def test_default_longitude_puts_solar_noon_near_clock_noon_in_any_timezone() -> None:
    """No longitude: the zone's central meridian, so solar noon is clock noon ± the EoT."""
    for hours in (-7, 0, 9):
        tz = timezone(timedelta(hours=hours))
        site = SolarSite(35.0)
        noon = datetime(2026, 6, 21, 12, tzinfo=tz)
        _, _, hour_angle = site.sun(noon)
        assert abs(hour_angle) < 16.5 / 4.0  # |EoT| ≤ 16.5 min, 4 min per degree


def test_cloud_index_stays_in_bounds_and_is_deterministic_per_seed() -> None:
    """Same seed and dt sequence → same k sequence; k ∈ [0.1, 1]."""
    dts = [1.5, 0.01, 600.0, 3600.0, 1.5, 30.0] * 200
    a, b, c = CloudModel(7), CloudModel(7), CloudModel(8)
    seq_a = [a.advance(dt) for dt in dts]
    seq_b = [b.advance(dt) for dt in dts]
    seq_c = [c.advance(dt) for dt in dts]
    assert seq_a == seq_b
    assert seq_a != seq_c
    assert all(0.1 <= k <= 1.0 for k in seq_a + seq_c)


@pytest.mark.parametrize(
    ("dt_s", "steps"), [(1.5, 6_000), (15.0, 2_000), (600.0, 500), (3600.0, 200)]
)
def test_cloud_model_is_mostly_clear_with_the_same_statistics_at_any_step(
    dt_s: float, steps: int
) -> None:
    """Exact discretisation: the clear fraction (75 %) and mean k (≈0.85) do not depend on Δt.

    2,000 skies, each from its own seed, over 2.5 h to 8 simulated days each (the skies start
    in the stationary distribution, so the fleet's average over time and skies estimates the
    long-run statistics; the tolerance covers the spread of 2,000 × 1 to 50 regime cycles).
    """
    skies = CloudArray(range(1000, 3000))
    rows = np.arange(len(skies))
    clear = 0
    k_sum = 0.0
    for _ in range(steps):
        k_sum += float(skies.advance(rows, dt_s).sum())
        clear += int((~skies.cloudy(rows)).sum())
    total = steps * len(skies)
    assert clear / total == pytest.approx(CloudModel.CLEAR_FRACTION, abs=0.03)
    assert k_sum / total == pytest.approx(0.85, abs=0.03)


def test_a_sky_is_the_same_alone_or_in_a_fleet() -> None:
    """Counter-based streams: sky k of a fleet equals a sky built alone with its seed, and
    stepping some rows of a fleet leaves the others' streams where they were."""
    seeds = [5, 17, 2**40 + 3, 0]
    fleet = CloudArray(seeds)
    every = np.arange(len(seeds))
    alone = [CloudModel(s) for s in seeds]
    for step in range(200):
        dt = (1.5, 600.0, 0.01)[step % 3]
        ks = fleet.advance(every, dt).tolist()
        assert ks == [sky.advance(dt) for sky in alone]
    some = np.array([1, 3], dtype=np.intp)
    before = fleet.clear_sky_index(every).tolist()
    fleet.advance(some, 1.5)
    after = fleet.clear_sky_index(every).tolist()
    assert (after[0], after[2]) == (before[0], before[2])
    assert [after[1], after[3]] == [alone[1].advance(1.5), alone[3].advance(1.5)]


def test_cloud_model_ignores_non_positive_steps() -> None:
    """dt ≤ 0 or NaN leaves the sky unchanged."""
    model = CloudModel(3)
    k = model.clear_sky_index
    assert model.advance(0.0) == k
    assert model.advance(-5.0) == k
    assert model.advance(float("nan")) == k


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    dts=st.lists(st.floats(min_value=0.0, max_value=7200.0), min_size=1, max_size=50),
)
def test_cloud_index_is_finite_and_bounded_for_any_step_sequence(
    seed: int, dts: list[float]
) -> None:
    """Property: any seed and Δt sequence keeps k finite and inside [0.1, 1]."""
    model = CloudModel(seed)
    for dt in dts:
        k = model.advance(dt)
        assert math.isfinite(k)
        assert 0.1 <= k <= 1.0


@settings(max_examples=25, deadline=None)
@given(
    when=st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=9))]
        ),
    ),
    latitude=st.floats(min_value=-89.0, max_value=89.0),
    tilt=st.floats(min_value=0.0, max_value=90.0),
    azimuth=st.floats(min_value=0.0, max_value=359.0),
)
def test_irradiance_is_finite_and_within_physical_bounds(
    when: datetime, latitude: float, tilt: float, azimuth: float
) -> None:
    """Property: zenith in [0, 180], 0 ≤ GHI and POA ≤ 1.5 × the solar constant, E ≤ POA."""
    site = SolarSite(latitude)
    index = site.add_array(Geometry(tilt, azimuth))
    zenith, ghi, hour_angle = site.sun(when)
    poa = site.clear_sky(when, index)
    assert 0.0 <= zenith <= 180.0
    assert math.isfinite(hour_angle)
    assert 0.0 <= ghi <= 1361.0 * 1.05
    assert 0.0 <= poa.effective_w_m2 <= poa.poa_global_w_m2 + 1e-9 <= 1.5 * 1361.0
