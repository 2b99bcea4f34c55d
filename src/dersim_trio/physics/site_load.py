"""Site load behind a hybrid inverter: a standard load shape scaled to a yearly energy, seeded.

Units kW, kWh, s. The load is ≥ 0 (consumption). Sources: the BDEW standard load profiles
(Bundesverband der Energie- und Wasserwirtschaft, "Standardlastprofile Strom", 2025 revision),
H25 (households, dynamic) and G25 (trade, commerce and services, static), bundled unmodified
from oemof demandlib (``data/loads/ATTRIBUTION.md``; read by ``setup/site_loads.py``).

Mean load (``LoadShape.mean_kw``)::

    P̄(t) = 4 · v(month, day type, quarter hour) · E_year / 1 000 000 · F(d)       [kW]

v is the table's energy per quarter hour (kWh) for 1 GWh a year, so 4·v is the power in kW of a
1 GWh/a customer; day type WT Monday-Friday, SA Saturday, FT Sunday (public holidays are not
modelled: they count as the weekday they fall on); F is BDEW's dynamisation polynomial of the
day of the year d for the dynamic profile (H25), 1 for a static one (G25)::

    F(d) = −3.92·10⁻¹⁰·d⁴ + 3.2·10⁻⁷·d³ − 7.02·10⁻⁵·d² + 2.1·10⁻³·d + 1.24

Local time: the shapes are in German civil time; the simulator's clock time (its time zone) is
used as the local time of the site. The quarter hour is the one containing the middle of the
step.

One site, not an average (``SiteLoad``). A standard load profile is the mean of many customers;
a single site scatters around it. The model multiplies P̄ by a seeded lognormal factor whose
logarithm is an Ornstein-Uhlenbeck process, so the factor has mean 1 (the yearly energy is kept)
and is correlated over a quarter hour::

    x ← x·e^(−Δt/τ) + σ·√(1 − e^(−2Δt/τ))·N(0, 1),    P = P̄·exp(x − σ²/2)

σ = 0.35 and τ = 900 s are ASSUMPTIONS (a plausible spread of one household's quarter-hour load
around the standard profile; not fitted to a data set). ``variability=False`` gives P̄ itself.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

SiteLoadKind = Literal["residential", "commercial"]

QUARTERS_PER_DAY: Final = 96
DAY_TYPES: Final = ("WT", "SA", "FT")
"""Workday (Monday-Friday), Saturday, Sunday (and, in BDEW's tables, public holidays)."""
NORMALIZATION_KWH_PER_YEAR: Final = 1_000_000.0
LOG_SIGMA: Final = 0.35
CORRELATION_TIME_S: Final = 900.0
_HALF_VARIANCE: Final = 0.5 * LOG_SIGMA * LOG_SIGMA
_QUARTER_HOUR: Final = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class LoadShape:
    """A standard load shape: energy per quarter hour for 1 GWh a year, by month and day type."""

    name: str
    """The profile's name in its source (``H25``, ``G25``)."""
    quarter_hour_kwh: tuple[tuple[tuple[float, ...], ...], ...]
    """``[month − 1][day type index in DAY_TYPES][quarter hour]``, kWh per 1 GWh a year."""
    dynamic: bool
    """Apply BDEW's dynamisation polynomial (H25) or not (G25)."""

    def __post_init__(self) -> None:
        """Check the table's shape: 12 months × 3 day types × 96 quarter hours, values ≥ 0."""
        table = self.quarter_hour_kwh
        if len(table) != 12 or any(len(month) != len(DAY_TYPES) for month in table):
            raise ValueError(f"{self.name}: need 12 months x {len(DAY_TYPES)} day types")
        for month in table:
            for day in month:
                if len(day) != QUARTERS_PER_DAY or min(day) < 0.0:
                    raise ValueError(f"{self.name}: need {QUARTERS_PER_DAY} values >= 0 a day")

    def mean_kw(self, local_time: datetime, kwh_per_year: float) -> float:
        """P̄ at ``local_time`` for a site using ``kwh_per_year`` (module docstring), kW."""
        weekday = local_time.isoweekday()
        day_type = 0 if weekday <= 5 else (1 if weekday == 6 else 2)
        quarter = local_time.hour * 4 + local_time.minute // 15
        kwh = self.quarter_hour_kwh[local_time.month - 1][day_type][quarter]
        power = 4.0 * kwh * kwh_per_year / NORMALIZATION_KWH_PER_YEAR
        if self.dynamic:
            power *= dynamisation_factor(local_time.timetuple().tm_yday)
        return power


def dynamisation_factor(day_of_year: float) -> float:
    """BDEW's dynamisation polynomial F(d) for the household profile (module docstring)."""
    d = day_of_year
    return -3.92e-10 * d**4 + 3.2e-7 * d**3 - 7.02e-5 * d**2 + 2.1e-3 * d + 1.24


class SiteLoad:
    """One site's load: a ``LoadShape`` scaled to ``kwh_per_year``, with seeded scatter.

    The mean of the current quarter hour and the OU coefficients of the last step length are
    cached (the engine steps at one length, and a quarter hour spans many ticks).
    """

    __slots__ = (
        "_decay",
        "_dt_s",
        "_half_step",
        "_kwh_per_year",
        "_noise",
        "_q_end",
        "_q_mean_kw",
        "_q_start",
        "_rng",
        "_shape",
        "_variability",
        "_x",
    )

    def __init__(
        self, shape: LoadShape, kwh_per_year: float, seed: int = 0, *, variability: bool = True
    ) -> None:
        """``seed`` seeds the scatter; ``variability=False`` follows the mean shape exactly."""
        if not (math.isfinite(kwh_per_year) and kwh_per_year >= 0.0):
            raise ValueError(f"kwh_per_year must be a number >= 0, got {kwh_per_year!r}")
        self._shape = shape
        self._kwh_per_year = kwh_per_year
        self._variability = variability
        self._rng = random.Random(f"site-load:{seed}")
        self._x = self._rng.gauss(0.0, LOG_SIGMA) if variability else 0.0
        self._q_start: datetime | None = None
        self._q_end: datetime | None = None
        self._q_mean_kw = 0.0
        self._dt_s = -1.0
        self._half_step = timedelta(0)
        self._decay = 0.0
        self._noise = 0.0

    @property
    def shape(self) -> LoadShape:
        """The load shape this site follows."""
        return self._shape

    def step(self, end_time: datetime, dt_s: float) -> float:
        """The site's average load over the step ending at ``end_time`` (``dt_s`` long), kW."""
        if dt_s != self._dt_s:
            self._dt_s = dt_s
            self._half_step = timedelta(seconds=dt_s / 2.0) if dt_s > 0.0 else timedelta(0)
            self._decay = math.exp(-dt_s / CORRELATION_TIME_S) if dt_s > 0.0 else 1.0
            self._noise = LOG_SIGMA * math.sqrt(1.0 - self._decay * self._decay)
        mid = end_time - self._half_step
        start, end = self._q_start, self._q_end
        if start is None or end is None or not start <= mid < end:
            start = mid.replace(minute=mid.minute - mid.minute % 15, second=0, microsecond=0)
            self._q_start, self._q_end = start, start + _QUARTER_HOUR
            self._q_mean_kw = self._shape.mean_kw(mid, self._kwh_per_year)
        power = self._q_mean_kw
        if not self._variability:
            return power
        if dt_s > 0.0:
            self._x = self._x * self._decay + self._noise * self._rng.gauss(0.0, 1.0)
        return power * math.exp(self._x - _HALF_VARIANCE)
