"""DC-source profiles (``--dc_profile CSV``): read once, interpolated, one error line each.

Contract §1 (``-dc_p``, read once at start); documented behaviour §5.3-5.4 (profile by device
type: irradiance for PV and hybrid, wind speed for wind, none for batteries and fuel cells).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dersim_trio.engine.core import Engine
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import ConfigError, parse_args
from dersim_trio.setup.dc_profiles import TabulatedProfile, load_profile

WALL = datetime(2026, 6, 21, 12, 0, 0, tzinfo=UTC)
DAY = datetime(2026, 6, 21, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.csv"
    path.write_text(text)
    return path


def at(hms: str) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return DAY + timedelta(hours=h, minutes=m, seconds=s)


def test_a_daily_profile_interpolates_in_the_time_of_day_and_wraps_at_midnight(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "time,irradiance_w_m2\n06:00:00,100\n18:00:00,300\n")
    profile = load_profile(path, "PV-3Phase")
    assert profile.sample(at("12:00:00"), 0.0).irradiance_w_m2 == pytest.approx(200.0)
    assert profile.sample(at("18:00:00"), 0.0).irradiance_w_m2 == pytest.approx(300.0)
    # 18:00 → 06:00 next day crosses midnight: midway at 00:00, a quarter at 21:00
    assert profile.sample(at("00:00:00"), 0.0).irradiance_w_m2 == pytest.approx(200.0)
    assert profile.sample(at("21:00:00"), 0.0).irradiance_w_m2 == pytest.approx(250.0)
    assert profile.sample(at("03:00:00"), 0.0).irradiance_w_m2 == pytest.approx(150.0)
    assert profile.sample(at("00:00:00"), 0.0).ambient_temperature_c is None


def test_an_elapsed_profile_interpolates_and_loops_over_its_span(tmp_path: Path) -> None:
    path = write(tmp_path, "elapsed_s,wind_speed_m_s\n10,4\n20,14\n30,4\n")
    profile = load_profile(path, "Wind-T3-3Phase")

    def wind(elapsed_s: float) -> float | None:
        return profile.sample(DAY, elapsed_s).wind_speed_m_s

    assert wind(0.0) == pytest.approx(4.0)  # before the first row: the first value holds
    assert wind(15.0) == pytest.approx(9.0)
    assert wind(20.0) == pytest.approx(14.0)
    assert wind(35.0) == pytest.approx(9.0)  # span 20 s: 35 s is 15 s again
    assert wind(20.0 + 20.0 * 1000) == pytest.approx(14.0)


def test_optional_ambient_temperature_is_interpolated_too(tmp_path: Path) -> None:
    text = "time,irradiance_w_m2,ambient_temperature_c\n00:00:00,0,10\n12:00:00,800,30\n"
    profile = load_profile(write(tmp_path, text), "PV-1Phase")
    sample = profile.sample(at("06:00:00"), 0.0)
    assert (sample.irradiance_w_m2, sample.ambient_temperature_c) == (400.0, 20.0)


def test_sampling_a_long_profile_bisects() -> None:
    times = [float(t) for t in range(0, 86_400, 1)]
    profile = TabulatedProfile(True, times, {"irradiance_w_m2": [t % 1000 for t in times]})
    assert profile.sample(at("00:16:39"), 0.0).irradiance_w_m2 == pytest.approx(999.0)
    assert profile.sample(at("23:59:59"), 0.0).irradiance_w_m2 == pytest.approx(399.0)


PV_HEADER = "time,irradiance_w_m2\n"
BAD_PROFILES: list[tuple[str, str, str, int, str]] = [
    ("empty", "", "PV-3Phase", 1, "empty file"),
    ("unknown time column", "TimeUTC,irradiance_w_m2\n", "PV-3Phase", 1, "expected: first"),
    ("unknown column", "time,irradiance,foo\n", "PV-3Phase", 1, "'irradiance'"),
    ("missing column", "time,ambient_temperature_c\n", "PV-3Phase", 1, "irradiance_w_m2"),
    ("wind column for pv", "time,wind_speed_m_s\n", "PV-3Phase", 1, "irradiance_w_m2"),
    ("non numeric", PV_HEADER + "00:00:00,0\n12:00:00,bright\n", "PV-3Phase", 3, "not a number"),
    ("negative irradiance", PV_HEADER + "00:00:00,-1\n12:00:00,5\n", "PV-3Phase", 2, "0..1500"),
    ("irradiance too high", PV_HEADER + "00:00:00,0\n12:00:00,1501\n", "PV-3Phase", 3, "1500"),
    ("negative wind", "elapsed_s,wind_speed_m_s\n0,-2\n5,3\n", "Wind-T3-3Phase", 2, "0..75"),
    ("wind too high", "elapsed_s,wind_speed_m_s\n0,2\n5,76\n", "Wind-T4-3Phase", 3, "0..75"),
    ("bad time", PV_HEADER + "00:00:00,0\n24:00:00,5\n", "PV-3Phase", 3, "HH:MM:SS"),
    ("negative elapsed", "elapsed_s,wind_speed_m_s\n-1,2\n5,3\n", "Wind-T3-3Phase", 2, ">= 0"),
    (
        "not increasing",
        PV_HEADER + "06:00:00,0\n12:00:00,5\n12:00:00,6\n",
        "PV-3Phase",
        4,
        "strictly increasing",
    ),
    ("one row", PV_HEADER + "06:00:00,0\n", "PV-3Phase", 2, "at least 2 data rows"),
    ("short row", PV_HEADER + "06:00:00,0\n07:00:00\n", "PV-3Phase", 3, "expected 2 values"),
    ("hybrid without values", "time\n00:00:00\n12:00:00\n", "HybridDC-3Phase", 1, "load_kw"),
    ("negative load", "elapsed_s,load_kw\n0,-1\n5,3\n", "HybridDC-3Phase", 2, "0..100000"),
]


@pytest.mark.parametrize(
    ("text", "device_type", "line", "fragment"),
    [case[1:] for case in BAD_PROFILES],
    ids=[case[0] for case in BAD_PROFILES],
)
def test_each_bad_profile_is_one_config_error_line_with_its_line_number(
    tmp_path: Path, text: str, device_type: str, line: int, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(path, device_type)
    message = str(info.value)
    assert message.startswith(f"--dc_profile {path}: line {line}: ")
    assert "\n" not in message
    assert fragment in message


@pytest.mark.parametrize("device_type", ["Batt", "Batt-1Phase", "Fuelcell-3Phase"])
def test_batteries_and_fuel_cells_refuse_a_dc_profile(tmp_path: Path, device_type: str) -> None:
    path = write(tmp_path, PV_HEADER + "00:00:00,0\n12:00:00,800\n")
    with pytest.raises(ConfigError, match=r"^--dc_profile: applies only to -d PV-1Phase, "):
        parse_args(["-d", device_type, "--dc_profile", str(path)])


def pv_engine(tmp_path: Path, clock: str) -> Engine:
    path = write(tmp_path, PV_HEADER + "00:00:00,0\n06:00:00,0\n12:00:00,800\n18:00:00,0\n")
    argv = ["-N", "2", "--dc_profile", str(path), "--start_date", "2026-06-21"]
    return build_engine(parse_args([*argv, "--start_clock_time", clock]), WALL)


def test_a_pv_engine_shows_the_profile_irradiance_at_noon_and_at_night(tmp_path: Path) -> None:
    """``irradiance_w_m2`` is global horizontal: the array (20° toward the equator) receives it
    split and transposed, reported as ``ghi_w_m2`` beside the plane-of-array value."""
    noon = pv_engine(tmp_path, "12:00:00").initial()
    assert [s.asset.ghi_w_m2 for s in noon] == [800.0, 800.0]  # type: ignore[union-attr]
    assert 700.0 < noon[0].asset.irradiance_w_m2 < 900.0  # type: ignore[union-attr]
    assert noon[0].metrics.power_kw > 5.0
    night = pv_engine(tmp_path, "03:00:00").initial()
    assert night[0].asset.irradiance_w_m2 == 0.0  # type: ignore[union-attr]
    assert night[0].metrics.power_kw == 0.0


def test_every_device_shares_the_one_profile(tmp_path: Path) -> None:
    engine = pv_engine(tmp_path, "09:00:00")
    assert engine.devices[0].profile is engine.devices[1].profile is not None


def test_a_wind_engine_follows_the_profile_wind_speed(tmp_path: Path) -> None:
    path = write(tmp_path, "elapsed_s,wind_speed_m_s\n0,7.5\n60,7.5\n")
    engine = build_engine(parse_args(["-d", "Wind-T4-3Phase", "--dc_profile", str(path)]), WALL)
    snap = engine.initial()[0]
    assert snap.asset.wind_speed_m_s == pytest.approx(7.5)  # type: ignore[union-attr]


def test_a_plane_of_array_column_reaches_the_array_as_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, "time,poa_irradiance_w_m2\n00:00:00,0\n12:00:00,800\n18:00:00,0\n")
    profile = load_profile(path, "PV-3Phase")
    sample = profile.sample(at("12:00:00"), 0.0)
    assert (sample.irradiance_w_m2, sample.irradiance_is_poa) == (800.0, True)
    argv = ["--dc_profile", str(path), "--start_date", "2026-06-21", "--start_clock_time"]
    snap = build_engine(parse_args([*argv, "12:00:00"]), WALL).initial()[0]
    assert snap.asset.irradiance_w_m2 == 800.0  # type: ignore[union-attr]
    assert snap.asset.ghi_w_m2 is None  # type: ignore[union-attr]


def test_a_profile_with_both_irradiance_columns_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "time,irradiance_w_m2,poa_irradiance_w_m2\n00:00:00,0,0\n12:00:00,1,1\n")
    with pytest.raises(ConfigError, match=r"line 1: give irradiance_w_m2 .* not both"):
        load_profile(path, "PV-3Phase")
