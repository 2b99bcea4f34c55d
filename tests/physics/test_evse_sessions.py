"""Tests of the seeded EV session generator (the CSV schedule: ``test_ev_sessions_csv.py``)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.evse.cars import CARS, EvCar
from dersim_trio.physics.evse.sessions import (
    ARRIVAL_SOC_RANGE_PCT,
    TARGET_SOC_RANGE_PCT,
    EvSession,
    SessionGenerator,
    generate_sessions,
)
from dersim_trio.setup.evse_stations import load_station_spec

DAY_S = 86400.0


# --- generator --------------------------------------------------------------------------------


def test_generated_sessions_repeat_exactly_for_a_seed_and_differ_between_seeds() -> None:
    station = load_station_spec("EVSE-Hybrid-2DC-1AC")
    first = generate_sessions(7, station, 2 * DAY_S)
    assert first == generate_sessions(7, station, 2 * DAY_S)
    assert first != generate_sessions(8, station, 2 * DAY_S)
    assert {s.connector for s in first} == {1, 2, 3}


def test_a_longer_horizon_only_appends_sessions() -> None:
    """Per-connector seeded streams: the first day is the same whatever the horizon."""
    station = load_station_spec("EVSE-AC-7.4kW-2port")
    one_day = generate_sessions(3, station, DAY_S)
    ten_days = generate_sessions(3, station, 10 * DAY_S)
    assert ten_days[: len(one_day)] == one_day
    assert len(ten_days) > 5 * len(one_day)


def test_consecutive_horizons_continue_without_losing_a_session() -> None:
    station = load_station_spec("EVSE-AC-7.4kW-2port")
    generator = SessionGenerator(3, station)
    pieces = generator.sessions_until(DAY_S) + generator.sessions_until(3 * DAY_S)
    assert pieces == generate_sessions(3, station, 3 * DAY_S)


def test_the_generator_never_runs_out() -> None:
    generator = SessionGenerator(1, load_station_spec("EVSE-DC-150kW-CCS-1port"))
    last = 0.0
    for _ in range(2000):
        session = generator.next_session(1)
        assert session.arrival_s > last
        last = session.departure_s
    assert last > 30 * DAY_S


def test_generated_sessions_follow_the_documented_distributions() -> None:
    """Arrival SoC 10-50 %, target 80-100 %, named cars (every one of them drawn), dwell."""
    station = load_station_spec("EVSE-Hybrid-2DC-1AC")
    sessions = generate_sessions(11, station, 20 * DAY_S)
    drawn: set[EvCar] = set()
    kinds = {c.id: c.kind for c in station.connectors}
    by_connector: dict[int, list[EvSession]] = {}
    for s in sessions:
        assert ARRIVAL_SOC_RANGE_PCT[0] <= s.arrival_soc_pct <= ARRIVAL_SOC_RANGE_PCT[1]
        assert TARGET_SOC_RANGE_PCT[0] <= s.target_soc_pct <= TARGET_SOC_RANGE_PCT[1]
        assert s.car is not None
        drawn.add(s.car)
        assert (s.capacity_kwh, s.max_ac_kw, s.max_dc_kw, s.pack_voltage_v) == (
            s.car.capacity_kwh,
            s.car.ac_kw,
            s.car.dc_max_kw,
            s.car.pack_voltage_v,
        )
        dwell = s.departure_s - s.arrival_s
        if kinds[s.connector] == "AC":
            assert 20 * 60 <= dwell <= 14 * 3600
        else:
            assert 8 * 60 <= dwell <= 2 * 3600
        by_connector.setdefault(s.connector, []).append(s)
    for connector_sessions in by_connector.values():
        for before, after in itertools.pairwise(connector_sessions):
            assert after.arrival_s >= before.departure_s + 120.0  # changeover, no overlap
        assert 5.0 <= connector_sessions[0].arrival_s <= 120.0  # warm start
    assert drawn == set(CARS)


def test_arrivals_are_rarer_at_night_than_in_the_evening_peak() -> None:
    """Time-of-day shape: 02-04 h weighs 0.02-0.03 against 1.0 at 08 h and 18 h."""
    sessions = generate_sessions(5, load_station_spec("EVSE-DC-350kW-CCS-2port"), 60 * DAY_S)
    night = sum(1 for s in sessions if 2 <= (s.arrival_s % DAY_S) // 3600 < 4)
    evening = sum(1 for s in sessions if 17 <= (s.arrival_s % DAY_S) // 3600 < 19)
    assert evening > 5 * max(night, 1)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**31), st.floats(min_value=0.0, max_value=DAY_S))
def test_any_seed_and_start_time_give_valid_sessions(seed: int, start_tod_s: float) -> None:
    station = load_station_spec("EVSE-AC-7.4kW-2port")
    sessions = generate_sessions(seed, station, 3 * DAY_S, start_tod_s)
    assert sessions
    for s in sessions:
        assert 0.0 <= s.arrival_s < s.departure_s
        assert s.connector in (1, 2)
