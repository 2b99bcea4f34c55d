"""Tests of the EVSE station model: bundled stations, sessions, charge curve, limits, V2G."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.base import DeviceOutput, Dispatch, Environment
from dersim_trio.physics.evse.powerflow import ev_power_fraction
from dersim_trio.physics.evse.sessions import EvSession
from dersim_trio.physics.evse.spec import EvseStationSpec
from dersim_trio.physics.evse.station import EvseModel
from dersim_trio.setup.ev_sessions_csv import parse_sessions_csv
from dersim_trio.setup.evse_stations import bundled_station_names, load_station_spec

ENV = Environment(sim_time=datetime(2024, 6, 21, 12, 0, tzinfo=UTC))
IDLE = Dispatch()


def connectors(out: DeviceOutput) -> list[Mapping[str, Any]]:
    value = out.asset["connectors"]
    assert isinstance(value, list)
    return value


def conn(out: DeviceOutput, index: int = 0) -> Mapping[str, Any]:
    return connectors(out)[index]


def session(
    connector: int = 1,
    arrival_s: float = 0.0,
    departure_s: float = 36000.0,
    capacity_kwh: float = 60.0,
    arrival_soc_pct: float = 20.0,
    target_soc_pct: float = 100.0,
    max_ac_kw: float = 11.0,
    max_dc_kw: float = 150.0,
    pack_voltage_v: float = 800.0,
) -> EvSession:
    return EvSession(
        arrival_s,
        departure_s,
        connector,
        capacity_kwh,
        arrival_soc_pct,
        target_soc_pct,
        max_ac_kw,
        max_dc_kw,
        pack_voltage_v,
    )


def run(model: EvseModel, dispatch: Dispatch, dt_s: float, steps: int) -> list[DeviceOutput]:
    return [model.step(ENV, dispatch, dt_s) for _ in range(steps)]


def ac_station(max_current_a: float, phases: int = 1, voltage_v: float = 240.0) -> EvseStationSpec:
    return EvseStationSpec.model_validate(
        {
            "name": "test-ac",
            "connectors": [
                {
                    "id": 1,
                    "kind": "AC",
                    "max_power_kw": 50.0,
                    "max_current_a": max_current_a,
                    "phases": phases,
                    "voltage_v": voltage_v,
                }
            ],
        }
    )


# --- profiles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kinds", "max_kw", "battery_kwh", "group_kw", "v2g"),
    [
        ("EVSE-AC-22kW-1port", ["AC"], [22.0], 22.0, None, False),
        ("EVSE-AC-7.4kW-2port", ["AC", "AC"], [7.4, 7.4], 14.0, None, False),
        ("EVSE-DC-150kW-CCS-1port", ["DC"], [150.0], 300.0, None, False),
        ("EVSE-DC-350kW-CCS-2port", ["DC", "DC"], [350.0, 350.0], 700.0, None, False),
        ("EVSE-Hybrid-2DC-1AC", ["DC", "DC", "AC"], [150.0, 150.0, 22.0], 400.0, 200.0, False),
        ("EVSE-V2G-DC-50kW-bidir", ["DC"], [50.0], 100.0, None, True),
    ],
)
def test_bundled_profiles_carry_the_documented_numbers(
    name: str,
    kinds: list[str],
    max_kw: list[float],
    battery_kwh: float,
    group_kw: float | None,
    v2g: bool,
) -> None:
    """Documented behaviour §4.6 table: max kW, backing kWh, topology."""
    profile = load_station_spec(name)
    assert [c.kind for c in profile.connectors] == kinds
    assert [c.max_power_kw for c in profile.connectors] == max_kw
    assert profile.backing_battery_kwh == battery_kwh
    assert profile.group_limit_kw == group_kw
    assert profile.v2g is v2g
    assert any(c.bidirectional for c in profile.connectors) is v2g
    model = EvseModel(profile)
    assert model.asset_type == "evse"
    assert model.dc_mode == "battery"
    assert model.dc_port_count == kinds.count("DC") + 1
    assert profile.grid_limit_kw is not None
    assert model.rating.w_max_kw == profile.grid_limit_kw
    assert model.rating.var_max_inj_kvar == pytest.approx(0.44 * model.rating.va_max_kva)


def test_an_ac_profile_without_battery_has_no_dc_side() -> None:
    model = EvseModel(ac_station(32.0))
    assert (model.dc_mode, model.dc_port_count) == ("none", 0)
    assert model.rating.w_max_kw == 50.0  # connector power: no grid limit given
    out = model.step(ENV, IDLE, 1.5)
    assert out.storage is None
    assert out.asset["backing_battery_soc_pct"] is None
    assert (out.dc_power_kw, out.dc_voltage_v, out.dc_current_a) == (0.0, 0.0, 0.0)


def test_a_session_for_a_connector_the_profile_lacks_is_refused() -> None:
    sessions = parse_sessions_csv(
        "arrival_s,departure_s,connector,capacity_kwh,arrival_soc_pct,target_soc_pct\n"
        "0,100,1,60,20,80\n0,100,3,60,20,80\n"
    )
    with pytest.raises(ValueError, match=r"connector 3 is not in profile EVSE-AC-7.4kW-2port"):
        EvseModel(load_station_spec("EVSE-AC-7.4kW-2port"), sessions=sessions)


# --- sessions, pilot, charge curve ------------------------------------------------------------


def test_no_ev_means_pilot_a_available_and_no_power() -> None:
    model = EvseModel(ac_station(32.0), sessions=[])
    out = model.step(ENV, IDLE, 1.5)
    assert conn(out)["state"] == "A"
    assert conn(out)["status"] == "available"
    assert conn(out)["ev_soc_pct"] is None
    assert conn(out)["power_kw"] == 0.0
    assert out.ac_power_kw == 0.0
    assert out.inverter_state == "standby"


def test_a_dc_session_tapers_above_its_knee_and_stops_at_target_until_departure() -> None:
    """Physics reference B.5: flat to the DC knee (80 %), taper, then C→B SuspendedEV at the
    target SoC with 0 kW while still plugged in; unplug at departure → A."""
    profile = load_station_spec("EVSE-DC-150kW-CCS-1port")
    ev = session(arrival_soc_pct=50.0, target_soc_pct=95.0, departure_s=7200.0, max_dc_kw=120.0)
    model = EvseModel(profile, sessions=[ev])
    flat: list[float] = []
    taper: list[tuple[float, float]] = []
    out = model.step(ENV, IDLE, 1.0)
    while conn(out)["state"] == "C":
        soc_before = float(conn(out)["ev_soc_pct"])
        out = model.step(ENV, IDLE, 1.0)
        if conn(out)["state"] != "C":
            break
        if soc_before < 79.0:
            flat.append(conn(out)["power_kw"])
        elif soc_before > 81.0:
            taper.append((soc_before, conn(out)["power_kw"]))
    assert max(flat) == pytest.approx(120.0)
    assert min(flat) == pytest.approx(120.0)
    assert taper
    powers = [p for _, p in taper]
    assert powers == sorted(powers, reverse=True)  # monotonic taper
    soc_90 = min(taper, key=lambda sp: abs(sp[0] - 90.0))
    assert soc_90[1] == pytest.approx(120.0 * ev_power_fraction(soc_90[0], 80.0), rel=1e-6)
    assert soc_90[1] < 0.6 * 120.0
    # target reached: B, suspended_ev, 0 kW, still plugged in
    assert conn(out)["state"] == "B"
    assert conn(out)["status"] == "suspended_ev"
    assert conn(out)["ev_soc_pct"] == pytest.approx(95.0)
    while True:
        out = model.step(ENV, IDLE, 10.0)
        if out.asset["elapsed_s"] >= 7200.0:  # type: ignore[operator]
            break
        assert conn(out)["state"] == "B"
        assert conn(out)["power_kw"] == 0.0
        assert conn(out)["ev_soc_pct"] == pytest.approx(95.0)
    assert conn(out)["state"] == "A"
    assert conn(out)["ev_soc_pct"] is None
    assert out.asset["sessions_completed"] == 1


def test_ac_taper_starts_at_90_percent() -> None:
    """Physics reference B.5: AC knee about 90 %."""
    assert ev_power_fraction(89.9, 90.0) == 1.0
    assert ev_power_fraction(95.0, 90.0) == pytest.approx(0.05 + 0.95 * 0.5)
    assert ev_power_fraction(100.0, 90.0) == pytest.approx(0.05)
    assert ev_power_fraction(100.0, 80.0) == pytest.approx(0.05)


@pytest.mark.parametrize(("max_current_a", "duty_pct"), [(6.0, 10.0), (30.0, 50.0), (80.0, 96.0)])
def test_ac_current_follows_the_pilot_duty_cycle(max_current_a: float, duty_pct: float) -> None:
    """EVerest YetiSimulator / SAE J1772: 10 % → 6 A, 50 % → 30 A, 96 % → 80 A; the EV draws
    I = min(pilot, cable, on-board charger) and P = V·I (physics reference B.5)."""
    model = EvseModel(
        ac_station(max_current_a), sessions=[session(max_ac_kw=50.0, pack_voltage_v=400.0)]
    )
    out = run(model, IDLE, 1.0, 3)[-1]
    c = conn(out)
    assert c["state"] == "C"
    assert c["pilot_duty_pct"] == pytest.approx(duty_pct)
    assert c["current_a"] == pytest.approx(max_current_a)
    assert c["voltage_v"] == pytest.approx(240.0)
    assert c["power_kw"] == pytest.approx(240.0 * max_current_a / 1000.0)
    assert out.ac_power_kw == pytest.approx(-c["power_kw"])


def test_the_on_board_charger_limits_ac_current_below_the_pilot() -> None:
    model = EvseModel(ac_station(32.0, phases=3, voltage_v=230.0), sessions=[session()])
    c = conn(run(model, IDLE, 1.0, 3)[-1])
    assert c["power_kw"] == pytest.approx(11.0)  # 11 kW car on a 22 kW connector
    assert c["current_a"] == pytest.approx(11000.0 / (3 * 230.0))  # 15.9 A per phase
    assert c["pilot_duty_pct"] == pytest.approx(32.0 / 0.6)  # the EVSE offers its 32 A


def test_ac_soc_gain_uses_the_charging_efficiency() -> None:
    """η_AC = 0.92: an hour at 11 kW puts 10.12 kWh into a 60 kWh pack (+16.87 points)."""
    model = EvseModel(ac_station(32.0, phases=3, voltage_v=230.0), sessions=[session()])
    out = run(model, IDLE, 1.0, 3600)[-1]
    assert conn(out)["ev_soc_pct"] == pytest.approx(20.0 + 100.0 * 0.92 * 11.0 / 60.0, rel=1e-9)
    assert conn(out)["session_energy_kwh"] == pytest.approx(11.0)


def test_an_ev_already_at_target_stays_in_b_suspended_ev() -> None:
    model = EvseModel(ac_station(32.0), sessions=[session(arrival_soc_pct=85.0, target_soc_pct=80)])
    out = model.step(ENV, IDLE, 1.5)
    assert (conn(out)["state"], conn(out)["status"]) == ("B", "suspended_ev")
    assert conn(out)["power_kw"] == 0.0


def test_sessions_from_csv_drive_arrival_and_departure_times() -> None:
    sessions = parse_sessions_csv(
        "arrival_s,departure_s,connector,capacity_kwh,arrival_soc_pct,target_soc_pct\n"
        "60,120,1,60,20,80\n"
    )
    model = EvseModel(ac_station(32.0), sessions=sessions)
    states = [conn(out)["state"] for out in run(model, IDLE, 30.0, 6)]
    assert states == ["A", "C", "C", "A", "A", "A"]


def test_the_generator_brings_evs_without_a_schedule() -> None:
    model = EvseModel(load_station_spec("EVSE-AC-7.4kW-2port"), seed=4)
    outs = run(model, IDLE, 60.0, 24 * 60)
    assert {conn(o, 0)["state"] for o in outs} >= {"A", "C"}
    assert outs[-1].asset["sessions_completed"] >= 2  # type: ignore[operator]
    again = run(EvseModel(load_station_spec("EVSE-AC-7.4kW-2port"), seed=4), IDLE, 60.0, 24 * 60)
    assert [o.ac_power_kw for o in outs] == [o.ac_power_kw for o in again]


# --- shared limits and the backing battery ----------------------------------------------------


def test_two_ports_share_the_battery_in_proportion_to_their_demand() -> None:
    """Documented behaviour §4.6: the 7.4 kW 2-port shares one 14 kWh battery, power split
    proportionally to each port's demand. With the grid import capped at 0 (WMaxLimPct 0 %)
    the battery alone (8 kW·0.96) serves a 3.7 kW and a 7.36 kW demand."""
    profile = load_station_spec("EVSE-AC-7.4kW-2port")
    sessions = [session(1, max_ac_kw=3.7), session(2, max_ac_kw=11.0)]
    model = EvseModel(profile, sessions=sessions)
    out = model.step(ENV, Dispatch(active_power_limit_pct=0.0), 1.0)
    p1, p2 = conn(out, 0)["power_kw"], conn(out, 1)["power_kw"]
    demand_2 = 230.0 * 32.0 / 1000.0
    assert p1 / p2 == pytest.approx(3.7 / demand_2, rel=1e-6)
    assert p1 + p2 == pytest.approx(8.0 * 0.96, rel=1e-6)
    assert out.ac_power_kw == pytest.approx(0.0, abs=1e-9)
    assert out.asset["backing_battery_power_kw"] == pytest.approx(8.0)
    assert out.inverter_state == "throttled"
    assert out.message is not None
    assert "WMaxLimPct 0 %" in out.message


def test_demand_above_the_grid_limit_comes_from_the_backing_battery() -> None:
    """A 150 kW DC charger on a 75 kW connection: the battery supplies the rest."""
    model = EvseModel(load_station_spec("EVSE-DC-150kW-CCS-1port"), sessions=[session()])
    out = run(model, IDLE, 1.0, 3)[-1]
    assert conn(out)["power_kw"] == pytest.approx(150.0)
    assert out.ac_power_kw == pytest.approx(-75.0)
    assert out.asset["backing_battery_power_kw"] == pytest.approx(150.0 - 75.0 * 0.96)
    assert out.dc_power_kw == pytest.approx(-75.0 * 0.96)
    assert out.inverter_state == "running"


def test_an_idle_station_started_at_90_percent_draws_nothing() -> None:
    """The top-up hysteresis (below 85 %, spec.py): no 75 kW draw from an idle charger."""
    model = EvseModel(load_station_spec("EVSE-DC-150kW-CCS-1port"), sessions=[])
    for out in run(model, IDLE, 60.0, 30):
        assert out.ac_power_kw == 0.0
        assert out.asset["backing_battery_power_kw"] == 0.0
        assert out.inverter_state == "standby"


def test_a_drained_battery_tops_up_at_its_limit_until_95_percent() -> None:
    """A DC session drains the 300 kWh battery below 85 %; afterwards the idle station tops it
    up at 0.2 C (60 kW from the grid, below the 75 kW connection) and stops at 95 %."""
    spec = load_station_spec("EVSE-DC-150kW-CCS-1port")
    assert spec.topup_kw == pytest.approx(60.0)
    ev = session(capacity_kwh=100.0, arrival_soc_pct=5.0, target_soc_pct=95.0, departure_s=4000.0)
    model = EvseModel(spec, sessions=[ev])
    soc = 90.0
    while True:
        out = model.step(ENV, IDLE, 10.0)
        new_soc = out.asset["backing_battery_soc_pct"]
        assert isinstance(new_soc, float)
        if conn(out)["state"] == "A" and new_soc > soc:
            break
        soc = new_soc
    assert soc < 85.0
    assert out.ac_power_kw == pytest.approx(-60.0)
    assert out.asset["backing_battery_power_kw"] == pytest.approx(-60.0 * 0.96)
    out = run(model, IDLE, 600.0, 40)[-1]
    assert out.asset["backing_battery_soc_pct"] == 95.0
    assert out.ac_power_kw == 0.0
    assert out.storage is not None
    assert out.storage.state_of_charge_pct == 95.0


def test_the_group_limit_is_shared_in_proportion_to_demand() -> None:
    """Hybrid 2DC+1AC: 200 kW group limit (documented behaviour §4.6)."""
    sessions = [session(1, max_dc_kw=150.0), session(2, max_dc_kw=50.0), session(3)]
    model = EvseModel(load_station_spec("EVSE-Hybrid-2DC-1AC"), sessions=sessions)
    out = run(model, IDLE, 1.0, 3)[-1]
    powers = [c["power_kw"] for c in connectors(out)]
    assert sum(powers) == pytest.approx(200.0)
    assert powers[0] / powers[1] == pytest.approx(3.0)
    assert powers[2] == pytest.approx(11.0 * 200.0 / 211.0, rel=1e-6)
    assert out.message == "charging limited by group limit 200 kW"
    assert -out.ac_power_kw <= 100.0 + 1e-9  # the grid limit still holds


def test_a_negative_setpoint_caps_total_charging_power() -> None:
    sessions = [session(1), session(2)]
    model = EvseModel(load_station_spec("EVSE-DC-350kW-CCS-2port"), sessions=sessions)
    out = run(model, Dispatch(active_power_setpoint_kw=-100.0), 1.0, 3)[-1]
    assert sum(c["power_kw"] for c in connectors(out)) == pytest.approx(100.0)
    assert out.message == "charging limited by charging setpoint 100 kW"
    out = model.step(ENV, Dispatch(active_power_setpoint_kw=0.0), 1.0)
    assert [c["status"] for c in connectors(out)] == ["suspended_evse", "suspended_evse"]
    assert [c["state"] for c in connectors(out)] == ["B", "B"]


def test_an_ac_share_below_6_a_suspends_the_connector() -> None:
    """J1772 cannot offer less than 6 A (10 % duty)."""
    model = EvseModel(ac_station(32.0), sessions=[session()])
    out = run(model, Dispatch(active_power_setpoint_kw=-1.0), 1.0, 2)[-1]  # 4.2 A at 240 V
    assert (conn(out)["state"], conn(out)["status"]) == ("B", "suspended_evse")
    assert conn(out)["pilot_duty_pct"] == 100.0
    out = run(model, Dispatch(active_power_setpoint_kw=-2.4), 1.0, 2)[-1]  # 10 A
    assert conn(out)["state"] == "C"
    assert conn(out)["current_a"] == pytest.approx(10.0)
    assert conn(out)["pilot_duty_pct"] == pytest.approx(10.0 / 0.6)


# --- V2G --------------------------------------------------------------------------------------


def test_v2g_discharges_the_ev_on_a_positive_setpoint() -> None:
    ev = session(arrival_soc_pct=60.0, max_dc_kw=50.0)
    model = EvseModel(load_station_spec("EVSE-V2G-DC-50kW-bidir"), sessions=[ev])
    before = model.step(ENV, IDLE, 1.0)
    out = run(model, Dispatch(active_power_setpoint_kw=30.0), 1.0, 10)[-1]
    c = conn(out)
    assert out.ac_power_kw == pytest.approx(30.0)
    assert c["power_kw"] == pytest.approx(-30.0 / 0.96)
    assert (c["state"], c["status"]) == ("C", "discharging")
    assert c["ev_soc_pct"] < conn(before)["ev_soc_pct"]
    assert c["current_a"] < 0.0
    assert out.asset["backing_battery_power_kw"] == 0.0
    assert out.asset["energy_returned_kwh"] > 0.0  # type: ignore[operator]


def test_v2g_stops_at_the_minimum_soc() -> None:
    ev = session(arrival_soc_pct=21.0, capacity_kwh=40.0, max_dc_kw=50.0)
    model = EvseModel(load_station_spec("EVSE-V2G-DC-50kW-bidir"), sessions=[ev])
    outs = run(model, Dispatch(active_power_setpoint_kw=50.0), 60.0, 5)
    assert conn(outs[0])["ev_soc_pct"] == pytest.approx(20.0)  # lands exactly, no overshoot
    assert conn(outs[-1])["power_kw"] == 0.0
    assert (conn(outs[-1])["state"], conn(outs[-1])["status"]) == ("B", "suspended_evse")


def test_a_positive_setpoint_is_ignored_without_v2g() -> None:
    model = EvseModel(load_station_spec("EVSE-DC-150kW-CCS-1port"), sessions=[session()])
    out = run(model, Dispatch(active_power_setpoint_kw=20.0), 1.0, 2)[-1]
    assert out.message is not None
    assert "not bidirectional" in out.message
    assert conn(out)["power_kw"] == pytest.approx(150.0)
    assert out.ac_power_kw < 0.0


# --- operator actions -------------------------------------------------------------------------


def test_fault_and_unavailable_drive_pilot_e_and_f() -> None:
    model = EvseModel(ac_station(32.0), sessions=[session()])
    assert conn(model.step(ENV, IDLE, 1.0))["state"] == "C"
    model.set_connector_fault(1, True)
    out = model.step(ENV, IDLE, 1.0)
    assert (conn(out)["state"], conn(out)["status"], conn(out)["power_kw"]) == ("E", "faulted", 0)
    assert out.inverter_state == "fault"
    model.set_connector_fault(1, False)
    assert conn(model.step(ENV, IDLE, 1.0))["state"] == "C"
    model.set_connector_available(1, False)
    out = model.step(ENV, IDLE, 1.0)
    assert (conn(out)["state"], conn(out)["status"]) == ("F", "unavailable")
    assert out.inverter_state == "off"
    model.set_connector_available(1, True)
    assert conn(model.step(ENV, IDLE, 1.0))["state"] == "C"
    with pytest.raises(ValueError, match="connector 9 is not in profile test-ac"):
        model.set_connector_fault(9, True)


# --- robustness -------------------------------------------------------------------------------


def test_large_steps_are_stable_and_soc_never_exceeds_100() -> None:
    sessions = [
        session(1, arrival_s=0, departure_s=3 * 3600, arrival_soc_pct=10, max_dc_kw=150),
        session(2, arrival_s=600, departure_s=5 * 3600, capacity_kwh=40, arrival_soc_pct=90),
        session(3, arrival_s=0, departure_s=20 * 3600, capacity_kwh=20, arrival_soc_pct=50),
    ]
    model = EvseModel(load_station_spec("EVSE-Hybrid-2DC-1AC"), sessions=sessions)
    for out in run(model, IDLE, 600.0, 200):
        for c in connectors(out):
            if c["ev_soc_pct"] is not None:
                assert 0.0 <= c["ev_soc_pct"] <= 100.0
        assert math.isfinite(out.ac_power_kw)
        assert -out.ac_power_kw <= 100.0 + 1e-9
        soc = out.asset["backing_battery_soc_pct"]
        assert isinstance(soc, float)
        assert 5.0 <= soc <= 95.0


def test_nan_and_silly_inputs_give_finite_output() -> None:
    model = EvseModel(load_station_spec("EVSE-V2G-DC-50kW-bidir"), sessions=[session()])
    env = Environment(sim_time=ENV.sim_time, grid_voltage_pu=math.nan)
    for dispatch in (
        Dispatch(active_power_setpoint_kw=math.nan, active_power_limit_pct=math.inf),
        Dispatch(active_power_setpoint_kw=math.inf),
        Dispatch(active_power_setpoint_kw=-math.inf),
    ):
        for dt in (math.nan, -1.0, 0.0, 1.5):
            out = model.step(env, dispatch, dt)
            assert math.isfinite(out.ac_power_kw)
            assert math.isfinite(out.dc_current_a)


def all_numbers(out: DeviceOutput) -> list[float]:
    values: list[float] = [out.ac_power_kw, out.reactive_power_kvar, out.dc_power_kw]
    values += [out.dc_voltage_v, out.dc_current_a]
    for key, value in out.asset.items():
        if key == "connectors":
            assert isinstance(value, list)
            for c in value:
                values += [v for v in c.values() if isinstance(v, float)]
        elif isinstance(value, float):
            values.append(value)
    return values


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(bundled_station_names()),
    seed=st.integers(min_value=0, max_value=10_000),
    steps=st.lists(
        st.tuples(
            st.sampled_from([0.01, 1.5, 60.0, 600.0, 3600.0]),
            st.one_of(st.none(), st.floats(min_value=-500.0, max_value=500.0)),
            st.floats(min_value=0.0, max_value=100.0),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_properties_hold_for_any_profile_seed_dt_and_dispatch(
    name: str, seed: int, steps: list[tuple[float, float | None, float]]
) -> None:
    """No NaN/inf; SoC within [0, 100] and the battery within 5-95 %; energy totals monotonic;
    connector powers within their ratings; import within the limit; export within WMax."""
    profile = load_station_spec(name)
    model = EvseModel(profile, seed=seed)
    max_kw = {c.id: c.max_power_kw for c in profile.connectors}
    delivered = returned = 0.0
    for dt, setpoint, pct in steps:
        out = model.step(ENV, Dispatch(setpoint, pct), dt)
        assert all(math.isfinite(v) for v in all_numbers(out))
        assert out.reactive_power_kvar == 0.0
        import_limit = out.asset["grid_limit_kw"]
        assert isinstance(import_limit, float)
        assert -out.ac_power_kw <= import_limit + 1e-6
        assert out.ac_power_kw <= model.rating.w_max_kw * pct / 100.0 + 1e-6
        for c in connectors(out):
            assert abs(c["power_kw"]) <= max_kw[c["id"]] + 1e-6
            assert c["state"] in "ABCEF"
            if c["ev_soc_pct"] is not None:
                assert 0.0 <= c["ev_soc_pct"] <= 100.0
                assert c["ev_soc_pct"] <= c["target_soc_pct"] + 1e-6
        if profile.group_limit_kw is not None:
            assert sum(c["power_kw"] for c in connectors(out)) <= profile.group_limit_kw + 1e-6
        soc = out.asset["backing_battery_soc_pct"]
        assert isinstance(soc, float)
        assert 5.0 <= soc <= 95.0
        new_delivered = out.asset["energy_delivered_kwh"]
        new_returned = out.asset["energy_returned_kwh"]
        assert isinstance(new_delivered, float)
        assert isinstance(new_returned, float)
        assert new_delivered >= delivered
        assert new_returned >= returned
        delivered, returned = new_delivered, new_returned
