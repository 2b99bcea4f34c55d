"""Builds the ``SolarSite`` of a run: site data read once at start-up, passed to the physics.

pvlib ships two site climatologies as HDF5 files inside its wheel (read offline, no network):
the monthly Linke turbidity (``LinkeTurbidities.h5``, Remund et al. 2003, SoDa) and the
terrain altitude (``Altitude.h5``). ``solar_site`` reads both for the site once:
``pvlib.clearsky.lookup_linke_turbidity`` for every day of a leap year (monthly values
interpolated to the day, pvlib's default) and ``pvlib.location.lookup_altitude``. The physics
(``physics/solar.py``) receives the numbers and does no I/O.

Without a configured longitude the site sits on the central meridian of the start time's UTC
offset (``physics/solar.py``), and the climatologies are read there.
"""

from __future__ import annotations

import functools
from datetime import datetime

import pandas as pd
import pvlib

from dersim_trio.physics.solar import SolarSite, default_longitude_deg, quiet_pvlib


@functools.cache
def site_climatology(latitude_deg: float, longitude_deg: float) -> tuple[tuple[float, ...], float]:
    """(Linke turbidity for day of year 1..366, terrain altitude in m) at a site."""
    days = pd.date_range("2024-01-01", periods=366, freq="D", tz="UTC")
    with quiet_pvlib():
        turbidity = pvlib.clearsky.lookup_linke_turbidity(days, latitude_deg, longitude_deg)
        altitude = float(pvlib.location.lookup_altitude(latitude_deg, longitude_deg))
    return tuple(float(x) for x in turbidity.to_numpy()), altitude


def solar_site(latitude_deg: float, longitude_deg: float | None, start: datetime) -> SolarSite:
    """The site the PV devices of a run share (module docstring)."""
    if longitude_deg is None:
        offset = start.utcoffset()
        lookup_longitude = default_longitude_deg(
            0.0 if offset is None else offset.total_seconds() / 3600.0
        )
    else:
        lookup_longitude = longitude_deg
    turbidity, altitude = site_climatology(latitude_deg, lookup_longitude)
    return SolarSite(
        latitude_deg,
        longitude_deg,
        altitude_m=altitude,
        linke_turbidity_by_day=turbidity,
    )
