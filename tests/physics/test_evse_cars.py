"""Named EVs: measured DC charging curves at the connector, on-board charger phases.

Source of the curves: Open EV Data (Chargeprice), github.com/chargeprice/open-ev-data,
``data/ev-data.json`` at commit e495ff9 (dataset updated 2021-09-09), the ``charging_curve`` of
each car (``percentage`` → ``power``), quoted in ``physics/evse/cars.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from dersim_trio.physics.base import DeviceOutput, Dispatch, Environment
from dersim_trio.physics.evse.cars import CARS, CARS_BY_NAME, CURVE_FLOOR_KW
from dersim_trio.physics.evse.sessions import EvSession
from dersim_trio.physics.evse.station import EvseModel
from dersim_trio.setup.evse_stations import load_station_spec

ENV = Environment(sim_time=datetime(2024, 6, 21, 12, 0, tzinfo=UTC))


def conn(out: DeviceOutput) -> Mapping[str, Any]:
    value = out.asset["connectors"]
    assert isinstance(value, list)
    return value[0]


def connector_power_at(car_name: str, soc_pct: float) -> float:
    """DC power a 350 kW / 500 A CCS connector delivers to ``car_name`` plugged in at
    ``soc_pct`` (first full step, 1 s, so SoC has barely moved)."""
    car = CARS_BY_NAME[car_name]
    session = EvSession.for_car(car, 0.0, 3600.0, 1, soc_pct, 100.0)
    model = EvseModel(load_station_spec("EVSE-DC-350kW-CCS-2port"), sessions=[session])
    model.step(ENV, Dispatch(), 0.0)  # plug in
    return float(conn(model.step(ENV, Dispatch(), 1.0))["power_kw"])


@pytest.mark.parametrize(
    ("soc_pct", "published_kw"),
    [(60.0, 80.0), (80.0, 65.0), (90.0, 43.5)],
)
def test_a_77_kwh_car_draws_its_published_curve(soc_pct: float, published_kw: float) -> None:
    """Volkswagen ID.4 77 kWh (2020), Open EV Data charging_curve 0:125 30:125 70:65 80:65
    100:22: at 60/80/90 % SoC 80/65/43.5 kW (90 % between the 80 % and 100 % points), not the
    flat taper's 125/125/65."""
    assert connector_power_at("vw-id4-77", soc_pct) == pytest.approx(published_kw, rel=2e-3)


@pytest.mark.parametrize(
    ("soc_pct", "published_kw"),
    [(15.0, 219.17), (30.0, 185.0), (60.0, 130.0), (80.0, 100.0), (90.0, 55.5)],
)
def test_an_800_v_car_draws_its_published_curve(soc_pct: float, published_kw: float) -> None:
    """Hyundai Ioniq 5 (2021, 72.6 kWh), Open EV Data charging_curve: 210 kW at 10 % rising to
    the 232 kW peak at 22 % (219.2 kW at 15 %), 185 kW for 23-37 %, 130 kW for 56-70 %, 100 kW
    at 80 %, 11 kW at 100 % (55.5 kW at 90 %)."""
    assert connector_power_at("hyundai-ioniq5", soc_pct) == pytest.approx(published_kw, rel=2e-3)


@pytest.mark.parametrize(
    ("soc_pct", "measured_kw"),
    [(50.0, 69.0), (65.0, 57.0), (75.0, 37.0), (85.0, 25.0)],
)
def test_the_kona_curve_agrees_with_an_independent_measurement(
    soc_pct: float, measured_kw: float
) -> None:
    """Bjørn Nyland's 2019 Hyundai Kona Electric 64 kWh on a 175 kW charger (Electric Revs,
    "Watch a 2019 Hyundai Kona EV charge at up to 70 kW", 2018-07-30): about 69 kW until 57 %,
    57 kW until 72 %, 37 kW until 78 %, 25 kW until 92 %. The dataset curve is within 3 %."""
    assert connector_power_at("hyundai-kona-64", soc_pct) == pytest.approx(measured_kw, rel=0.03)


def test_every_car_peaks_at_its_published_dc_maximum() -> None:
    """Open EV Data ``dc_charger.max_power`` of each entry quoted in cars.py."""
    peaks = {car.name: car.dc_max_kw for car in CARS}
    assert peaks == {
        "hyundai-ioniq5": 232.0,
        "tesla-model3-lr": 195.0,
        "tesla-modely-lr": 246.0,
        "vw-id4-77": 125.0,
        "ford-mache-70": 113.0,
        "polestar-2": 150.0,
        "hyundai-kona-64": 77.0,
        "peugeot-e208": 97.0,
        "renault-zoe-ze50": 46.0,
        "chevrolet-bolt": 55.0,
    }


def test_the_curve_is_linear_between_points_and_floored_near_full() -> None:
    bolt = CARS_BY_NAME["chevrolet-bolt"]
    assert bolt.dc_power_kw(0.0) == 55.0
    assert bolt.dc_power_kw(28.0) == pytest.approx(55.0 - 17.0 * 28.0 / 56.0)
    assert bolt.dc_power_kw(95.0) == pytest.approx(16.0 * 5.0 / 15.0)
    assert bolt.dc_power_kw(99.5) == CURVE_FLOOR_KW  # the dataset's 0 kW at 100 %
    assert bolt.dc_power_kw(150.0) == CURVE_FLOOR_KW
    ioniq = CARS_BY_NAME["hyundai-ioniq5"]
    assert ioniq.dc_power_kw(22.5) == pytest.approx((232.0 + 185.0) / 2)  # a step, 1 % wide
    assert ioniq.dc_power_kw(100.0) == 11.0


def test_a_named_car_reaches_a_100_percent_target_and_stops() -> None:
    """The floor makes the last percent finite: the Bolt lands on 100 % and goes to B."""
    car = CARS_BY_NAME["chevrolet-bolt"]
    session = EvSession.for_car(car, 0.0, 36000.0, 1, 90.0, 100.0)
    model = EvseModel(load_station_spec("EVSE-DC-150kW-CCS-1port"), sessions=[session])
    out = model.step(ENV, Dispatch(), 60.0)
    for _ in range(600):
        out = model.step(ENV, Dispatch(), 60.0)
        if conn(out)["state"] == "B":
            break
    assert (conn(out)["status"], conn(out)["ev_soc_pct"]) == ("suspended_ev", 100.0)
    assert conn(out)["car"] == "chevrolet-bolt"


def test_a_single_phase_car_uses_one_phase_of_a_three_phase_connector() -> None:
    """Peugeot e-208 7.2 kW-AC: one usable phase (Open EV Data) on the 22 kW Type 2 connector
    (3 × 230 V × 32 A): 230 V × 32 A = 7.36 kW on one phase, 32 A reported per phase."""
    car = CARS_BY_NAME["peugeot-e208"]
    model = EvseModel(
        load_station_spec("EVSE-AC-22kW-1port"),
        sessions=[EvSession.for_car(car, 0.0, 3600.0, 1, 20.0, 80.0)],
    )
    model.step(ENV, Dispatch(), 0.0)
    c = conn(model.step(ENV, Dispatch(), 1.0))
    assert c["power_kw"] == pytest.approx(0.230 * 32.0)
    assert c["current_a"] == pytest.approx(32.0)
    zoe = EvseModel(
        load_station_spec("EVSE-AC-22kW-1port"),
        sessions=[EvSession.for_car(CARS_BY_NAME["renault-zoe-ze50"], 0.0, 3600.0, 1, 20.0, 80)],
    )
    zoe.step(ENV, Dispatch(), 0.0)
    assert conn(zoe.step(ENV, Dispatch(), 1.0))["power_kw"] == pytest.approx(22.0)


def test_an_unnamed_car_keeps_the_flat_taper() -> None:
    """Without a named car the DC power is max_dc_kw up to the 80 % knee (powerflow.py)."""
    session = EvSession(0.0, 3600.0, 1, 77.0, 60.0, 100.0, max_dc_kw=230.0, pack_voltage_v=800)
    model = EvseModel(load_station_spec("EVSE-DC-350kW-CCS-2port"), sessions=[session])
    model.step(ENV, Dispatch(), 0.0)
    c = conn(model.step(ENV, Dispatch(), 1.0))
    assert c["power_kw"] == pytest.approx(230.0)
    assert c["car"] is None
