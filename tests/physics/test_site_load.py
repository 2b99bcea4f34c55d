"""Site load shapes (BDEW standard load profiles H25/G25 from demandlib) and a site's seeded load.

Sources: BDEW "Standardlastprofile Strom" (2025 revision) as packaged by oemof demandlib,
``src/demandlib/bdew/bdew_data/h25.csv`` and ``g25.csv`` (bundled unmodified in ``data/loads/``,
``ATTRIBUTION.md``); BDEW's dynamisation polynomial for the household profile as demandlib's
``DynamicBDEW25Profile.dynamisation_function`` writes it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dersim_trio.physics.site_load import LoadShape, SiteLoad, dynamisation_factor
from dersim_trio.setup.site_loads import load_shape, parse_load_shape


def year_energy_kwh(shape: LoadShape, year: int, kwh_per_year: float) -> float:
    """∫P̄ over a calendar year in quarter-hour steps (holidays as their weekdays), kWh."""
    total = 0.0
    day = date(year, 1, 1)
    while day.year == year:
        for quarter in range(96):
            t = datetime(day.year, day.month, day.day, quarter // 4, 15 * (quarter % 4))
            total += shape.mean_kw(t, kwh_per_year) / 4.0
        day += timedelta(days=1)
    return total


def test_the_household_table_quotes_its_first_cell() -> None:
    """h25.csv, row 00:00-00:15, column Januar/WT: 20.126 kWh per quarter hour per GWh a year;
    for a 5000 kWh home on 1 January that is 4·20.126·5000/10⁶ = 0.4025 kW, times the
    dynamisation F(1) = 1.24203 → 0.4999 kW."""
    shape = load_shape("residential")
    assert shape.name == "H25"
    assert shape.quarter_hour_kwh[0][0][0] == 20.126
    assert dynamisation_factor(1.0) == pytest.approx(1.2420301, rel=1e-6)
    wednesday = datetime(2025, 1, 1, 0, 5)  # a workday in the table's sense (holidays ignored)
    assert shape.mean_kw(wednesday, 5000.0) == pytest.approx(
        4 * 20.126 * 5000 / 1e6 * 1.2420301, rel=1e-6
    )


@pytest.mark.parametrize(("kind", "tolerance"), [("residential", 0.01), ("commercial", 0.02)])
def test_a_year_of_the_shape_delivers_the_yearly_energy(kind: str, tolerance: float) -> None:
    """BDEW normalises each profile to 1,000,000 kWh a year: over 2025 the household profile
    (with its dynamisation) gives 995,057 kWh and the commercial one 1,018,013 kWh, the gaps
    being the public holidays the model counts as weekdays (they are Sundays in BDEW's use)."""
    shape = load_shape(kind)  # type: ignore[arg-type]
    assert year_energy_kwh(shape, 2025, 5000.0) == pytest.approx(5000.0, rel=tolerance)


def test_households_peak_in_the_evening_and_businesses_on_weekday_mornings() -> None:
    h25, g25 = load_shape("residential"), load_shape("commercial")
    weekday = datetime(2025, 3, 12)
    night, noon, evening = (weekday.replace(hour=h) for h in (3, 11, 19))
    assert h25.mean_kw(evening, 1e6) > h25.mean_kw(noon, 1e6) > h25.mean_kw(night, 1e6)
    assert g25.mean_kw(noon, 1e6) > 2 * g25.mean_kw(night, 1e6)
    sunday_noon = datetime(2025, 3, 16, 11)
    assert g25.mean_kw(sunday_noon, 1e6) < 0.6 * g25.mean_kw(noon, 1e6)


def test_the_seeded_scatter_keeps_the_mean_and_repeats_for_a_seed() -> None:
    """The lognormal factor has mean 1: a site's energy over four weeks is the shape's within
    3 %; one seed gives one sequence, another seed another."""
    shape = load_shape("residential")
    start = datetime(2025, 6, 1, tzinfo=UTC)
    mean_kwh = site_kwh = 0.0
    site, again, other = (
        SiteLoad(shape, 5000.0, 7),
        SiteLoad(shape, 5000.0, 7),
        SiteLoad(shape, 5000.0, 8),
    )
    first: list[float] = []
    for k in range(1, 28 * 96 + 1):
        t = start + timedelta(minutes=15 * k)
        value = site.step(t, 900.0)
        assert value >= 0.0
        site_kwh += value / 4.0
        mean_kwh += shape.mean_kw(t - timedelta(minutes=7.5), 5000.0) / 4.0
        if k <= 20:
            first.append(value)
            assert again.step(t, 900.0) == value
            other.step(t, 900.0)
    assert site_kwh == pytest.approx(mean_kwh, rel=0.03)
    assert max(first) > 1.3 * min(first)  # it does scatter
    assert SiteLoad(shape, 5000.0, 8).step(start, 900.0) != SiteLoad(shape, 5000.0, 7).step(
        start, 900.0
    )


def test_without_scatter_the_site_follows_the_shape() -> None:
    shape = load_shape("commercial")
    site = SiteLoad(shape, 30000.0, variability=False)
    t = datetime(2025, 3, 12, 10, 15)
    assert site.step(t, 900.0) == shape.mean_kw(t - timedelta(minutes=7.5), 30000.0)


def test_a_table_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 2 header rows and 96 quarter hours"):
        parse_load_shape(",Januar\n[kWh],WT\n00:00-00:15,1\n", "X", dynamic=False)
    with pytest.raises(ValueError, match="need 12 months"):
        LoadShape("X", (), dynamic=False)
