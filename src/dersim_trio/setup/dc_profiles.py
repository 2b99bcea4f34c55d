"""DC-source profiles (``--dc_profile CSV``): a time series read once at start, sampled per tick.

CSV format (read by ``csv_rows.py``: comma-separated, UTF-8, ``#`` lines and blank lines ignored;
one header row):

* First column, the time axis, one of
  * ``time``: ``HH:MM:SS`` time of day (00:00:00..23:59:59). A daily profile: values are
    interpolated linearly in the simulator's time of day (its clock time, in
    ``--wall_clock_timezone``), wrapping from the last row to the first across midnight.
  * ``elapsed_s``: seconds since the simulation start (≥ 0). Interpolated linearly; before the
    first row the first row's values hold; after the last row the rows from the first to the
    last repeat with period (last − first) seconds.
  Times must be strictly increasing; at least 2 data rows.
* Value columns, by device type:
  * PV and HybridDC: ``irradiance_w_m2`` (global horizontal, 0..1500 W/m²; the model splits
    and transposes it to each array's tilt and azimuth) or ``poa_irradiance_w_m2`` (already in
    the plane of the array, 0..1500 W/m²), one of the two, and optionally
    ``ambient_temperature_c`` (−80..70 °C; without it the model's diurnal temperature applies).
    HybridDC also takes ``load_kw`` (the site load behind the meter, 0..100000 kW; without it
    the ``--hybrid_site_load`` shape applies), and needs only one of its three columns.
  * Wind: ``wind_speed_m_s`` (0..75 m/s, at ``--wind_anemometer_height_m``).
  Other columns are refused (the message lists the expected ones).

Example (a daily irradiance profile)::

    time,irradiance_w_m2,ambient_temperature_c
    00:00:00,0,12
    06:00:00,0,14
    12:00:00,800,25
    18:00:00,0,20

Batteries and fuel cells take no profile (setpoint-driven); EVSE session CSVs are read by
``ev_sessions_csv.py``. Every profile problem is a ``ConfigError``
``--dc_profile FILE: line N: <problem>`` (line 1 is the header).

Without ``--dc_profile`` each device uses its model's own documented, seeded source: clear-sky
irradiance with seeded clouds (``physics/solar.py``) or the seeded Weibull/OU wind
(``physics/wind/``); each device's seed keeps them different. No measured dataset is bundled:
none is available offline under a licence that allows it, and no data is invented here. With a
profile, every device sees the same inputs.

Sampling is a bisection over the row times (O(log n)) plus one linear interpolation; the engine
asks every device for the same instant, so the last sample is cached.
"""

from __future__ import annotations

import itertools
import math
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from dersim_trio.engine.core import InputProfile, ProfileSample
from dersim_trio.errors import ConfigError
from dersim_trio.setup.csv_rows import read_csv_rows

SECONDS_PER_DAY = 86_400.0

_COLUMN_RANGES: dict[str, tuple[float, float]] = {
    "irradiance_w_m2": (0.0, 1500.0),
    "ambient_temperature_c": (-80.0, 70.0),
    "wind_speed_m_s": (0.0, 75.0),
    "load_kw": (0.0, 100000.0),
}
"""Allowed range of each value column (irradiance and wind cannot be negative)."""

_TIME_COLUMNS = ("time", "elapsed_s")
_HMS = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")


def profile_columns(canonical_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) value columns for a device type; raise if it takes no profile.

    With no required column (HybridDC) at least one of the optional ones must be there.
    """
    if canonical_type.startswith("HybridDC-"):
        return (), ("irradiance_w_m2", "ambient_temperature_c", "load_kw")
    if canonical_type.startswith("PV-"):
        return ("irradiance_w_m2",), ("ambient_temperature_c",)
    if canonical_type.startswith("Wind-"):
        return ("wind_speed_m_s",), ()
    raise ConfigError(
        f"--dc_profile: {canonical_type} takes no DC-source profile "
        "(batteries and fuel cells are setpoint-driven); profiles apply to PV, HybridDC and wind"
    )


class TabulatedProfile:
    """A profile from table rows: ``time`` (daily) or ``elapsed_s`` (looping) axis."""

    def __init__(
        self,
        daily: bool,
        times_s: Sequence[float],
        columns: Mapping[str, Sequence[float]],
        *,
        irradiance_is_poa: bool = False,
    ) -> None:
        """``times_s`` strictly increasing (seconds of day, or since the start); ≥ 2 rows;
        ``irradiance_is_poa``: the ``irradiance_w_m2`` column is plane-of-array."""
        self.irradiance_is_poa = irradiance_is_poa
        if len(times_s) < 2 or any(b <= a for a, b in itertools.pairwise(times_s)):
            raise ValueError("need at least 2 strictly increasing times")
        self.daily = daily
        times = list(times_s)
        values = {name: list(col) for name, col in columns.items()}
        if daily:  # close the loop: the first row again, one day later
            times.append(times[0] + SECONDS_PER_DAY)
            for col in values.values():
                col.append(col[0])
        self._times = times
        self._first = times[0]
        self._span = times[-1] - times[0]
        self._irradiance = values.get("irradiance_w_m2")
        self._ambient = values.get("ambient_temperature_c")
        self._wind = values.get("wind_speed_m_s")
        self._load = values.get("load_kw")
        self._last_key: tuple[datetime, float] | None = None
        self._last_sample = ProfileSample()

    def _position(self, sim_time: datetime, elapsed_s: float) -> float:
        if self.daily:
            t = (
                sim_time.hour * 3600.0
                + sim_time.minute * 60.0
                + sim_time.second
                + sim_time.microsecond / 1e6
            )
            # rows start at `first`; a time of day before it lies on the wrap segment
            return t if t >= self._first else t + SECONDS_PER_DAY
        if elapsed_s <= self._first:
            return self._first
        return self._first + math.fmod(elapsed_s - self._first, self._span)

    def _interpolate(self, column: list[float] | None, i: int, frac: float) -> float | None:
        if column is None:
            return None
        return column[i] + (column[i + 1] - column[i]) * frac

    def sample(self, sim_time: datetime, elapsed_s: float) -> ProfileSample:
        """The interpolated inputs at ``sim_time`` / ``elapsed_s`` (see the module docstring)."""
        key = (sim_time, elapsed_s)
        if key == self._last_key:
            return self._last_sample
        t = self._position(sim_time, elapsed_s)
        times = self._times
        i = min(max(bisect_right(times, t) - 1, 0), len(times) - 2)
        frac = (t - times[i]) / (times[i + 1] - times[i])
        sample = ProfileSample(
            irradiance_w_m2=self._interpolate(self._irradiance, i, frac),
            irradiance_is_poa=self.irradiance_is_poa,
            ambient_temperature_c=self._interpolate(self._ambient, i, frac),
            wind_speed_m_s=self._interpolate(self._wind, i, frac),
            load_kw=self._interpolate(self._load, i, frac),
        )
        self._last_key = key
        self._last_sample = sample
        return sample


def _seconds_of_day(text: str) -> float | None:
    match = _HMS.match(text.strip())
    if match is None:
        return None
    h, m, s = (int(g) for g in match.groups())
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600.0 + m * 60.0 + s


_POA_COLUMN = "poa_irradiance_w_m2"
"""Plane-of-array irradiance: the alternative to the global horizontal ``irradiance_w_m2``."""


def load_profile(path: Path, canonical_type: str) -> InputProfile:
    """Read ``--dc_profile`` for a device type; raise ``ConfigError`` naming the line."""
    required, optional = profile_columns(canonical_type)
    where = f"--dc_profile {path}"
    irradiance_names = "irradiance_w_m2 (or poa_irradiance_w_m2)"
    takes_irradiance = "irradiance_w_m2" in required + optional

    def names_of(columns: tuple[str, ...]) -> str:
        return ", ".join(irradiance_names if n == "irradiance_w_m2" else n for n in columns)

    if required:
        expected = f"first column time (HH:MM:SS) or elapsed_s, then {names_of(required)}" + (
            f" and optionally {names_of(optional)}" if optional else ""
        )
    else:
        expected = (
            f"first column time (HH:MM:SS) or elapsed_s, then one or more of {names_of(optional)}"
        )

    def fail(line: int, problem: str) -> ConfigError:
        return ConfigError(f"{where}: line {line}: {problem}")

    try:
        rows = read_csv_rows(path)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not rows:
        raise fail(1, f"empty file (expected a header: {expected})")
    header_line, names = rows[0]
    if names[0] not in _TIME_COLUMNS:
        raise fail(header_line, f"unknown time column {names[0]!r} (expected: {expected})")
    value_names = names[1:]
    poa = takes_irradiance and _POA_COLUMN in value_names
    if poa:
        if "irradiance_w_m2" in value_names:
            raise fail(
                header_line,
                "give irradiance_w_m2 (global horizontal) or poa_irradiance_w_m2 "
                "(plane of array), not both",
            )
        value_names = ["irradiance_w_m2" if n == _POA_COLUMN else n for n in value_names]
    for name in value_names:
        if name not in required + optional or value_names.count(name) > 1:
            raise fail(header_line, f"unexpected column {name!r} (expected: {expected})")
    for name in required:
        if name not in value_names:
            raise fail(header_line, f"missing column {name!r} (expected: {expected})")
    if not value_names:
        raise fail(header_line, f"no value column (expected: {expected})")
    daily = names[0] == "time"
    times: list[float] = []
    columns: dict[str, list[float]] = {name: [] for name in value_names}
    for line, row in rows[1:]:
        if len(row) != len(names):
            raise fail(line, f"expected {len(names)} values ({', '.join(names)}), got {len(row)}")
        if daily:
            t = _seconds_of_day(row[0])
            if t is None:
                raise fail(line, f"time must be HH:MM:SS (00:00:00..23:59:59), got {row[0]!r}")
        else:
            t = _number(row[0])
            if t is None or t < 0.0:
                raise fail(line, f"elapsed_s must be a number >= 0, got {row[0]!r}")
        if times and t <= times[-1]:
            raise fail(line, f"times must be strictly increasing, got {row[0].strip()!r}")
        times.append(t)
        for name, cell in zip(value_names, row[1:], strict=True):
            value = _number(cell)
            lo, hi = _COLUMN_RANGES[name]
            if value is None:
                raise fail(line, f"{name}: not a number: {cell!r}")
            if not lo <= value <= hi:
                raise fail(line, f"{name}: {value:g} is outside {lo:g}..{hi:g}")
            columns[name].append(value)
    if len(times) < 2:
        last_line = rows[-1][0]
        raise fail(last_line, f"need at least 2 data rows, got {len(times)}")
    return TabulatedProfile(daily, times, columns, irradiance_is_poa=poa)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
