"""The sky over one site: sun position, clear sky, plane-of-array irradiance (clouds: ``clouds``).

Computed with pvlib (Holmgren, Hansen, Mikofski, "pvlib python: a python package for modeling
solar energy systems", JOSS 3(29), 2018; BSD-3-Clause), the same functions and defaults as
pvlib's PVWatts model chain (``ModelChain.with_pvwatts``):

1. Sun position: NREL SPA (Reda & Andreas 2004) via ``pvlib.solarposition.get_solarposition``
   (``nrel_numpy``), giving the apparent (refracted) zenith and the azimuth.
2. Clear sky: Ineichen & Perez (2002) via ``pvlib.clearsky.ineichen`` with the Linke turbidity
   of the day of year (``linke_turbidity_by_day``: 366 values that ``setup/solar_site.py`` takes
   from pvlib's Linke turbidity climatology, ``LinkeTurbidities.h5``, read once at start-up:
   this module does no I/O; without them a fixed T_L = 3.0 is used, a typical rural
   mid-latitude value: the climatology gives 2.7–3.5 over the year at the default site),
   the Kasten–Young (1989) air mass at the site's pressure (``atmosphere.alt2pres``) and the
   Spencer extraterrestrial irradiance (``irradiance.get_extra_radiation``).
3. Plane of array, per array (tilt β, azimuth γ, degrees; 180 = south): Perez et al. (1990)
   transposition (``irradiance.get_total_irradiance``, model ``perez``, ground albedo 0.25),
   angle of incidence (``irradiance.aoi``) and the physical (Fresnel/Snell, De Soto 2006)
   incidence-angle modifier on the beam (``iam.physical``, n = 1.526, K = 4, L = 2 mm):
   effective irradiance E = POA_beam·IAM + POA_diffuse, as PVWatts and pvlib's model chain do.
4. Irradiance given as global horizontal (a measured or scripted GHI) is split into beam and
   diffuse with Erbs et al. (1982) (``irradiance.erbs``) and then transposed as in 3;
   irradiance given in the plane of the array is used as E and as the POA global (no
   incidence-angle loss: it stands for a reference cell of the array's technology).

Computed once per simulated day, for every array of the site at once: pvlib's SPA costs about
6 ms per call (measured on the project machine: 5.9 ms for one instant, 12 ms through
``get_solarposition``), more than a whole tick of a hundred devices, so ``SolarSite`` evaluates
steps 1–3 with numpy over a one-minute grid of the local day (1,441 instants × the site's
distinct array geometries; 0.1 s per simulated day on the same, loaded, machine) and each tick
interpolates linearly between two grid points. Against pvlib evaluated at the instant itself
the interpolation changes the plane-of-array irradiance by less than 0.1 % with the sun above
5°. GHI inputs (step 4) are
evaluated at the instant, once per distinct (instant, GHI, geometry).

Site longitude: when none is given, the site sits on the central meridian of the simulator
time's UTC offset, λ = 15°·Δ_utc, so that clock 12:00 is solar noon within the equation of time
(±16 min) in any timezone; the offset is read at each local midnight. Default latitude 35° N.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

DEFAULT_LATITUDE_DEG = 35.0
"""Default site latitude, degrees north."""
DEFAULT_LINKE_TURBIDITY = 3.0
"""Linke turbidity used when no climatology is given (module docstring)."""
GROUND_ALBEDO = 0.25
GRID_STEP_S = 60.0
"""Spacing of the precomputed day grid, seconds."""
_GRID_POINTS = 1441

_POSITION_KEYS = ("apparent_zenith", "azimuth")


@contextlib.contextmanager
def quiet_pvlib() -> Iterator[None]:
    """Silence numpy's floating-point warnings on night rows (pvlib divides by a zero air mass
    there and returns NaN, which the callers replace) and the pandas deprecation warnings that
    pvlib 0.16 raises under pandas 3 (``DatetimeIndex.dayofyear``); nothing else."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def default_longitude_deg(utc_offset_hours: float) -> float:
    """Central meridian of a UTC offset, 15°·offset (east positive): clock noon ≈ solar noon."""
    return 15.0 * utc_offset_hours


def equator_facing_azimuth_deg(latitude_deg: float) -> float:
    """180° (south) in the northern hemisphere and on the equator, 0° (north) south of it."""
    return 0.0 if latitude_deg < 0.0 else 180.0


class Geometry(NamedTuple):
    """An array's orientation: tilt from horizontal and azimuth (0 = north, 90 = east), °."""

    tilt_deg: float
    azimuth_deg: float


class SkyComponents(NamedTuple):
    """Horizontal irradiance components and the sun (arrays over instants)."""

    ghi_w_m2: npt.NDArray[np.float64]
    dni_w_m2: npt.NDArray[np.float64]
    dhi_w_m2: npt.NDArray[np.float64]
    apparent_zenith_deg: npt.NDArray[np.float64]
    azimuth_deg: npt.NDArray[np.float64]


class PlaneOfArray(NamedTuple):
    """What one array receives: POA global and effective (after IAM), W/m²."""

    poa_global_w_m2: float
    effective_w_m2: float


class _Day(NamedTuple):
    start: datetime
    zenith: list[float]
    ghi: list[float]
    hour_angle: list[float]
    poa_global: list[list[float]]
    effective: list[list[float]]


def plane_of_array(
    geometry: Geometry,
    sky: SkyComponents,
    dni_extra_w_m2: npt.NDArray[np.float64],
    airmass_relative: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Steps 3 of the module docstring with pvlib: (POA global, effective irradiance)."""
    zenith = np.asarray(sky.apparent_zenith_deg, dtype=float)
    azimuth = np.asarray(sky.azimuth_deg, dtype=float)
    poa = pvlib.irradiance.get_total_irradiance(
        geometry.tilt_deg,
        geometry.azimuth_deg,
        zenith,
        azimuth,
        np.asarray(sky.dni_w_m2, dtype=float),
        np.asarray(sky.ghi_w_m2, dtype=float),
        np.asarray(sky.dhi_w_m2, dtype=float),
        dni_extra=dni_extra_w_m2,
        airmass=airmass_relative,
        albedo=GROUND_ALBEDO,
        model="perez",
    )
    aoi = pvlib.irradiance.aoi(geometry.tilt_deg, geometry.azimuth_deg, zenith, azimuth)
    iam = pvlib.iam.physical(aoi)
    direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=float))
    diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=float))
    effective = np.clip(direct * np.nan_to_num(np.asarray(iam, dtype=float)) + diffuse, 0.0, None)
    return np.clip(direct + diffuse, 0.0, None), effective


class SolarSite:
    """Sun, clear sky and plane-of-array irradiance for every array of one site (sans-IO).

    ``add_array(geometry)`` registers an orientation (identical ones share an index);
    ``clear_sky(when, index)`` and ``from_ghi(when, ghi, index)`` give what that array
    receives; ``sun(when)`` the apparent zenith, clear-sky GHI and hour angle. Instants are
    aware datetimes (naive = UTC).
    """

    def __init__(
        self,
        latitude_deg: float = DEFAULT_LATITUDE_DEG,
        longitude_deg: float | None = None,
        altitude_m: float = 0.0,
        linke_turbidity_by_day: Sequence[float] | None = None,
    ) -> None:
        if linke_turbidity_by_day is not None and len(linke_turbidity_by_day) != 366:
            raise ValueError("linke_turbidity_by_day needs 366 values (day of year 1..366)")
        self.latitude_deg = latitude_deg
        self.longitude_deg = longitude_deg
        self.altitude_m = altitude_m
        self._turbidity = None if linke_turbidity_by_day is None else tuple(linke_turbidity_by_day)
        self._pressure_pa = float(pvlib.atmosphere.alt2pres(altitude_m))
        self._geometries: list[Geometry] = []
        self._day: _Day | None = None
        self._located: tuple[datetime, int, float] | None = None
        self._ghi_cache: dict[tuple[datetime, float, int], PlaneOfArray] = {}

    # ------------------------------------------------------------------ arrays
    def add_array(self, geometry: Geometry) -> int:
        """Register an orientation; returns its index (shared by identical orientations)."""
        if geometry in self._geometries:
            return self._geometries.index(geometry)
        self._geometries.append(geometry)
        self._day = None  # the next instant recomputes the day with this array
        return len(self._geometries) - 1

    @property
    def geometries(self) -> tuple[Geometry, ...]:
        """The registered orientations, by index."""
        return tuple(self._geometries)

    def linke_turbidity(self, day_of_year: int) -> float:
        """T_L for a day of year (1..366)."""
        if self._turbidity is None:
            return DEFAULT_LINKE_TURBIDITY
        return self._turbidity[min(max(day_of_year, 1), 366) - 1]

    # ------------------------------------------------------------------ the day grid
    def _longitude(self, when: datetime) -> float:
        if self.longitude_deg is not None:
            return self.longitude_deg
        offset = when.utcoffset()
        return default_longitude_deg(0.0 if offset is None else offset.total_seconds() / 3600.0)

    def _compute_day(self, start: datetime) -> _Day:
        """Steps 1–3 over the local day starting at ``start`` (module docstring)."""
        with quiet_pvlib():
            return self._compute_day_grid(start)

    def _compute_day_grid(self, start: datetime) -> _Day:
        tz = start.tzinfo
        utc_start = pd.Timestamp(start if tz is not None else start.replace(tzinfo=None))
        if utc_start.tzinfo is None:
            utc_start = utc_start.tz_localize("UTC")
        times = pd.date_range(utc_start, periods=_GRID_POINTS, freq=f"{int(GRID_STEP_S)}s")
        longitude = self._longitude(start)
        position = pvlib.solarposition.get_solarposition(
            times, self.latitude_deg, longitude, altitude=self.altitude_m
        )
        zenith = position["apparent_zenith"].to_numpy(dtype=float)
        azimuth = position["azimuth"].to_numpy(dtype=float)
        dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(times), dtype=float)
        am_rel = np.asarray(pvlib.atmosphere.get_relative_airmass(zenith), dtype=float)
        am_abs = np.asarray(
            pvlib.atmosphere.get_absolute_airmass(am_rel, self._pressure_pa), dtype=float
        )
        turbidity = self.linke_turbidity(start.timetuple().tm_yday)
        cs = pvlib.clearsky.ineichen(
            zenith, am_abs, turbidity, altitude=self.altitude_m, dni_extra=dni_extra
        )
        ghi = np.nan_to_num(np.asarray(cs["ghi"], dtype=float))
        dni = np.nan_to_num(np.asarray(cs["dni"], dtype=float))
        dhi = np.nan_to_num(np.asarray(cs["dhi"], dtype=float))
        sky = SkyComponents(ghi, dni, dhi, zenith, azimuth)
        am_for_perez = np.nan_to_num(am_rel, nan=40.0)
        poa_global: list[list[float]] = []
        effective: list[list[float]] = []
        for geometry in self._geometries:
            glob, eff = plane_of_array(geometry, sky, dni_extra, am_for_perez)
            poa_global.append(glob.tolist())
            effective.append(eff.tolist())
        eot = pvlib.solarposition.equation_of_time_spencer71(times.day_of_year.to_numpy())
        hour_angle = pvlib.solarposition.hour_angle(times, longitude, eot)
        return _Day(
            start,
            zenith.tolist(),
            ghi.tolist(),
            np.asarray(hour_angle, dtype=float).tolist(),
            poa_global,
            effective,
        )

    def _locate(self, when: datetime) -> tuple[_Day, int, float]:
        """The day grid holding ``when`` and the interpolation index and weight."""
        located = self._located
        day = self._day
        if located is not None and located[0] == when and day is not None:
            return day, located[1], located[2]
        if day is None or not day.start <= when < day.start + timedelta(days=1):
            start = when.replace(hour=0, minute=0, second=0, microsecond=0)
            day = self._day = self._compute_day(start)
            self._ghi_cache.clear()
        x = (when - day.start).total_seconds() / GRID_STEP_S
        i = min(int(x), _GRID_POINTS - 2)
        self._located = (when, i, x - i)
        return day, i, x - i

    # ------------------------------------------------------------------ per instant
    def sun(self, when: datetime) -> tuple[float, float, float]:
        """(apparent zenith °, clear-sky GHI W/m², hour angle °) at ``when``."""
        day, i, f = self._locate(when)
        z = day.zenith
        g = day.ghi
        h = day.hour_angle
        return (
            z[i] + f * (z[i + 1] - z[i]),
            g[i] + f * (g[i + 1] - g[i]),
            h[i] + f * (h[i + 1] - h[i]),
        )

    def clear_sky(self, when: datetime, index: int) -> PlaneOfArray:
        """What array ``index`` receives under the clear sky at ``when``."""
        day, i, f = self._locate(when)
        glob = day.poa_global[index]
        eff = day.effective[index]
        return PlaneOfArray(
            glob[i] + f * (glob[i + 1] - glob[i]), eff[i] + f * (eff[i + 1] - eff[i])
        )

    def from_ghi(self, when: datetime, ghi_w_m2: float, index: int) -> PlaneOfArray:
        """What array ``index`` receives from a given GHI at ``when`` (Erbs, then step 3)."""
        key = (when, ghi_w_m2, index)
        cached = self._ghi_cache.get(key)
        if cached is not None:
            return cached
        if len(self._ghi_cache) > 4096:
            self._ghi_cache.clear()
        zenith, _, _ = self.sun(when)
        if ghi_w_m2 <= 0.0 or zenith >= 90.0:
            result = PlaneOfArray(0.0, 0.0)
        else:
            result = self._poa_from_ghi(when, ghi_w_m2, index)
        self._ghi_cache[key] = result
        return result

    def _poa_from_ghi(self, when: datetime, ghi_w_m2: float, index: int) -> PlaneOfArray:
        with quiet_pvlib():
            stamp = pd.Timestamp(when)
            if stamp.tzinfo is None:
                stamp = stamp.tz_localize("UTC")
            position = pvlib.solarposition.get_solarposition(
                pd.DatetimeIndex([stamp]),
                self.latitude_deg,
                self._longitude(when),
                altitude=self.altitude_m,
            )
            app_zenith = position["apparent_zenith"].to_numpy(dtype=float)
            azimuth = position["azimuth"].to_numpy(dtype=float)
            doy = np.array([float(stamp.day_of_year)])
            split = pvlib.irradiance.erbs(np.array([ghi_w_m2]), app_zenith, doy)
            dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(doy), dtype=float)
            am_rel = np.nan_to_num(
                np.asarray(pvlib.atmosphere.get_relative_airmass(app_zenith), dtype=float),
                nan=40.0,
            )
            sky = SkyComponents(
                np.array([ghi_w_m2]),
                np.nan_to_num(np.asarray(split["dni"], dtype=float)),
                np.nan_to_num(np.asarray(split["dhi"], dtype=float)),
                app_zenith,
                azimuth,
            )
            glob, eff = plane_of_array(self._geometries[index], sky, dni_extra, am_rel)
            return PlaneOfArray(float(glob[0]), float(eff[0]))
