"""EV charging sessions: who plugs in where, when, how full, and until when.

A session is one EV on one connector (``EvSession``). Times are simulated seconds since the start
of the simulation (the first tick starts at 0 s). Sessions come from one of two sources:

Seeded stochastic arrival model (``SessionGenerator``, ``generate_sessions``)
---------------------------------------------------------------------------

Each connector is an independent stream with its own ``random.Random`` seeded by the string
``"evse-sessions:<seed>:<connector id>"``, so a longer horizon only appends sessions: the
sessions up to 1 day are the same whether 1 or 10 days are generated, and the generator extends
lazily, so the simulation never runs out of EVs.

* Arrivals: a non-homogeneous Poisson process per connector, rate
  λ(h) = λ_peak·shape(h) (per hour, h = local hour of day), sampled by thinning (Lewis and
  Shedler 1979): candidate gaps are exponential with rate λ_peak and a candidate at hour h is
  kept with probability shape(h). λ_peak = 0.25 /h for AC and 0.8 /h for DC connectors.
  ``shape`` (``ARRIVAL_SHAPE_BY_HOUR``) has a morning (08-09 h) and an evening (17-19 h) peak
  and is low at night; the numbers are representative of published workplace/public charging
  arrival histograms, not fitted to a data set.
* Occupancy: a connector serves one EV at a time. The next arrival is drawn from the previous
  departure plus a 2-minute changeover, so sessions on one connector never overlap.
* Warm start: so that a freshly started simulator shows activity, each connector's first EV
  arrives uniformly within the first 5-120 s (a deliberate choice, not part of the Poisson model).
* Dwell time (departure − arrival): log-normal. AC: median 3 h, σ_ln = 0.6, clamped to
  20 min-14 h; DC: median 30 min, σ_ln = 0.4, clamped to 8 min-2 h.
* Arrival SoC uniform 10-50 %, target SoC uniform 80-100 %.
* The car is drawn uniformly from the named cars of ``cars.py`` (measured DC charging curves,
  on-board charger limits, usable capacity; sources there). Uniform: the model claims no market
  shares.

CSV schedule
------------

A ``--dc_profile`` CSV of sessions is read by ``setup/ev_sessions_csv.py`` into ``EvSession``
values (format there). Whether each session's connector exists is checked by the station model,
which knows the station spec.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from dersim_trio.physics.evse.cars import CARS, EvCar
from dersim_trio.physics.evse.spec import EvseStationSpec

DEFAULT_MAX_AC_KW = 11.0
DEFAULT_MAX_DC_KW = 150.0
DEFAULT_PACK_VOLTAGE_V = 400.0


@dataclass(frozen=True, slots=True)
class EvSession:
    """One EV's visit to one connector (times in simulated seconds since the start)."""

    arrival_s: float
    departure_s: float
    connector: int
    """Connector id in the station spec."""
    capacity_kwh: float
    """Usable battery capacity of the EV, kWh."""
    arrival_soc_pct: float
    target_soc_pct: float
    """The EV stops drawing power at this SoC and stays plugged in (pilot B, suspended-EV)."""
    max_ac_kw: float = DEFAULT_MAX_AC_KW
    """The car's on-board charger limit, kW."""
    max_dc_kw: float = DEFAULT_MAX_DC_KW
    """The car's DC charging limit (also its V2G discharge limit), kW."""
    pack_voltage_v: float = DEFAULT_PACK_VOLTAGE_V
    """Nominal pack voltage, V (400 V or 800 V class)."""
    car: EvCar | None = None
    """The named car (its DC curve and AC phases apply); None: an unnamed car, whose DC power
    follows the flat CC/CV taper of ``powerflow.py`` under ``max_dc_kw``."""

    @classmethod
    def for_car(
        cls,
        car: EvCar,
        arrival_s: float,
        departure_s: float,
        connector: int,
        arrival_soc_pct: float,
        target_soc_pct: float,
    ) -> EvSession:
        """A session of a named car: capacity, limits and pack voltage are the car's."""
        return cls(
            arrival_s=arrival_s,
            departure_s=departure_s,
            connector=connector,
            capacity_kwh=car.capacity_kwh,
            arrival_soc_pct=arrival_soc_pct,
            target_soc_pct=target_soc_pct,
            max_ac_kw=car.ac_kw,
            max_dc_kw=car.dc_max_kw,
            pack_voltage_v=car.pack_voltage_v,
            car=car,
        )


ARRIVAL_SHAPE_BY_HOUR: tuple[float, ...] = (
    0.05, 0.03, 0.02, 0.02, 0.03, 0.08,  # 00-05 h
    0.25, 0.60, 1.00, 0.90, 0.60, 0.50,  # 06-11 h
    0.55, 0.50, 0.45, 0.50, 0.70, 0.95,  # 12-17 h
    1.00, 0.85, 0.60, 0.40, 0.20, 0.10,  # 18-23 h
)  # fmt: skip
"""Relative arrival rate by local hour of day (1.0 = λ_peak)."""

PEAK_ARRIVALS_PER_H: dict[str, float] = {"AC": 0.25, "DC": 0.8}
DWELL_MEDIAN_S: dict[str, float] = {"AC": 3.0 * 3600.0, "DC": 30.0 * 60.0}
DWELL_SIGMA_LN: dict[str, float] = {"AC": 0.6, "DC": 0.4}
DWELL_RANGE_S: dict[str, tuple[float, float]] = {
    "AC": (20.0 * 60.0, 14.0 * 3600.0),
    "DC": (8.0 * 60.0, 2.0 * 3600.0),
}
CHANGEOVER_S = 120.0
WARM_START_RANGE_S = (5.0, 120.0)
ARRIVAL_SOC_RANGE_PCT = (10.0, 50.0)
TARGET_SOC_RANGE_PCT = (80.0, 100.0)


class _ConnectorStream:
    """The seeded session sequence of one connector."""

    __slots__ = ("connector_id", "dwell_max_s", "dwell_min_s", "kind", "last_departure_s", "rng")

    def __init__(self, seed: int, connector_id: int, kind: str) -> None:
        self.connector_id = connector_id
        self.kind = kind
        self.rng = random.Random(f"evse-sessions:{seed}:{connector_id}")
        self.dwell_min_s, self.dwell_max_s = DWELL_RANGE_S[kind]
        self.last_departure_s: float | None = None

    def next_session(self, start_time_of_day_s: float) -> EvSession:
        rng = self.rng
        if self.last_departure_s is None:
            arrival = rng.uniform(*WARM_START_RANGE_S)
        else:
            arrival = self.last_departure_s + CHANGEOVER_S
            rate_per_s = PEAK_ARRIVALS_PER_H[self.kind] / 3600.0
            while True:  # thinning: terminates with probability 1 (shape > 0 every hour)
                arrival += rng.expovariate(rate_per_s)
                hour = int(((start_time_of_day_s + arrival) % 86400.0) // 3600.0)
                if rng.random() < ARRIVAL_SHAPE_BY_HOUR[hour]:
                    break
        dwell = DWELL_MEDIAN_S[self.kind] * math.exp(rng.gauss(0.0, DWELL_SIGMA_LN[self.kind]))
        dwell = min(self.dwell_max_s, max(self.dwell_min_s, dwell))
        car = CARS[min(int(rng.random() * len(CARS)), len(CARS) - 1)]
        arrival_soc = rng.uniform(*ARRIVAL_SOC_RANGE_PCT)
        target_soc = rng.uniform(*TARGET_SOC_RANGE_PCT)
        self.last_departure_s = arrival + dwell
        return EvSession.for_car(
            car, arrival, arrival + dwell, self.connector_id, arrival_soc, target_soc
        )


class SessionGenerator:
    """Lazily extendable, seeded session source for every connector of a station."""

    def __init__(
        self, seed: int, station: EvseStationSpec, start_time_of_day_s: float = 0.0
    ) -> None:
        """``start_time_of_day_s``: local time of day (s after midnight) at simulated second 0."""
        self._start_tod_s = float(start_time_of_day_s) % 86400.0
        self._streams = {c.id: _ConnectorStream(seed, c.id, c.kind) for c in station.connectors}
        self._held: dict[int, EvSession] = {}

    def next_session(self, connector_id: int) -> EvSession:
        """The next session on ``connector_id`` (after all earlier ones on that connector)."""
        held = self._held.pop(connector_id, None)
        if held is not None:
            return held
        return self._streams[connector_id].next_session(self._start_tod_s)

    def sessions_until(self, horizon_s: float) -> list[EvSession]:
        """Draw every connector's sessions arriving before ``horizon_s``, sorted by arrival.

        Each call continues where the previous one stopped (no session is lost or repeated).
        """
        out: list[EvSession] = []
        for cid in self._streams:
            while True:
                session = self.next_session(cid)
                if session.arrival_s >= horizon_s:
                    self._held[cid] = session  # the next call starts with it
                    break
                out.append(session)
        out.sort(key=lambda s: (s.arrival_s, s.connector))
        return out


def generate_sessions(
    seed: int, station: EvseStationSpec, horizon_s: float, start_time_of_day_s: float = 0.0
) -> list[EvSession]:
    """All generated sessions arriving before ``horizon_s`` (model in the module docstring)."""
    return SessionGenerator(seed, station, start_time_of_day_s).sessions_until(horizon_s)
