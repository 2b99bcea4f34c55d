"""Sun position, clear-sky irradiance and a seeded cloud model for the PV chain.

Sun position (physics reference B.1 item 1), ported from pvlib-python
(``pvlib/solarposition.py``: ``declination_spencer71``, ``equation_of_time_spencer71``,
``hour_angle``, ``solar_zenith_analytical``; BSD-3-Clause, © pvlib python Developers), which
cite Spencer (1971), "Fourier series representation of the position of the sun", Search 2 (5),
p. 172, and Duffie & Beckman, "Solar Engineering of Thermal Processes", 3rd ed., pp. 13-14:

* Day angle:          Γ = 2π/365·(n − 1)                       [rad], n = day of year (local date)
* Declination:        δ = 0.006918 − 0.399912 cos Γ + 0.070257 sin Γ − 0.006758 cos 2Γ
                          + 0.000907 sin 2Γ − 0.002697 cos 3Γ + 0.00148 sin 3Γ      [rad]
* Equation of time:   EoT = (1440/2π)·(0.0000075 + 0.001868 cos Γ − 0.032077 sin Γ
                          − 0.014615 cos 2Γ − 0.040849 sin 2Γ)                     [min]
* Hour angle:         ω = 15·(t_local − Δ_utc − 12) + λ + EoT/4                     [deg]
                      (t_local: clock hours, Δ_utc: UTC offset in hours, λ: longitude, east +)
* Zenith:             cos θz = sin φ sin δ + cos φ cos δ cos ω                      (φ: latitude)

Accuracy is well under a degree, plenty for a test simulator.

Site longitude: when none is given, the site sits on the central meridian of the simulator
time's UTC offset, λ = 15°·Δ_utc, so that ω = 15·(t_local − 12) + EoT/4 and clock 12:00 is solar
noon within the equation of time (±16 min) in any timezone. The offset is read from every
timestamp, so across a DST change the site follows the clock (solar noon stays near 12:00)
rather than shifting by an hour. Default latitude: 35.0° N.

Clear-sky GHI (B.1 item 2), ported from ``pvlib.clearsky.haurwitz`` (Haurwitz 1945, 1946):

* GHI = 1098·cos θz·exp(−0.059 / cos θz)  W/m² when cos θz > 0, else 0.
  Reference values: 1035 W/m² at θz = 0°, 888 at 30°, 488 at 60°, 136 at 80°.

Cloud model (own design, a seeded stochastic model, not a published one): the clear-sky index
k = GHI / GHI_clear follows a two-state continuous-time Markov regime (clear ↔ cloudy; mean dwell
3 h clear and 1 h cloudy, so the sky is in the clear regime 75 % of the time on average) and,
within it, an Ornstein-Uhlenbeck process relaxing toward the regime mean (clear: mean 0.99,
σ 0.02, τ 10 min; cloudy: mean 0.45, σ 0.20, τ 5 min), clamped to [0.1, 1.0]. Both parts use
their exact discrete-time transitions, so any step size (0.01 s to hours) is stable:

* regime switch probability over Δt: p = π_other·(1 − e^(−Δt(λ_clear + λ_cloudy)))
  (λ = 1/mean dwell; π_other = stationary probability of the other regime)
* OU update: x ← μ + (x − μ)·e^(−Δt/τ) + σ·√(1 − e^(−2Δt/τ))·N(0, 1)

The long-run mean of k is about 0.85. Its sequence depends only on the seed and the sequence of
Δt values (not on the sun), so runs repeat exactly.
"""

from __future__ import annotations

import math
import random
from datetime import datetime

DEFAULT_LATITUDE_DEG = 35.0
"""Default site latitude, degrees north."""

_TWO_PI_OVER_365 = 2.0 * math.pi / 365.0
_EOT_MIN_PER_RAD = 1440.0 / (2.0 * math.pi)


def day_angle_rad(day_of_year: int) -> float:
    """Spencer's day angle Γ = 2π/365·(n − 1), radians (pvlib ``_calculate_simple_day_angle``)."""
    return _TWO_PI_OVER_365 * (day_of_year - 1)


def declination_spencer71_rad(day_of_year: int) -> float:
    """Solar declination in radians, Spencer (1971).

    Port of ``pvlib.solarposition.declination_spencer71``.
    """
    g = day_angle_rad(day_of_year)
    return (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2.0 * g)
        + 0.000907 * math.sin(2.0 * g)
        - 0.002697 * math.cos(3.0 * g)
        + 0.00148 * math.sin(3.0 * g)
    )


def equation_of_time_spencer71_min(day_of_year: int) -> float:
    """Equation of time in minutes, Spencer (1971).

    Port of ``pvlib.solarposition.equation_of_time_spencer71``.
    """
    g = day_angle_rad(day_of_year)
    return _EOT_MIN_PER_RAD * (
        0.0000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2.0 * g)
        - 0.040849 * math.sin(2.0 * g)
    )


def hour_angle_deg(
    local_clock_hours: float,
    utc_offset_hours: float,
    longitude_deg: float,
    equation_of_time_min: float,
) -> float:
    """Hour angle ω in degrees (0 at solar noon, + in the afternoon).

    Port of ``pvlib.solarposition.hour_angle``.
    """
    return (
        15.0 * (local_clock_hours - utc_offset_hours - 12.0)
        + longitude_deg
        + equation_of_time_min / 4.0
    )


def solar_zenith_analytical_rad(
    latitude_rad: float, hour_angle_rad: float, declination_rad: float
) -> float:
    """Solar zenith in radians; port of ``pvlib.solarposition.solar_zenith_analytical``."""
    cos_zenith = math.cos(declination_rad) * math.cos(latitude_rad) * math.cos(
        hour_angle_rad
    ) + math.sin(declination_rad) * math.sin(latitude_rad)
    return math.acos(min(1.0, max(-1.0, cos_zenith)))


def haurwitz_ghi_from_cos_zenith(cos_zenith: float) -> float:
    """Haurwitz clear-sky GHI (W/m²) from cos θz: 1098·cos θz·exp(−0.059/cos θz), else 0."""
    if cos_zenith <= 0.0:
        return 0.0
    return 1098.0 * cos_zenith * math.exp(-0.059 / cos_zenith)


def haurwitz_ghi_w_m2(zenith_deg: float) -> float:
    """Haurwitz clear-sky GHI (W/m²) at a zenith in degrees; port of ``pvlib.clearsky.haurwitz``."""
    return haurwitz_ghi_from_cos_zenith(math.cos(math.radians(zenith_deg)))


def default_longitude_deg(utc_offset_hours: float) -> float:
    """Central meridian of a UTC offset, 15°·offset (east positive): clock noon ≈ solar noon."""
    return 15.0 * utc_offset_hours


class SunTracker:
    """Sun geometry for one site, evaluated at aware simulator timestamps.

    Declination and equation of time depend only on the local date, so they are cached per day;
    each call then costs a handful of float operations.
    """

    __slots__ = (
        "_cos_lat_cos_dec",
        "_eot_min",
        "_latitude_rad",
        "_longitude_deg",
        "_ordinal",
        "_sin_lat_sin_dec",
    )

    def __init__(
        self, latitude_deg: float = DEFAULT_LATITUDE_DEG, longitude_deg: float | None = None
    ) -> None:
        self._latitude_rad = math.radians(latitude_deg)
        self._longitude_deg = longitude_deg
        self._ordinal = -1
        self._eot_min = 0.0
        self._sin_lat_sin_dec = 0.0
        self._cos_lat_cos_dec = 0.0

    def position(self, when: datetime) -> tuple[float, float]:
        """Return (cos θz, hour angle ω in degrees) at an aware timestamp (naive = UTC)."""
        ordinal = when.toordinal()
        if ordinal != self._ordinal:
            self._set_day(ordinal - when.replace(month=1, day=1).toordinal() + 1)
            self._ordinal = ordinal
        offset = when.utcoffset()
        offset_h = 0.0 if offset is None else offset.total_seconds() / 3600.0
        clock_h = when.hour + when.minute / 60.0 + (when.second + when.microsecond * 1e-6) / 3600.0
        longitude = 15.0 * offset_h if self._longitude_deg is None else self._longitude_deg
        omega_deg = 15.0 * (clock_h - offset_h - 12.0) + longitude + self._eot_min / 4.0
        cos_zenith = self._sin_lat_sin_dec + self._cos_lat_cos_dec * math.cos(
            math.radians(omega_deg)
        )
        return min(1.0, max(-1.0, cos_zenith)), omega_deg

    def _set_day(self, day_of_year: int) -> None:
        declination = declination_spencer71_rad(day_of_year)
        self._eot_min = equation_of_time_spencer71_min(day_of_year)
        self._sin_lat_sin_dec = math.sin(self._latitude_rad) * math.sin(declination)
        self._cos_lat_cos_dec = math.cos(self._latitude_rad) * math.cos(declination)


class CloudModel:
    """Seeded clear-sky index k ∈ [0.1, 1.0] evolving in simulated time (see module docstring).

    ``advance(dt_s)`` moves the sky forward by ``dt_s`` seconds and returns the new k. The result
    depends only on the seed and the sequence of ``dt_s`` values.
    """

    CLEAR_FRACTION = 0.75
    """Long-run fraction of time in the clear regime: 3 h / (3 h + 1 h)."""

    K_MIN = 0.1
    K_MAX = 1.0

    __slots__ = (
        "_cached_dt_s",
        "_cloudy",
        "_decay",
        "_noise",
        "_rng",
        "_switch_p",
        "_x",
    )

    # (mean dwell s, OU mean, OU sigma, OU tau s) per regime: index 0 clear, 1 cloudy.
    _DWELL_S = (3.0 * 3600.0, 3600.0)
    _MEAN = (0.99, 0.45)
    _SIGMA = (0.02, 0.20)
    _TAU_S = (600.0, 300.0)

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._cloudy = self._rng.random() >= self.CLEAR_FRACTION
        regime = int(self._cloudy)
        self._x = self._MEAN[regime] + self._SIGMA[regime] * self._rng.gauss(0.0, 1.0)
        self._cached_dt_s = -1.0
        self._switch_p = (0.0, 0.0)
        self._decay = (1.0, 1.0)
        self._noise = (0.0, 0.0)

    @property
    def clear_sky_index(self) -> float:
        """The current clear-sky index k, clamped to [0.1, 1.0]."""
        return min(self.K_MAX, max(self.K_MIN, self._x))

    @property
    def cloudy(self) -> bool:
        """True while the sky is in the cloudy regime."""
        return self._cloudy

    def advance(self, dt_s: float) -> float:
        """Advance the sky by ``dt_s`` simulated seconds (negative or NaN → 0) and return k."""
        if not dt_s > 0.0:
            return self.clear_sky_index
        if dt_s != self._cached_dt_s:
            self._prepare(dt_s)
        rng = self._rng
        regime = int(self._cloudy)
        if rng.random() < self._switch_p[regime]:
            self._cloudy = not self._cloudy
            regime = 1 - regime
        mean = self._MEAN[regime]
        self._x = (
            mean
            + (self._x - mean) * self._decay[regime]
            + self._noise[regime] * rng.gauss(0.0, 1.0)
        )
        return min(self.K_MAX, max(self.K_MIN, self._x))

    def _prepare(self, dt_s: float) -> None:
        rate_clear = 1.0 / self._DWELL_S[0]
        rate_cloudy = 1.0 / self._DWELL_S[1]
        total = rate_clear + rate_cloudy
        mix = -math.expm1(-dt_s * total)
        # From clear, switch with prob π_cloudy·mix; from cloudy, with prob π_clear·mix.
        self._switch_p = (rate_clear / total * mix, rate_cloudy / total * mix)
        decays = []
        noises = []
        for regime in (0, 1):
            decay = math.exp(-dt_s / self._TAU_S[regime])
            decays.append(decay)
            noises.append(
                self._SIGMA[regime] * math.sqrt(-math.expm1(-2.0 * dt_s / self._TAU_S[regime]))
            )
        self._decay = (decays[0], decays[1])
        self._noise = (noises[0], noises[1])
        self._cached_dt_s = dt_s
