"""Tests of the EV session sources: the seeded arrival generator and the CSV schedule parser."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.ev_sessions import (
    ARRIVAL_SOC_RANGE_PCT,
    FLEET,
    TARGET_SOC_RANGE_PCT,
    EvSession,
    SessionGenerator,
    generate_sessions,
    parse_sessions_csv,
)
from dersim_trio.physics.evse import load_profile

HEADER = "arrival_s,departure_s,connector,capacity_kwh,arrival_soc_pct,target_soc_pct"
DAY_S = 86400.0


# --- CSV --------------------------------------------------------------------------------------


def test_the_documented_csv_example_parses() -> None:
    text = (
        "arrival_s,departure_s,connector,capacity_kwh,arrival_soc_pct,target_soc_pct,"
        "max_power_kw\n0,7200,1,60,20,80,11\n600,4200,2,77,35,90,\n"
    )
    sessions = parse_sessions_csv(text)
    assert sessions == [
        EvSession(0.0, 7200.0, 1, 60.0, 20.0, 80.0, max_ac_kw=11.0, max_dc_kw=11.0),
        EvSession(600.0, 4200.0, 2, 77.0, 35.0, 90.0),
    ]
    assert sessions[1].max_ac_kw == 11.0
    assert sessions[1].max_dc_kw == 150.0
    assert sessions[1].pack_voltage_v == 400.0


def test_csv_columns_may_come_in_any_order_with_comments_and_blank_lines() -> None:
    text = (
        "# a schedule\n"
        "connector,target_soc_pct,arrival_s,departure_s,capacity_kwh,arrival_soc_pct,"
        "pack_voltage_v\n\n2,90,100,200,50,10,800\n# done\n1,85,0,50,40,20,400\n"
    )
    sessions = parse_sessions_csv(text)
    assert [s.connector for s in sessions] == [1, 2]  # sorted by arrival
    assert sessions[1].pack_voltage_v == 800.0
    assert sessions[1].target_soc_pct == 90.0


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("0,abc,1,60,20,80", r"^line 3, column 2 \(departure_s\): 'abc' is not a number$"),
        ("100,100,1,60,20,80", r"^line 3, column 2 \(departure_s\): must be greater than"),
        ("100,50,1,60,20,80", r"^line 3, column 2 \(departure_s\): must be greater than"),
        ("0,100,1,60,120,80", r"^line 3, column 5 \(arrival_soc_pct\): must be within 0-100"),
        ("0,100,1,60,20,-1", r"^line 3, column 6 \(target_soc_pct\): must be within 0-100"),
        ("0,100,1.5,60,20,80", r"^line 3, column 3 \(connector\): must be an integer >= 1"),
        ("0,100,1,0,20,80", r"^line 3, column 4 \(capacity_kwh\): must be greater than 0"),
        ("-5,100,1,60,20,80", r"^line 3, column 1 \(arrival_s\): must be >= 0"),
        ("0,inf,1,60,20,80", r"^line 3, column 2 \(departure_s\): 'inf' is not a finite"),
        ("0,100,1,60,20", r"^line 3: expected 6 fields, got 5$"),
    ],
)
def test_a_bad_csv_row_names_its_line_and_column(rows: str, expected: str) -> None:
    text = f"{HEADER}\n0,50,2,60,20,80\n{rows}\n"
    with pytest.raises(ValueError, match=expected) as info:
        parse_sessions_csv(text)
    assert "\n" not in str(info.value)


def test_a_bad_header_is_reported_on_its_line() -> None:
    with pytest.raises(ValueError, match=r"^line 1, column 7: unknown column 'colour'"):
        parse_sessions_csv(HEADER + ",colour\n")
    with pytest.raises(ValueError, match=r"^line 1: missing column\(s\) target_soc_pct"):
        parse_sessions_csv("arrival_s,departure_s,connector,capacity_kwh,arrival_soc_pct\n")
    with pytest.raises(ValueError, match=r"^line 1, column 7: duplicate column 'connector'"):
        parse_sessions_csv(HEADER + ",connector\n")
    with pytest.raises(ValueError, match="empty"):
        parse_sessions_csv("# nothing\n\n")


def test_overlapping_sessions_on_one_connector_are_refused_with_the_later_line() -> None:
    text = f"{HEADER}\n0,1000,1,60,20,80\n2000,3000,2,60,20,80\n500,1500,1,60,20,80\n"
    with pytest.raises(ValueError, match=r"^line 4, column 1 \(arrival_s\): .* connector 1"):
        parse_sessions_csv(text)


# --- generator --------------------------------------------------------------------------------


def test_generated_sessions_repeat_exactly_for_a_seed_and_differ_between_seeds() -> None:
    profile = load_profile("EVSE-Hybrid-2DC-1AC")
    first = generate_sessions(7, profile, 2 * DAY_S)
    assert first == generate_sessions(7, profile, 2 * DAY_S)
    assert first != generate_sessions(8, profile, 2 * DAY_S)
    assert {s.connector for s in first} == {1, 2, 3}


def test_a_longer_horizon_only_appends_sessions() -> None:
    """Per-connector seeded streams: the first day is the same whatever the horizon."""
    profile = load_profile("EVSE-AC-7.4kW-2port")
    one_day = generate_sessions(3, profile, DAY_S)
    ten_days = generate_sessions(3, profile, 10 * DAY_S)
    assert ten_days[: len(one_day)] == one_day
    assert len(ten_days) > 5 * len(one_day)


def test_consecutive_horizons_continue_without_losing_a_session() -> None:
    profile = load_profile("EVSE-AC-7.4kW-2port")
    generator = SessionGenerator(3, profile)
    pieces = generator.sessions_until(DAY_S) + generator.sessions_until(3 * DAY_S)
    assert pieces == generate_sessions(3, profile, 3 * DAY_S)


def test_the_generator_never_runs_out() -> None:
    generator = SessionGenerator(1, load_profile("EVSE-DC-150kW-CCS-1port"))
    last = 0.0
    for _ in range(2000):
        session = generator.next_session(1)
        assert session.arrival_s > last
        last = session.departure_s
    assert last > 30 * DAY_S


def test_generated_sessions_follow_the_documented_distributions() -> None:
    """Arrival SoC 10-50 %, target 80-100 %, cars from the fleet table, dwell within range."""
    profile = load_profile("EVSE-Hybrid-2DC-1AC")
    sessions = generate_sessions(11, profile, 20 * DAY_S)
    fleet = {(c.capacity_kwh, c.max_ac_kw, c.max_dc_kw, c.pack_voltage_v) for c in FLEET}
    kinds = {c.id: c.kind for c in profile.connectors}
    by_connector: dict[int, list[EvSession]] = {}
    for s in sessions:
        assert ARRIVAL_SOC_RANGE_PCT[0] <= s.arrival_soc_pct <= ARRIVAL_SOC_RANGE_PCT[1]
        assert TARGET_SOC_RANGE_PCT[0] <= s.target_soc_pct <= TARGET_SOC_RANGE_PCT[1]
        assert (s.capacity_kwh, s.max_ac_kw, s.max_dc_kw, s.pack_voltage_v) in fleet
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


def test_arrivals_are_rarer_at_night_than_in_the_evening_peak() -> None:
    """Time-of-day shape: 02-04 h weighs 0.02-0.03 against 1.0 at 08 h and 18 h."""
    sessions = generate_sessions(5, load_profile("EVSE-DC-350kW-CCS-2port"), 60 * DAY_S)
    night = sum(1 for s in sessions if 2 <= (s.arrival_s % DAY_S) // 3600 < 4)
    evening = sum(1 for s in sessions if 17 <= (s.arrival_s % DAY_S) // 3600 < 19)
    assert evening > 5 * max(night, 1)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**31), st.floats(min_value=0.0, max_value=DAY_S))
def test_any_seed_and_start_time_give_valid_sessions(seed: int, start_tod_s: float) -> None:
    profile = load_profile("EVSE-AC-7.4kW-2port")
    sessions = generate_sessions(seed, profile, 3 * DAY_S, start_tod_s)
    assert sessions
    for s in sessions:
        assert 0.0 <= s.arrival_s < s.departure_s
        assert s.connector in (1, 2)
