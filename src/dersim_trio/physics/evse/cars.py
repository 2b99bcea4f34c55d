"""Named EVs with their measured DC charging curves (SoC → kW) and on-board charger limits.

Source of every number below: Open EV Data (Chargeprice), ``data/ev-data.json`` in
https://github.com/chargeprice/open-ev-data (MIT licence; dataset ``updated_at``
2021-09-09, repository commit e495ff9fbb595b6d20276bc434a64776ce75e5c1). Its DC curves are
"simplified charging behaviour based on various charging curve charts (e.g. Fastned)"; only cars
whose curve is marked as measured (``is_default_charging_curve: false``) are used here. For each
car: usable battery ``usable_battery_size`` (kWh), ``ac_charger.max_power`` (kW) and
``usable_phases``, ``dc_charger.charging_curve`` (``percentage`` → ``power``) verbatim::

    name              dataset entry                            kWh   AC kW  phases
    hyundai-ioniq5    Hyundai Ioniq 5 (2021)                   72.6  11     3
    tesla-model3-lr   Tesla Model 3 LR                         74.0  11     3
    tesla-modely-lr   Tesla Model Y Long Range (2020)          72.5  11     3
    vw-id4-77         Volkswagen ID.4 77 kWh (2020)            77.0  11     3
    ford-mache-70     Ford Mustang Mach e RWD 75,7 kWh (2020)  70.0  11     3
    polestar-2        Polestar 2 (2020)                        72.5  11     3
    hyundai-kona-64   Hyundai Kona 64 kWh 11 kW-AC (2020)      64.0  11     3
    peugeot-e208      Peugeot e-208 7,2 kW-AC (2020)           45.0  7.4    1
    renault-zoe-ze50  Renault Zoe R135 ZE50 (2019)             52.0  22     3
    chevrolet-bolt    Chevrolet Bolt 60 kWh (2017)             58.0  7.2    1

    name              DC curve, SoC % : kW
    hyundai-ioniq5    0:200 10:210 22:232 23:185 37:185 38:175 47:175 48:155 55:155
                      56:130 70:130 80:100 100:11
    tesla-model3-lr   0:180 40:195 60:110 100:12
    tesla-modely-lr   0:246 35:238 75:99 100:18
    vw-id4-77         0:125 30:125 70:65 80:65 100:22
    ford-mache-70     0:113 30:99 60:77 85:36 100:13
    polestar-2        0:150 18:150 20:130 40:130 42:100 55:90 57:70 79:70 80:25 100:11
    hyundai-kona-64   0:70 40:77 42:70 53:71 55:57 71:58 72:38 76:38 78:25 88:25 100:8
    peugeot-e208      0:97 16:97 17:78 46:78 47:52 68:52 69:27 83:27 84:11 100:11
    renault-zoe-ze50  0:41 52:46 80:27 100:22
    chevrolet-bolt    0:55 56:38 68:24 85:16 100:0

The Bolt's dataset entry gives 2 usable phases for its type 1 inlet, which is single-phase
(SAE J1772 AC level 2 at 240 V, 30 A: 7.2 kW); it is modelled as one phase.

Between the points the curve is linear in SoC (the dataset's own reading: steps are two points a
percent apart). Below ``CURVE_FLOOR_KW`` the car keeps drawing that trickle, so a session reaches
100 % in finite time (only the Bolt's last percent is affected; its curve ends at 0 kW).

Nominal pack voltage: the dataset has none, so each car gets its architecture's voltage class,
800 V for the Ioniq 5 (Hyundai E-GMP) and 400 V for the others (V_pack(SoC) as in
``powerflow.pack_voltage_v``); the class decides the current a connector must carry for a power.

Checked against an independent measurement (the Kona test in ``tests/physics/test_evse_cars.py``):
Bjørn Nyland's 2019 Kona Electric 64 kWh session on a 175 kW charger as reported by Electric Revs
("Watch a 2019 Hyundai Kona EV charge at up to 70 kW", 2018-07-30): about 69 kW until 57 %, 57 kW
until 72 %, 37 kW until 78 %, 25 kW until 92 %.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from dataclasses import dataclass
from typing import Final

CURVE_FLOOR_KW: Final = 1.0
"""Least power a named car draws below its target (the BMS trickle that finishes the charge)."""
VOLTAGE_CLASS_400_V: Final = 400.0
VOLTAGE_CLASS_800_V: Final = 800.0
SOURCE: Final = (
    "Open EV Data (Chargeprice), github.com/chargeprice/open-ev-data data/ev-data.json "
    "at e495ff9 (2021-09-09)"
)


@dataclass(frozen=True, slots=True)
class EvCar:
    """A named EV: its battery, on-board charger and measured DC charging curve."""

    name: str
    """The identifier a session CSV's ``car`` column uses."""
    label: str
    """Make, model and variant as the source names it."""
    capacity_kwh: float
    """Usable battery energy, kWh."""
    ac_kw: float
    """On-board charger limit, kW."""
    ac_phases: int
    """Phases the on-board charger uses (1 or 3)."""
    dc_curve: tuple[tuple[float, float], ...]
    """(SoC %, kW) points of the DC charging curve, SoC increasing from 0 to 100."""
    pack_voltage_v: float = VOLTAGE_CLASS_400_V
    """Nominal pack voltage (the architecture's voltage class), V."""

    def __post_init__(self) -> None:
        """Check the curve: from 0 to 100 % SoC, SoC strictly increasing, powers ≥ 0."""
        socs = [p[0] for p in self.dc_curve]
        increasing = all(a < b for a, b in itertools.pairwise(socs))
        if socs[0] != 0.0 or socs[-1] != 100.0 or not increasing:
            raise ValueError(f"{self.name}: the DC curve must run from 0 to 100 % SoC, increasing")
        if any(p[1] < 0.0 for p in self.dc_curve):
            raise ValueError(f"{self.name}: DC curve powers must be >= 0")

    @property
    def dc_max_kw(self) -> float:
        """Peak of the DC charging curve, kW (also the car's V2G discharge limit)."""
        return max(p[1] for p in self.dc_curve)

    def dc_power_kw(self, soc_pct: float) -> float:
        """The power the car accepts on DC at ``soc_pct`` (interpolated, floored), kW."""
        curve = self.dc_curve
        soc = min(100.0, max(0.0, soc_pct))
        i = bisect_right(curve, (soc, float("inf")))
        if i >= len(curve):
            power = curve[-1][1]
        else:
            (s0, p0), (s1, p1) = curve[i - 1], curve[i]
            power = p0 + (p1 - p0) * (soc - s0) / (s1 - s0)
        return power if power > CURVE_FLOOR_KW else CURVE_FLOOR_KW


def _curve(*points: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    return tuple((float(s), float(p)) for s, p in points)


CARS: Final[tuple[EvCar, ...]] = (
    EvCar(
        "hyundai-ioniq5",
        "Hyundai Ioniq 5 (2021)",
        72.6,
        11.0,
        3,
        _curve(
            (0, 200), (10, 210), (22, 232), (23, 185), (37, 185), (38, 175), (47, 175),
            (48, 155), (55, 155), (56, 130), (70, 130), (80, 100), (100, 11),
        ),
        VOLTAGE_CLASS_800_V,
    ),
    EvCar(
        "tesla-model3-lr",
        "Tesla Model 3 LR",
        74.0,
        11.0,
        3,
        _curve((0, 180), (40, 195), (60, 110), (100, 12)),
    ),
    EvCar(
        "tesla-modely-lr",
        "Tesla Model Y Long Range (2020)",
        72.5,
        11.0,
        3,
        _curve((0, 246), (35, 238), (75, 99), (100, 18)),
    ),
    EvCar(
        "vw-id4-77",
        "Volkswagen ID.4 77 kWh (2020)",
        77.0,
        11.0,
        3,
        _curve((0, 125), (30, 125), (70, 65), (80, 65), (100, 22)),
    ),
    EvCar(
        "ford-mache-70",
        "Ford Mustang Mach e RWD 75,7 kWh (2020)",
        70.0,
        11.0,
        3,
        _curve((0, 113), (30, 99), (60, 77), (85, 36), (100, 13)),
    ),
    EvCar(
        "polestar-2",
        "Polestar 2 (2020)",
        72.5,
        11.0,
        3,
        _curve(
            (0, 150), (18, 150), (20, 130), (40, 130), (42, 100), (55, 90), (57, 70),
            (79, 70), (80, 25), (100, 11),
        ),
    ),
    EvCar(
        "hyundai-kona-64",
        "Hyundai Kona 64 kWh 11 kW-AC (2020)",
        64.0,
        11.0,
        3,
        _curve(
            (0, 70), (40, 77), (42, 70), (53, 71), (55, 57), (71, 58), (72, 38), (76, 38),
            (78, 25), (88, 25), (100, 8),
        ),
    ),
    EvCar(
        "peugeot-e208",
        "Peugeot e-208 7,2 kW-AC (2020)",
        45.0,
        7.4,
        1,
        _curve(
            (0, 97), (16, 97), (17, 78), (46, 78), (47, 52), (68, 52), (69, 27), (83, 27),
            (84, 11), (100, 11),
        ),
    ),
    EvCar(
        "renault-zoe-ze50",
        "Renault Zoe R135 ZE50 (2019)",
        52.0,
        22.0,
        3,
        _curve((0, 41), (52, 46), (80, 27), (100, 22)),
    ),
    EvCar(
        "chevrolet-bolt",
        "Chevrolet Bolt 60 kWh (2017)",
        58.0,
        7.2,
        1,
        _curve((0, 55), (56, 38), (68, 24), (85, 16), (100, 0)),
    ),
)  # fmt: skip
"""Every named car (module docstring), the fleet the session generator draws from."""

CARS_BY_NAME: Final[dict[str, EvCar]] = {car.name: car for car in CARS}
