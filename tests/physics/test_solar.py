"""Sun position, Haurwitz clear sky and the seeded cloud model (physics reference B.1 items 1-2)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.solar import (
    CloudModel,
    SunTracker,
    declination_spencer71_rad,
    default_longitude_deg,
    equation_of_time_spencer71_min,
    haurwitz_ghi_from_cos_zenith,
    haurwitz_ghi_w_m2,
    hour_angle_deg,
    solar_zenith_analytical_rad,
)


@pytest.mark.parametrize(
    ("zenith_deg", "expected_w_m2"), [(0.0, 1035.0), (30.0, 888.0), (60.0, 488.0), (80.0, 136.0)]
)
def test_haurwitz_clear_sky_ghi_matches_reference_points(
    zenith_deg: float, expected_w_m2: float
) -> None:
    """Physics reference B.1.2 (computed with pvlib.clearsky.haurwitz): 1035/888/488/136 W/m²."""
    assert haurwitz_ghi_w_m2(zenith_deg) == pytest.approx(expected_w_m2, abs=0.6)


@pytest.mark.parametrize("zenith_deg", [90.0, 95.0, 120.0, 180.0])
def test_haurwitz_is_zero_when_the_sun_is_down(zenith_deg: float) -> None:
    """pvlib.clearsky.haurwitz returns 0 where cos z ≤ 0."""
    assert haurwitz_ghi_w_m2(zenith_deg) == pytest.approx(0.0, abs=1e-9)
    assert haurwitz_ghi_from_cos_zenith(-0.2) == 0.0


@pytest.mark.parametrize(
    ("day_of_year", "expected_deg"), [(172, 23.44), (355, -23.44), (80, 0.0), (266, 0.0)]
)
def test_spencer_declination_reaches_the_tropics_at_the_solstices(
    day_of_year: int, expected_deg: float
) -> None:
    """Declination ±23.44° at the June/December solstices and ≈0 at the equinoxes (Spencer 1971)."""
    assert math.degrees(declination_spencer71_rad(day_of_year)) == pytest.approx(
        expected_deg, abs=0.5
    )


@pytest.mark.parametrize(("day_of_year", "expected_min"), [(42, -14.2), (307, 16.4)])
def test_spencer_equation_of_time_extremes(day_of_year: int, expected_min: float) -> None:
    """Equation of time: about −14.2 min in mid-February, +16.4 min in early November
    (Duffie & Beckman, Solar Engineering of Thermal Processes, Fig. 1.5.1)."""
    assert equation_of_time_spencer71_min(day_of_year) == pytest.approx(expected_min, abs=0.5)


def test_noon_zenith_at_the_june_solstice_is_latitude_minus_declination() -> None:
    """At solar noon (ω = 0) θz = φ − δ: 35° − 23.45° = 11.55° on 21 June."""
    dec = declination_spencer71_rad(172)
    zenith = solar_zenith_analytical_rad(math.radians(35.0), 0.0, dec)
    assert math.degrees(zenith) == pytest.approx(35.0 - math.degrees(dec), abs=1e-9)
    assert math.degrees(zenith) == pytest.approx(11.55, abs=0.05)


def test_hour_angle_follows_pvlib_definition() -> None:
    """pvlib.solarposition.hour_angle: 15·(hours − tz − 12) + longitude + EoT/4."""
    assert hour_angle_deg(14.0, -7.0, -106.6, 2.0) == pytest.approx(
        15.0 * (14.0 + 7.0 - 12.0) - 106.6 + 0.5
    )


@pytest.mark.parametrize("offset_h", [-10.0, -7.0, -3.5, 0.0, 1.0, 5.5, 9.0, 12.0])
def test_default_longitude_puts_solar_noon_at_clock_noon_in_any_timezone(offset_h: float) -> None:
    """With λ = 15°·offset, the hour angle at clock 12:00 is EoT/4 (within ±4.1°)."""
    tz = timezone(timedelta(hours=offset_h))
    noon = datetime(2025, 6, 21, 12, 0, tzinfo=tz)
    sun = SunTracker(35.0)
    cos_zenith, omega_deg = sun.position(noon)
    assert omega_deg == pytest.approx(equation_of_time_spencer71_min(172) / 4.0, abs=1e-9)
    assert math.degrees(math.acos(cos_zenith)) < 12.0
    assert default_longitude_deg(offset_h) == 15.0 * offset_h


def test_sun_tracker_matches_the_pure_functions_with_an_explicit_longitude() -> None:
    """SunTracker reproduces declination/EoT/hour angle/zenith for a fixed site (Albuquerque)."""
    when = datetime(2025, 3, 3, 9, 30, tzinfo=timezone(timedelta(hours=-7)))
    day = 62
    sun = SunTracker(35.08, -106.65)
    cos_zenith, omega = sun.position(when)
    expected_omega = hour_angle_deg(9.5, -7.0, -106.65, equation_of_time_spencer71_min(day))
    zenith = solar_zenith_analytical_rad(
        math.radians(35.08), math.radians(expected_omega), declination_spencer71_rad(day)
    )
    assert omega == pytest.approx(expected_omega)
    assert cos_zenith == pytest.approx(math.cos(zenith))


def test_naive_timestamps_are_treated_as_utc() -> None:
    """A naive datetime behaves like the same wall time in UTC."""
    sun = SunTracker(35.0)
    naive = datetime(2025, 6, 21, 15, 0)
    assert sun.position(naive) == sun.position(naive.replace(tzinfo=UTC))


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
    ("dt_s", "steps"), [(1.5, 600_000), (15.0, 200_000), (600.0, 50_000), (3600.0, 20_000)]
)
def test_cloud_model_is_mostly_clear_with_the_same_statistics_at_any_step(
    dt_s: float, steps: int
) -> None:
    """Exact discretisation: the clear fraction (75 %) and mean k (≈0.85) do not depend on Δt.

    (10 to 830 simulated days; the tolerance covers the sampling spread of 60+ regime cycles.)
    """
    model = CloudModel(11)
    clear = 0
    k_sum = 0.0
    for _ in range(steps):
        k_sum += model.advance(dt_s)
        clear += not model.cloudy
    assert clear / steps == pytest.approx(CloudModel.CLEAR_FRACTION, abs=0.06)
    assert k_sum / steps == pytest.approx(0.85, abs=0.04)


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


@settings(max_examples=200, deadline=None)
@given(
    when=st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=9))]
        ),
    ),
    latitude=st.floats(min_value=-89.0, max_value=89.0),
)
def test_clear_sky_ghi_is_finite_and_within_physical_bounds(
    when: datetime, latitude: float
) -> None:
    """Property: cos θz ∈ [−1, 1] and 0 ≤ GHI ≤ 1035 W/m² (the Haurwitz value at zenith)."""
    cos_zenith, omega = SunTracker(latitude).position(when)
    ghi = haurwitz_ghi_from_cos_zenith(cos_zenith)
    assert -1.0 <= cos_zenith <= 1.0
    assert math.isfinite(omega)
    assert 0.0 <= ghi <= 1035.1
