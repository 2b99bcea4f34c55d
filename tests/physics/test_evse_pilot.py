"""Tests of the J1772 / IEC 61851 control-pilot state machine and the duty-cycle relations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dersim_trio.physics.evse.pilot import (
    PILOT_EVENTS,
    PILOT_HIGH_LEVEL_V,
    PILOT_STATES,
    PILOT_TRANSITIONS,
    PilotEvent,
    PilotState,
    PilotStateMachine,
    PilotTransitionError,
    current_to_duty_pct,
    duty_to_current_a,
)

ALLOWED = [
    (state, event, new) for state, row in PILOT_TRANSITIONS.items() for event, new in row.items()
]
FORBIDDEN = [
    (state, event)
    for state in PILOT_STATES
    for event in PILOT_EVENTS
    if event not in PILOT_TRANSITIONS[state]
]


@pytest.mark.parametrize(("state", "event", "new_state"), ALLOWED)
def test_every_allowed_transition_reaches_its_table_state(
    state: PilotState, event: PilotEvent, new_state: PilotState
) -> None:
    machine = PilotStateMachine(state)
    assert machine.can_fire(event)
    assert machine.fire(event) == new_state
    assert machine.state == new_state


@pytest.mark.parametrize(("state", "event"), FORBIDDEN)
def test_every_forbidden_transition_raises_and_leaves_the_state(
    state: PilotState, event: PilotEvent
) -> None:
    machine = PilotStateMachine(state)
    assert not machine.can_fire(event)
    with pytest.raises(PilotTransitionError, match=f"not allowed in state {state}"):
        machine.fire(event)
    assert machine.state == state


def test_the_table_covers_every_state_and_only_known_events_and_states() -> None:
    assert set(PILOT_TRANSITIONS) == set(PILOT_STATES)
    for row in PILOT_TRANSITIONS.values():
        assert set(row) <= set(PILOT_EVENTS)
        assert set(row.values()) <= set(PILOT_STATES)


def test_a_normal_charging_session_walks_a_b_c_b_a() -> None:
    """Plug in, charge, EV reaches target (SuspendedEV, C→B), unplug: physics reference B.5."""
    machine = PilotStateMachine()
    states = [machine.state]
    events: list[PilotEvent] = ["plug_in", "start_charge", "stop_charge", "unplug"]
    for event in events:
        states.append(machine.fire(event))
    assert states == ["A", "B", "C", "B", "A"]


def test_pilot_high_levels_follow_j1772() -> None:
    """J1772 pilot levels: A 12 V, B 9 V, C 6 V, D 3 V, E 0 V, F −12 V (physics reference B.5)."""
    assert PILOT_HIGH_LEVEL_V == {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0, "F": -12.0}


def test_an_unknown_initial_state_is_refused() -> None:
    with pytest.raises(PilotTransitionError):
        PilotStateMachine("G")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duty_pct", "current_a"),
    [
        (8.0, 6.0),
        (9.0, 6.0),
        (9.99, 6.0),
        (10.0, 6.0),
        (50.0, 30.0),
        (85.0, 51.0),
        (90.0, 65.0),
        (96.0, 80.0),
        (96.5, 80.0),
    ],
)
def test_duty_cycle_gives_the_j1772_current(duty_pct: float, current_a: float) -> None:
    """IEC 61851-1:2017 Annex A Table A.8 (and SAE J1772's pilot duty cycle table):
    8 % ≤ duty < 10 % → 6 A; 10-85 % → 0.6·duty; 85-96 % → 2.5·(duty − 64); 96-97 % → 80 A."""
    assert duty_to_current_a(duty_pct) == pytest.approx(current_a)


@pytest.mark.parametrize("duty_pct", [0.0, 5.0, 7.9, 97.5, 100.0, math.nan])
def test_duty_outside_the_table_allows_no_current(duty_pct: float) -> None:
    """Below 8 % (digital communication) and above 97 % the EV must not draw current."""
    assert duty_to_current_a(duty_pct) == 0.0


def test_offered_current_maps_to_duty_and_saturates() -> None:
    assert current_to_duty_pct(6.0) == pytest.approx(10.0)
    assert current_to_duty_pct(30.0) == pytest.approx(50.0)
    assert current_to_duty_pct(80.0) == pytest.approx(96.0)
    assert current_to_duty_pct(120.0) == 96.0
    assert current_to_duty_pct(5.9) == 100.0
    assert current_to_duty_pct(math.nan) == 100.0


@given(st.floats(min_value=6.0, max_value=80.0))
def test_current_to_duty_and_back_never_offers_more_than_asked(current_a: float) -> None:
    """Identity except in the (51, 52.5] A gap of the J1772 table, where 51 A is offered."""
    offered = duty_to_current_a(current_to_duty_pct(current_a))
    if 51.0 < current_a <= 52.5:
        assert offered == pytest.approx(51.0)
    else:
        assert offered == pytest.approx(current_a)
    assert offered <= current_a * (1.0 + 1e-12)
