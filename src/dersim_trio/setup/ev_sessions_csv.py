"""EV session schedules (``--dc_profile CSV`` of an EVSE): rows → ``EvSession`` values.

Read by the shared CSV reader (``csv_rows.py``: UTF-8, comma separated, blank lines and ``#``
lines ignored); one header line, then one session per line. Columns (any order, names exact)::

    arrival_s        required  EV plugs in, simulated seconds since start (≥ 0)
    departure_s      required  EV unplugs (> arrival_s)
    connector        required  connector id of the station (integer ≥ 1)
    arrival_soc_pct  required  SoC at plug-in, 0-100
    target_soc_pct   required  SoC at which the EV stops charging (suspended-EV), 0-100
    car              optional  a named car of ``physics/evse/cars.py`` (e.g. ``vw-id4-77``):
                               its capacity, on-board charger and measured DC curve apply
    capacity_kwh     the car   usable battery capacity of an unnamed EV (> 0); required
                               in every row without a car, empty in rows with one
    max_power_kw     optional  an unnamed car's charging limit on both AC and DC (> 0);
                               without it: 11 kW AC, 150 kW DC
    pack_voltage_v   optional  an unnamed car's nominal pack voltage (> 0), default 400 V

The header needs ``car`` or ``capacity_kwh`` (or both). An unnamed car's DC power follows the
flat CC/CV taper (``physics/evse/powerflow.py``). Example::

    arrival_s,departure_s,connector,arrival_soc_pct,target_soc_pct,car,capacity_kwh,max_power_kw
    0,7200,1,20,80,,60,11
    600,4200,2,35,90,hyundai-ioniq5,,

Errors raise ``ValueError`` with one line naming the line number, column number and column name,
e.g. ``line 3, column 2 (departure_s): must be greater than arrival_s (600)``. Sessions on the same
connector must not overlap. Whether each connector exists is checked by the station model, which
knows the station spec.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from dersim_trio.physics.evse.cars import CARS_BY_NAME
from dersim_trio.physics.evse.sessions import (
    DEFAULT_MAX_AC_KW,
    DEFAULT_MAX_DC_KW,
    DEFAULT_PACK_VOLTAGE_V,
    EvSession,
)
from dersim_trio.setup.csv_rows import CsvRow, csv_rows, read_csv_rows

_REQUIRED_COLUMNS = (
    "arrival_s",
    "departure_s",
    "connector",
    "arrival_soc_pct",
    "target_soc_pct",
)
_CAR_COLUMNS = ("car", "capacity_kwh")
"""The header needs at least one of these."""
_OPTIONAL_COLUMNS = ("capacity_kwh", "max_power_kw", "pack_voltage_v")
_UNNAMED_CAR_COLUMNS = ("capacity_kwh", "max_power_kw", "pack_voltage_v")
"""Columns that describe an unnamed car: empty in a row that names its car."""


def load_sessions_csv(path: Path) -> list[EvSession]:
    """Read and parse a session schedule file; ``ValueError`` with one line on any problem."""
    return _parse_rows(read_csv_rows(path))


def parse_sessions_csv(text: str) -> list[EvSession]:
    """Parse an EV session schedule (format in the module docstring); sorted by arrival."""
    return _parse_rows(csv_rows(text))


def _parse_rows(rows: list[CsvRow]) -> list[EvSession]:
    if not rows:
        raise ValueError(
            "EV session CSV is empty: expected the header "
            + ",".join(_REQUIRED_COLUMNS + _CAR_COLUMNS)
        )
    header_line, header = rows[0]
    allowed = (*_REQUIRED_COLUMNS, "car", *_OPTIONAL_COLUMNS)
    for col, name in enumerate(header, start=1):
        if name not in allowed:
            raise ValueError(
                f"line {header_line}, column {col}: unknown column {name!r}; "
                f"allowed: {', '.join(allowed)}"
            )
        if header.index(name) != col - 1:
            raise ValueError(f"line {header_line}, column {col}: duplicate column {name!r}")
    missing = [name for name in _REQUIRED_COLUMNS if name not in header]
    if not any(name in header for name in _CAR_COLUMNS):
        missing.append("car or capacity_kwh")
    if missing:
        raise ValueError(
            f"line {header_line}: missing column(s) {', '.join(missing)}; "
            f"the header needs {','.join(_REQUIRED_COLUMNS)} and car or capacity_kwh"
        )
    position = {name: i for i, name in enumerate(header)}
    parsed = [(line, _parse_row(line, cells, len(header), position)) for line, cells in rows[1:]]
    parsed.sort(key=lambda row: (row[1].connector, row[1].arrival_s))
    for (_, before), (line_no, session) in itertools.pairwise(parsed):
        if before.connector == session.connector and session.arrival_s < before.departure_s:
            raise ValueError(
                f"line {line_no}, column {position['arrival_s'] + 1} (arrival_s): the session "
                f"on connector {session.connector} arrives at {session.arrival_s:g} s, before "
                f"the previous one there departs at {before.departure_s:g} s"
            )
    return sorted((s for _, s in parsed), key=lambda s: (s.arrival_s, s.connector))


def _parse_row(line_no: int, fields: list[str], width: int, position: dict[str, int]) -> EvSession:
    if len(fields) != width:
        raise ValueError(f"line {line_no}: expected {width} fields, got {len(fields)}")

    def where(name: str) -> str:
        return f"line {line_no}, column {position[name] + 1} ({name})"

    car_name = fields[position["car"]] if "car" in position else ""
    car = CARS_BY_NAME.get(car_name) if car_name else None
    if car_name and car is None:
        raise ValueError(
            f"{where('car')}: unknown car {car_name!r}; named cars: {', '.join(CARS_BY_NAME)}"
        )
    values: dict[str, float] = {}
    for name, i in position.items():
        raw = fields[i]
        if name == "car":
            continue
        if car is not None and name in _UNNAMED_CAR_COLUMNS:
            if raw != "":
                raise ValueError(f"{where(name)}: leave it empty, the car {car_name} gives it")
            continue
        if raw == "" and name in _OPTIONAL_COLUMNS:
            if name == "capacity_kwh":
                raise ValueError(f"{where(name)}: required for a row without a car")
            continue
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{where(name)}: {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{where(name)}: {raw!r} is not a finite number")
        values[name] = value
    arrival, departure = values["arrival_s"], values["departure_s"]
    if arrival < 0.0:
        raise ValueError(f"{where('arrival_s')}: must be >= 0, got {arrival:g}")
    if departure <= arrival:
        raise ValueError(
            f"{where('departure_s')}: must be greater than arrival_s ({arrival:g}), "
            f"got {departure:g}"
        )
    connector = values["connector"]
    if connector < 1 or connector != int(connector):
        raise ValueError(f"{where('connector')}: must be an integer >= 1, got {connector:g}")
    for name in ("arrival_soc_pct", "target_soc_pct"):
        if not 0.0 <= values[name] <= 100.0:
            raise ValueError(f"{where(name)}: must be within 0-100 %, got {values[name]:g}")
    for name in ("capacity_kwh", "max_power_kw", "pack_voltage_v"):
        if name in values and not values[name] > 0.0:
            raise ValueError(f"{where(name)}: must be greater than 0, got {values[name]:g}")
    if car is not None:
        return EvSession.for_car(
            car,
            arrival,
            departure,
            int(connector),
            values["arrival_soc_pct"],
            values["target_soc_pct"],
        )
    max_power = values.get("max_power_kw")
    return EvSession(
        arrival_s=arrival,
        departure_s=departure,
        connector=int(connector),
        capacity_kwh=values["capacity_kwh"],
        arrival_soc_pct=values["arrival_soc_pct"],
        target_soc_pct=values["target_soc_pct"],
        max_ac_kw=DEFAULT_MAX_AC_KW if max_power is None else max_power,
        max_dc_kw=DEFAULT_MAX_DC_KW if max_power is None else max_power,
        pack_voltage_v=values.get("pack_voltage_v", DEFAULT_PACK_VOLTAGE_V),
    )
