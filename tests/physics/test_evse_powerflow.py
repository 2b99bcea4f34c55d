"""The phases of an EVSE station step, each a pure function (``physics/evse/powerflow.py``)."""

from __future__ import annotations

import math

import pytest

from dersim_trio.physics.evse.powerflow import (
    BACKING_SOC_MAX_PCT,
    BACKING_SOC_MIN_PCT,
    backing_battery_kw,
    backing_discharge_cap_kw,
    charge_demand_kw,
    charge_scale,
    connector_limit_kw,
    ev_soc_after,
    pilot_limited_kw,
    station_ac_power_kw,
    station_inverter_state,
    station_request,
    v2g_discharge_cap_kw,
    v2g_scale,
)

# --- phase 0 ----------------------------------------------------------------------------------


def test_a_non_finite_setpoint_is_no_setpoint_and_the_limit_is_clamped() -> None:
    request = station_request(math.nan, 250.0, 100.0, 75.0, v2g=True)
    assert request.charge_cap_kw is None
    assert request.v2g_request_kw == 0.0
    assert request.limit_pct == 100.0
    assert request.import_limit_kw == 75.0  # the grid connection, below WMax
    request = station_request(None, math.inf, 100.0, 75.0, v2g=False)
    assert request.limit_pct == 100.0


def test_wmaxlimpct_caps_the_import_and_the_v2g_export() -> None:
    request = station_request(80.0, 40.0, 50.0, 50.0, v2g=True)
    assert request.limit_cap_kw == pytest.approx(20.0)
    assert request.import_limit_kw == pytest.approx(20.0)
    assert request.v2g_request_kw == pytest.approx(20.0)


def test_a_positive_setpoint_without_v2g_is_ignored_and_a_negative_one_caps_charging() -> None:
    assert station_request(10.0, 100.0, 22.0, 11.0, v2g=False).setpoint_ignored
    request = station_request(-7.0, 100.0, 22.0, 11.0, v2g=False)
    assert (request.setpoint_ignored, request.charge_cap_kw) == (False, 7.0)
    assert station_request(0.0, 100.0, 22.0, 11.0, v2g=True).charge_cap_kw == 0.0


# --- phase 1 ----------------------------------------------------------------------------------


def test_the_connector_limits_by_power_and_by_current_times_voltage() -> None:
    """IEC Type 2 three-phase 230 V, 32 A: 3·230·32 = 22.08 kW (physics reference B.5)."""
    assert connector_limit_kw(50.0, 50.0, 32.0, 3 * 230.0) == pytest.approx(22.08)
    assert connector_limit_kw(11.0, 22.0, 32.0, 3 * 230.0) == 11.0  # the car's on-board charger
    assert connector_limit_kw(300.0, 150.0, 500.0, 400.0) == 150.0  # connector power


def test_the_demand_lands_the_ev_exactly_on_its_target() -> None:
    """60 kWh, 79 → 80 %, η 0.95, one hour: 0.6 kWh/0.95 = 0.6316 kW, below the limit."""
    demand, capped = charge_demand_kw(150.0, 79.0, 80.0, 60.0, 0.95, 1.0)
    assert capped
    assert demand == pytest.approx(0.6 / 0.95)
    assert ev_soc_after(79.0, demand, 1.0, 0.95, 60.0) == pytest.approx(80.0)
    demand, capped = charge_demand_kw(150.0, 20.0, 80.0, 60.0, 0.95, 1.5 / 3600.0)
    assert (demand, capped) == (150.0, False)
    assert charge_demand_kw(150.0, 20.0, 80.0, 60.0, 0.95, 0.0) == (150.0, False)


def test_v2g_capability_stops_at_the_minimum_soc() -> None:
    """40 kWh at 21 % with a 20 % floor: 0.4 kWh·0.95 deliverable in one minute = 22.8 kW."""
    cap, capped = v2g_discharge_cap_kw(50.0, 21.0, 20.0, 40.0, 0.95, 1.0 / 60.0)
    assert capped
    assert cap == pytest.approx(0.4 * 0.95 * 60.0)
    soc = ev_soc_after(21.0, -cap, 1.0 / 60.0, 0.95, 40.0)
    assert soc == pytest.approx(20.0)


# --- phase 2 ----------------------------------------------------------------------------------


def test_the_battery_can_only_give_the_energy_above_five_percent() -> None:
    assert backing_discharge_cap_kw(150.0, 300.0, 90.0, 0.0) == 150.0
    assert backing_discharge_cap_kw(150.0, 300.0, 6.0, 1.0) == pytest.approx(3.0)
    assert backing_discharge_cap_kw(150.0, 300.0, BACKING_SOC_MIN_PCT, 1.0) == 0.0


def test_one_scale_factor_takes_the_tightest_of_group_supply_and_setpoint() -> None:
    assert charge_scale(0.0, 0.0, 10.0, 5.0, 1.0) == (1.0, "")
    assert charge_scale(100.0, 100.0, None, 200.0, None) == (1.0, "")
    scale, limit = charge_scale(211.0, 220.0, 200.0, 1000.0, None)
    assert (scale, limit) == (pytest.approx(200.0 / 211.0), "group")
    scale, limit = charge_scale(100.0, 104.0, 200.0, 52.0, None)
    assert (scale, limit) == (pytest.approx(0.5), "supply")
    scale, limit = charge_scale(100.0, 104.0, 200.0, 52.0, 30.0)
    assert (scale, limit) == (pytest.approx(0.3), "setpoint")


def test_v2g_shares_deliver_the_request_at_the_ac_terminals() -> None:
    """30 kW at AC through a 96 % converter needs 31.25 kW from the EVs."""
    assert v2g_scale(30.0, 0.96, 50.0) == pytest.approx(30.0 / 0.96 / 50.0)
    assert v2g_scale(100.0, 0.96, 50.0) == 1.0
    assert v2g_scale(30.0, 0.96, 0.0) == 0.0


# --- phase 3 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share_kw", "expected_kw", "offered_a"),
    [
        (1.0, 0.0, 0.0),  # 4.2 A at 240 V: below the 6 A J1772 minimum
        (2.4, 2.4, 10.0),  # 10 A: duty 16.7 %, decodes to 10 A
        (51.5 * 0.24, 51.0 * 0.24, 51.5),  # the table's gap above 85 %: the EV draws 51 A
        (100.0, 80.0 * 0.24, 80.0),  # the connector's 80 A
    ],
)
def test_an_ac_share_is_offered_through_the_pilot_duty_cycle(
    share_kw: float, expected_kw: float, offered_a: float
) -> None:
    power, offered = pilot_limited_kw(share_kw, 240.0, 80.0)
    assert power == pytest.approx(expected_kw)
    assert offered == pytest.approx(offered_a)


def test_ev_soc_uses_the_efficiency_on_the_way_in_and_out() -> None:
    """η_AC 0.92: an hour at 11 kW puts 10.12 kWh into 60 kWh (+16.87 points)."""
    assert ev_soc_after(20.0, 11.0, 1.0, 0.92, 60.0) == pytest.approx(20.0 + 1012.0 / 60.0)
    assert ev_soc_after(60.0, -9.5, 1.0, 0.95, 50.0) == pytest.approx(40.0)


# --- phase 4 ----------------------------------------------------------------------------------


def test_the_battery_covers_dc_demand_above_the_grid_share() -> None:
    """150 kW DC demand on a 75 kW connection (η 0.96): the battery gives 150 − 72 = 78 kW."""
    batt, soc = backing_battery_kw(
        75.0, 0.0, 150.0, 0.96, 90.0, 300.0, 150.0, 150.0, 60.0, 1 / 3600
    )
    assert batt == pytest.approx(150.0 - 75.0 * 0.96)
    assert soc == pytest.approx(90.0 - 100.0 * batt / 3600.0 / 300.0)
    assert station_ac_power_kw(0.0, 150.0 - batt, 0.96) == pytest.approx(-75.0)


def test_an_ac_ev_beyond_the_connection_draws_through_the_converter() -> None:
    """A 22 kW AC EV on an 11 kW connection: the other 11 kW reach the AC side from the
    battery through the converter, 11/0.96 kW of DC."""
    batt, _ = backing_battery_kw(11.0, 22.0, 0.0, 0.96, 90.0, 22.0, 22.0, 22.0, 4.4, 1 / 3600)
    assert batt == pytest.approx(11.0 / 0.96)
    assert station_ac_power_kw(22.0, -batt, 0.96) == pytest.approx(-11.0)


def test_a_top_up_takes_the_headroom_up_to_its_limit_and_lands_on_95_percent() -> None:
    """75 kW of headroom, a 60 kW top-up limit: 60 kW from the grid, 57.6 kW into the battery."""
    batt, soc = backing_battery_kw(75.0, 0.0, 0.0, 0.96, 80.0, 300.0, 150.0, 150.0, 60.0, 1 / 60)
    assert batt == pytest.approx(-60.0 * 0.96)
    assert soc == pytest.approx(80.0 + 100.0 * 0.95 * 57.6 / 60.0 / 300.0)
    assert station_ac_power_kw(0.0, -batt, 0.96) == pytest.approx(-60.0)
    batt, soc = backing_battery_kw(10.0, 0.0, 0.0, 0.96, 80.0, 300.0, 150.0, 150.0, 60.0, 1 / 60)
    assert batt == pytest.approx(-10.0 * 0.96)  # the headroom binds
    batt, soc = backing_battery_kw(75.0, 0.0, 0.0, 0.96, 94.99, 300.0, 150.0, 150.0, 60.0, 1.0)
    assert soc == BACKING_SOC_MAX_PCT
    assert -batt == pytest.approx(0.01 * 3.0 / 0.95)


def test_without_a_top_up_the_battery_stays_idle_with_headroom() -> None:
    batt, soc = backing_battery_kw(75.0, 0.0, 0.0, 0.96, 90.0, 300.0, 150.0, 150.0, 0.0, 1 / 60)
    assert (batt, soc) == (0.0, 90.0)


def test_an_empty_battery_lands_on_its_minimum() -> None:
    cap = backing_discharge_cap_kw(150.0, 300.0, 5.5, 1.0)
    batt, soc = backing_battery_kw(0.0, 0.0, 150.0, 0.96, 5.5, 300.0, 150.0, cap, 60.0, 1.0)
    assert batt == pytest.approx(cap)
    assert soc == BACKING_SOC_MIN_PCT


def test_v2g_export_goes_through_the_converter_to_the_grid() -> None:
    assert station_ac_power_kw(0.0, -31.25, 0.96) == pytest.approx(30.0)


# --- phase 5 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unavailable", "blocked", "flowing", "throttled", "state"),
    [
        (2, 2, False, False, "off"),
        (1, 2, False, False, "fault"),
        (0, 0, True, False, "running"),
        (0, 0, False, False, "standby"),
        (0, 1, True, True, "throttled"),
        (0, 0, False, True, "throttled"),
    ],
)
def test_the_station_state_follows_its_connectors(
    unavailable: int, blocked: int, flowing: bool, throttled: bool, state: str
) -> None:
    assert station_inverter_state(2, unavailable, blocked, flowing, throttled) == state
