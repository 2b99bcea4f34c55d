"""Wind turbines against their published steady states, 3–25 m/s at hub height.

Each turbine is swept upward through every integer hub wind speed, 10 simulated minutes of
settling at each, then 10 more minutes in which the power is recorded (1.5 s ticks).

References (numbers quoted below):

* NREL 5-MW: OpenFAST steady states of the onshore NREL 5-MW with a rigid structure and
  Jonkman's baseline controller (DISCON), ebranlard/welib
  ``data/NREL5MW/NREL5MW_Oper_Onshore_Rigid_Discon.csv`` (commit 457221d5): columns WS_[m/s],
  RotSpeed_[rpm], BldPitch_[deg], GenPower_[kW].
* NREL 5-MW, second reference: NREL's published power curve of the same turbine from FAST
  steady states with Jonkman's baseline controller (FAST v7, AeroDyn 13; generator power, the
  aerodynamic power × 0.944), NREL/turbine-models ``Offshore/NREL_5MW_126_RWT.csv`` (commit
  be1ca72e, BSD-3-Clause; its documentation cites the NREL 5-MW report, NREL/TP-500-38060, and
  the NREL forum thread where the curves were posted): wind speed, power kW.
* IEA 15-MW: the IEA-15-240-RWT documentation's tabular rotor performance (Gaertner et al. 2020,
  NREL/TP-5000-75698), IEAWindTask37/IEA-15-240-RWT ``performance/performance_ccblade.dat``
  (commit cf54270e): wind speed, rotor speed, pitch and electrical power at the table's own
  50 wind speeds; the values at integer speeds are interpolated linearly between its rows.

Targets (the physics-fidelity issue): electrical power within 5 % from 4 m/s up (3 m/s: within
20 kW for the NREL 5-MW, 60 kW for the IEA 15-MW), rotor speed within 3 %, region-3 pitch within
1.5°, and at constant wind a peak-to-peak power below 1 % of rated over the 10 minutes.

Known exception, NREL 5-MW at 4 and 5 m/s: the model follows the bundled ROSCO rotor table
(CCBlade), whose C_p at the tip-speed ratios the turbine runs at there is above the C_p OpenFAST's
AeroDyn computes for the same rotor: 0.372 against 0.339 at λ 11.9 (4 m/s) and 0.435 against
0.411 at λ 9.8 (5 m/s), both on the hub wind (from the reference's rotor torque and speed; 0.465
against 0.454 at λ 7.4, 8 m/s). The rotor speed is pinned by the steep region-1½ torque line, so
the power carries that difference: +10.4 % and +5.7 % (+3.8 % at 6 m/s, +2.2 % at 8 m/s).
These two points are held to 11 % and 6 % instead of 5 %.

The two published FAST steady states of this turbine disagree with each other by more than that
at low wind: NREL's power curve (second reference above) gives 177.7 kW at 4 m/s and 403.9 kW at
5 m/s, 13.6 % and 9.1 % above the OpenFAST run (156.5 and 370.1 kW), and 3–5 % above it from
6 m/s to rated. The model lies between the two at every speed from 3 m/s to rated and within
3.4 % of NREL's curve at every integer speed from 4 m/s (3 m/s: 2.8 kW below it), which the
test on that curve holds to 5 %.

Why, checked by re-running CCBlade (WISDEM 4.2.9, ``wisdem.ccblade``) on the OpenFAST model
ROSCO 2.10.6 ships (``Examples/Test_Cases/NREL-5MW``: AeroDyn 15 blade and polars, tilt 5°,
precone 2.5°, ROSCO's hard-coded shear exponent 0.2): it reproduces the bundled table (C_p 0.4653
against 0.4650 at λ 8, 0°; 0.375 against 0.368 at λ 12). The reference run's own AeroDyn options
(welib ``onshore_PowerCurve/NREL5MW_AD.dat``: no drag in the induction, AIDrag = TIDrag =
False; uniform wind, no shear) move CCBlade the other way (C_p 0.389 at λ 11.8, against 0.382
with ROSCO's settings). At λ 11.8 the outer half of the blade runs at axial induction 0.5–0.8,
the high-induction regime where each BEM code's empirical correction decides C_p; OpenFAST there
also runs unsteady airfoil aerodynamics and tower potential flow. No published table of AeroDyn's
C_p for this rotor exists besides the reference run itself, and fitting the model to the
reference would make this comparison circular, so the table stays as published.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from dersim_trio.physics.base import Dispatch, Environment
from dersim_trio.physics.wind import (
    WindModel,
    WindNameplate,
    iea_15mw_nameplate,
    nrel_5mw_nameplate,
)
from dersim_trio.setup.rotor_tables import rotor_performance

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
TICK_S = 1.5
SETTLE_S = 600.0
WINDOW_S = 600.0

# welib NREL5MW_Oper_Onshore_Rigid_Discon.csv: wind → (rotor rpm, pitch °, generator kW).
NREL_5MW_OPENFAST = {
    3: (6.9559, 0.0, 30.4335),
    4: (7.1509, 0.0, 156.4826),
    5: (7.4598, 0.0, 370.1361),
    6: (7.8777, 0.0, 686.505),
    7: (8.391, 0.0, 1117.9824),
    8: (8.9983, 0.0, 1681.2708),
    9: (10.1334, 0.0, 2401.1812),
    10: (11.2718, 0.0, 3304.7729),
    11: (11.8609, 0.0, 4413.6597),
    12: (12.1, 3.0565, 4999.9957),
    13: (12.1, 5.9782, 4999.9965),
    14: (12.1, 8.1264, 4999.9977),
    15: (12.1, 9.9572, 5000.0019),
    16: (12.1, 11.6282, 5000.0034),
    17: (12.1, 13.147, 5000.0046),
    18: (12.1, 14.5337, 5000.0088),
    19: (12.1, 15.8445, 5000.0096),
    20: (12.1, 17.0944, 5000.0142),
    21: (12.1, 18.3017, 5000.0119),
    22: (12.1, 19.5135, 4999.995),
    23: (12.1, 20.7242, 5000.0073),
    24: (12.1, 21.9086, 4999.9892),
    25: (12.1003, 23.0499, 5000.0215),
}

# NREL/turbine-models Offshore/NREL_5MW_126_RWT.csv: wind m/s → generator power kW (FAST v7).
NREL_5MW_FAST_POWER_CURVE = {
    3: 40.5,
    4: 177.7,
    5: 403.9,
    6: 737.6,
    7: 1187.2,
    8: 1771.1,
    9: 2518.6,
    10: 3448.41,
    11: 4562.51,
    **{wind: 5000.0 for wind in range(12, 26)},
}

# IEA-15-240-RWT performance/performance_ccblade.dat: wind m/s, rotor rpm, pitch °, power W.
IEA_15MW_TABLE = (
    (3.0, 5.0, 3.8603, 3.9456e04),
    (3.5495, 5.0, 3.8544, 2.9155e05),
    (4.0679, 5.0, 3.6639, 6.0995e05),
    (4.5539, 5.0, 3.3105, 9.8648e05),
    (5.0064, 5.0, 2.8757, 1.4104e06),
    (5.4244, 5.0, 2.3891, 1.8693e06),
    (5.8069, 5.0, 1.8869, 2.3493e06),
    (6.153, 5.0, 1.3907, 2.8355e06),
    (6.4619, 5.0, 0.91488, 3.3127e06),
    (6.733, 5.0, 0.46963, 3.7657e06),
    (6.9655, 5.0, 0.069248, 4.1802e06),
    (7.1589, 5.0861, 0.0, 4.5475e06),
    (7.3128, 5.1954, 0.0, 4.8557e06),
    (7.4269, 5.2765, 0.0, 5.0919e06),
    (7.5009, 5.329, 0.0, 5.2489e06),
    (7.5345, 5.3529, 0.0, 5.3212e06),
    (7.5412, 5.3577, 0.0, 5.3358e06),
    (7.5883, 5.3912, 0.0, 5.4383e06),
    (7.6757, 5.4532, 0.0, 5.6317e06),
    (7.8031, 5.5437, 0.0, 5.9214e06),
    (7.9702, 5.6625, 0.0, 6.3156e06),
    (8.1767, 5.8092, 0.0, 6.825e06),
    (8.4221, 5.9836, 0.0, 7.4634e06),
    (8.7059, 6.1851, 0.0, 8.239e06),
    (9.0273, 6.4135, 0.0, 9.1687e06),
    (9.3856, 6.6681, 0.0, 1.0286e07),
    (9.78, 6.9483, 0.0, 1.1618e07),
    (10.21, 7.2535, 0.0, 1.3195e07),
    (10.659, 7.4992, 0.0, 1.5e07),
    (10.673, 7.4992, 0.54761, 1.5e07),
    (11.17, 7.4992, 3.7438, 1.5e07),
    (11.699, 7.4992, 5.4014, 1.5e07),
    (12.259, 7.4992, 6.7606, 1.5e07),
    (12.848, 7.4992, 7.9749, 1.5e07),
    (13.465, 7.4992, 9.1026, 1.5e07),
    (14.109, 7.4992, 10.172, 1.5e07),
    (14.778, 7.4992, 11.201, 1.5e07),
    (15.471, 7.4992, 12.199, 1.5e07),
    (16.185, 7.4992, 13.171, 1.5e07),
    (16.921, 7.4992, 14.123, 1.5e07),
    (17.674, 7.4992, 15.058, 1.5e07),
    (18.445, 7.4992, 15.977, 1.5e07),
    (19.231, 7.4992, 16.881, 1.5e07),
    (20.03, 7.4992, 17.771, 1.5e07),
    (20.841, 7.4992, 18.647, 1.5e07),
    (21.661, 7.4992, 19.509, 1.5e07),
    (22.489, 7.4992, 20.357, 1.5e07),
    (23.323, 7.4992, 21.191, 1.5e07),
    (24.16, 7.4992, 22.009, 1.5e07),
    (25.0, 7.4992, 22.813, 1.5e07),
)


def iea_reference(wind: float) -> tuple[float, float, float]:
    """(rotor rpm, pitch °, power kW) interpolated linearly in the IEA table."""
    for lo, hi in itertools.pairwise(IEA_15MW_TABLE):
        if lo[0] <= wind <= hi[0]:
            t = (wind - lo[0]) / (hi[0] - lo[0])
            rpm, pitch, watts = (lo[k] + t * (hi[k] - lo[k]) for k in (1, 2, 3))
            return rpm, pitch, watts / 1000.0
    raise ValueError(wind)


@dataclass(frozen=True)
class Settled:
    """The model at the end of the window at one wind speed."""

    power_kw: float
    rotor_rpm: float
    pitch_deg: float
    peak_to_peak_kw: float
    state: str


def sweep(plate: WindNameplate) -> dict[int, Settled]:
    """Step one turbine up through 3..25 m/s (module docstring)."""
    model = WindModel(
        plate, rotor_performance(plate.rotor_table), anemometer_height_m=plate.hub_height_m
    )
    results: dict[int, Settled] = {}
    full = Dispatch()
    for wind in range(3, 26):
        env = Environment(sim_time=T0, wind_speed_m_s=float(wind))
        for _ in range(round(SETTLE_S / TICK_S)):
            model.step(env, full, TICK_S)
        powers = []
        for _ in range(round(WINDOW_S / TICK_S)):
            out = model.step(env, full, TICK_S)
            powers.append(out.ac_power_kw)
        rpm = out.asset["rotor_speed_rpm"]
        pitch = out.asset["pitch_deg"]
        assert isinstance(rpm, float)
        assert isinstance(pitch, float)
        results[wind] = Settled(
            out.ac_power_kw, rpm, pitch, max(powers) - min(powers), out.inverter_state
        )
    return results


@pytest.fixture(scope="module")
def nrel() -> dict[int, Settled]:
    return sweep(nrel_5mw_nameplate())


@pytest.fixture(scope="module")
def iea() -> dict[int, Settled]:
    return sweep(iea_15mw_nameplate())


WINDS = list(range(3, 26))
NREL_POWER_TOLERANCE = {4: 0.11, 5: 0.06}
"""The two documented exceptions (module docstring); 5 % elsewhere."""


@pytest.mark.parametrize("wind", WINDS)
def test_nrel_5mw_power_matches_the_openfast_steady_state(
    nrel: dict[int, Settled], wind: int
) -> None:
    rpm, _, power_kw = NREL_5MW_OPENFAST[wind]
    got = nrel[wind]
    assert got.state == "running"
    if wind == 3:
        assert got.power_kw == pytest.approx(power_kw, abs=20.0)
    else:
        assert got.power_kw == pytest.approx(power_kw, rel=NREL_POWER_TOLERANCE.get(wind, 0.05))
    assert got.rotor_rpm == pytest.approx(rpm, rel=0.03)


@pytest.mark.parametrize("wind", WINDS)
def test_nrel_5mw_power_matches_nrels_published_fast_power_curve(
    nrel: dict[int, Settled], wind: int
) -> None:
    """Within 5 % of NREL's published FAST power curve at every integer speed from 4 m/s
    (3 m/s: within 20 kW), 4 and 5 m/s included (module docstring: the two references)."""
    power_kw = NREL_5MW_FAST_POWER_CURVE[wind]
    if wind == 3:
        assert nrel[wind].power_kw == pytest.approx(power_kw, abs=20.0)
    else:
        assert nrel[wind].power_kw == pytest.approx(power_kw, rel=0.05)


@pytest.mark.parametrize("wind", [w for w in WINDS if w >= 12])
def test_nrel_5mw_region_3_pitch_matches_the_openfast_steady_state(
    nrel: dict[int, Settled], wind: int
) -> None:
    assert nrel[wind].pitch_deg == pytest.approx(NREL_5MW_OPENFAST[wind][1], abs=1.5)


@pytest.mark.parametrize("wind", WINDS)
def test_iea_15mw_power_matches_the_documented_rotor_performance(
    iea: dict[int, Settled], wind: int
) -> None:
    rpm, _, power_kw = iea_reference(float(wind))
    got = iea[wind]
    assert got.state == "running"
    if wind == 3:
        assert got.power_kw == pytest.approx(power_kw, abs=60.0)
    else:
        assert got.power_kw == pytest.approx(power_kw, rel=0.05)
    assert got.rotor_rpm == pytest.approx(rpm, rel=0.03)


@pytest.mark.parametrize("wind", [w for w in WINDS if w >= 11])
def test_iea_15mw_region_3_pitch_matches_the_documented_rotor_performance(
    iea: dict[int, Settled], wind: int
) -> None:
    assert iea[wind].pitch_deg == pytest.approx(iea_reference(float(wind))[1], abs=1.5)


@pytest.mark.parametrize("wind", WINDS)
def test_power_is_steady_at_constant_wind(
    nrel: dict[int, Settled], iea: dict[int, Settled], wind: int
) -> None:
    """Peak-to-peak below 1 % of rated over 10 minutes, near rated included."""
    assert nrel[wind].peak_to_peak_kw < 0.01 * 5000.0
    assert iea[wind].peak_to_peak_kw < 0.01 * 15000.0


def test_no_oscillation_through_rated_wind_in_fine_steps() -> None:
    """The IEA 15-MW oscillated at 12–12.5 m/s before (issue: rotor 6.45–8.73 rpm, pitch
    1.4–9.8°); every 0.25 m/s from 9.5 to 13.5 m/s, each reached by a 2 m/s step after two
    minutes below it, now settles within 10 minutes and holds."""
    for plate in (nrel_5mw_nameplate(), iea_15mw_nameplate()):
        for k in range(17):
            wind = 9.5 + 0.25 * k
            model = WindModel(
                plate, rotor_performance(plate.rotor_table), anemometer_height_m=plate.hub_height_m
            )
            below = Environment(sim_time=T0, wind_speed_m_s=wind - 2.0)
            for _ in range(round(120.0 / TICK_S)):
                model.step(below, Dispatch(), TICK_S)
            env = Environment(sim_time=T0, wind_speed_m_s=wind)
            for _ in range(round(SETTLE_S / TICK_S)):
                model.step(env, Dispatch(), TICK_S)
            powers = [
                model.step(env, Dispatch(), TICK_S).ac_power_kw
                for _ in range(round(WINDOW_S / TICK_S))
            ]
            assert max(powers) - min(powers) < 0.01 * plate.rated_power_kw, (plate.name, wind)


def settle(plate: WindNameplate, wind: float, tick_s: float) -> tuple[float, float, float, float]:
    """(power kW, rotor rpm, pitch °, peak-to-peak kW over the last 5 minutes) 10 minutes after a
    1 m/s step up to ``wind`` (2 minutes below it first), in ``tick_s`` ticks."""
    model = WindModel(
        plate, rotor_performance(plate.rotor_table), anemometer_height_m=plate.hub_height_m
    )
    below = Environment(sim_time=T0, wind_speed_m_s=wind - 1.0)
    for _ in range(round(120.0 / tick_s)):
        model.step(below, Dispatch(), tick_s)
    env = Environment(sim_time=T0, wind_speed_m_s=wind)
    powers = []
    for _ in range(round(SETTLE_S / tick_s)):
        out = model.step(env, Dispatch(), tick_s)
        powers.append(out.ac_power_kw)
    tail = powers[len(powers) // 2 :]
    rpm = out.asset["rotor_speed_rpm"]
    pitch = out.asset["pitch_deg"]
    assert isinstance(rpm, float)
    assert isinstance(pitch, float)
    return out.ac_power_kw, rpm, pitch, max(tail) - min(tail)


@pytest.mark.parametrize("plate", [nrel_5mw_nameplate(), iea_15mw_nameplate()], ids=["5MW", "15MW"])
@pytest.mark.parametrize("wind", [4.0, 11.0, 12.0, 25.0])
def test_the_1_5_s_tick_settles_where_0_1_s_steps_do(plate: WindNameplate, wind: float) -> None:
    """The model integrates a 1.5 s tick in sub-steps of at most 0.5 s (model.py). One Euler
    step per 1.5 s tick would leave the NREL 5-MW pitch loop in a limit cycle after the step up
    to 25 m/s (754 kW peak-to-peak, rotor 13.1 rpm at the end; 1.0 s steps are still stable;
    the IEA 15-MW is stable at 1.5 s). With the sub-steps the tick lands on the fine-step
    operating point and holds it."""
    coarse = settle(plate, wind, TICK_S)
    fine = settle(plate, wind, 0.1)
    assert coarse[3] < 1e-3 * plate.rated_power_kw
    assert coarse[0] == pytest.approx(fine[0], abs=1e-3 * plate.rated_power_kw)
    assert coarse[1] == pytest.approx(fine[1], rel=1e-3)
    assert coarse[2] == pytest.approx(fine[2], abs=0.05)
