"""The SAE J1772 / IEC 61851-1 control-pilot state machine, as one transition table.

Rule: every pilot state transition of an EVSE connector lives in this file, as data in
``PILOT_TRANSITIONS``. The station model (``station.py``) only *fires events*; it never
assigns a state.

Theory of operation
===================

The control pilot is a 1 kHz ±12 V square wave the EVSE drives through a 1 kΩ resistor. The EV
loads it with diodes and resistors, so the high level of the wave tells both sides what is going
on (physics reference B.5; the EVerest YetiSimulator, ``modules/Simulation/YetiSimulator``,
implements the same states with ±1.1 V windows)::

    state  high level  meaning
    A      +12 V       no EV connected
    B      +9 V        EV connected, not charging (2.74 kΩ; S2 open)
    C      +6 V        EV connected and requesting energy (+1.3 kΩ; S2 closed)
    D      +3 V        as C, with ventilation required (+270 Ω) — kept for completeness, the
                       model never enters it (no indoor vented-battery EVs are simulated)
    E      0 V         error: pilot shorted or EVSE fault
    F      −12 V       EVSE unavailable (it drives a constant −12 V)

The EVSE announces the current it allows by the duty cycle of the wave; the EV may draw at most
that current. Duty cycle → current (IEC 61851-1:2017 Annex A, Table A.8 "Pilot duty cycle
provided by EVSE"; the same table in SAE J1772 (2017), "Pilot duty cycle"; EVerest
YetiSimulator decodes it the same way above 10 %)::

    duty < 8 %         0 A   (3-7 % means "digital communication required")
    8 % ≤ duty < 10 %  6 A   (the least an AC EVSE can offer)
    10 % ≤ duty ≤ 85 % I = 0.6 A/% · duty            (10 % → 6 A, 50 % → 30 A, 85 % → 51 A)
    85 % < duty ≤ 96 % I = 2.5 A/% · (duty − 64 %)   (96 % → 80 A)
    96 % < duty ≤ 97 % 80 A
    duty > 97 %        0 A   (outside the table: an error / "no PWM", the EV must not charge)

``current_to_duty_pct`` is the EVSE's inverse: below 6 A it cannot offer current and reports
100 % (a steady +level, no PWM); above 80 A it saturates at 96 %; between 51 and 52.5 A
(the gap the table leaves at 85 %) it offers 51 A.

Events (the names are what happens physically, not which state results)::

    plug_in       the EV's cable is connected (pilot sees the EV's 2.74 kΩ)
    unplug        the cable is removed
    start_charge  the EV closes S2: it requests energy
    start_charge_ventilated   as start_charge, with the ventilation resistor (→ D)
    stop_charge   the EV opens S2: target reached or EV-side pause (OCPP ``SuspendedEV``)
    fault         the EVSE detects a pilot or ground fault
    clear_fault   the fault is reset; the pilot restarts from A (an EV still plugged in is
                  re-detected by a following ``plug_in``)
    disable       the EVSE is taken out of service (−12 V)
    enable        it is put back into service (→ A, again followed by ``plug_in`` if an EV is
                  present)

Plugging and unplugging are physical acts the EVSE cannot refuse, so ``plug_in`` and ``unplug``
are self-loops in E and F (the error or the unavailability persists). Everything else that is not
in the table is a protocol violation and raises ``PilotTransitionError``: e.g. ``start_charge``
in A (no EV to request anything) or ``plug_in`` in B (already plugged in).
"""

from __future__ import annotations

from typing import Literal, get_args

PilotState = Literal["A", "B", "C", "D", "E", "F"]
PilotEvent = Literal[
    "plug_in",
    "unplug",
    "start_charge",
    "start_charge_ventilated",
    "stop_charge",
    "fault",
    "clear_fault",
    "disable",
    "enable",
]

PILOT_STATES: tuple[PilotState, ...] = get_args(PilotState)
PILOT_EVENTS: tuple[PilotEvent, ...] = get_args(PilotEvent)

PILOT_HIGH_LEVEL_V: dict[PilotState, float] = {
    "A": 12.0,
    "B": 9.0,
    "C": 6.0,
    "D": 3.0,
    "E": 0.0,
    "F": -12.0,
}
"""Nominal high level of the pilot wave in each state, V (YetiSimulator windows are ±1.1 V)."""

PILOT_TRANSITIONS: dict[PilotState, dict[PilotEvent, PilotState]] = {
    "A": {
        "plug_in": "B",
        "fault": "E",
        "disable": "F",
    },
    "B": {
        "unplug": "A",
        "start_charge": "C",
        "start_charge_ventilated": "D",
        "fault": "E",
        "disable": "F",
    },
    "C": {
        "stop_charge": "B",
        "unplug": "A",
        "fault": "E",
        "disable": "F",
    },
    "D": {
        "stop_charge": "B",
        "unplug": "A",
        "fault": "E",
        "disable": "F",
    },
    "E": {
        "clear_fault": "A",
        "plug_in": "E",
        "unplug": "E",
        "disable": "F",
    },
    "F": {
        "enable": "A",
        "plug_in": "F",
        "unplug": "F",
    },
}
"""Every allowed transition: ``PILOT_TRANSITIONS[state][event]`` is the next state."""

ENERGY_TRANSFER_STATES: frozenset[PilotState] = frozenset({"C", "D"})
"""States in which the EV's contactor is closed and power may flow."""


class PilotTransitionError(ValueError):
    """An event that the pilot state machine does not allow in the present state."""


class PilotStateMachine:
    """One connector's pilot state, changed only through ``fire`` and the table above."""

    __slots__ = ("state",)

    def __init__(self, state: PilotState = "A") -> None:
        """Start in ``state`` (A: no EV, the normal power-on state)."""
        if state not in PILOT_TRANSITIONS:
            raise PilotTransitionError(f"unknown pilot state {state!r}; use one of A-F")
        self.state: PilotState = state

    def fire(self, event: PilotEvent) -> PilotState:
        """Apply ``event``; return the new state or raise ``PilotTransitionError``."""
        try:
            new_state = PILOT_TRANSITIONS[self.state][event]
        except KeyError:
            raise PilotTransitionError(
                f"pilot event {event!r} is not allowed in state {self.state}; allowed: "
                + ", ".join(PILOT_TRANSITIONS[self.state])
            ) from None
        self.state = new_state
        return new_state

    def can_fire(self, event: PilotEvent) -> bool:
        """Whether ``event`` is allowed in the present state."""
        return event in PILOT_TRANSITIONS[self.state]


def duty_to_current_a(duty_pct: float) -> float:
    """Current (A) the EV may draw for a pilot duty cycle in percent (table in the docstring)."""
    if not duty_pct >= 8.0:  # also catches NaN
        return 0.0
    if duty_pct < 10.0:
        return 6.0
    if duty_pct <= 85.0:
        return 0.6 * duty_pct
    if duty_pct <= 96.0:
        return 2.5 * (duty_pct - 64.0)
    if duty_pct <= 97.0:
        return 80.0
    return 0.0


def current_to_duty_pct(current_a: float) -> float:
    """Duty cycle (%) an EVSE sets to offer ``current_a``: inverse of ``duty_to_current_a``.

    Below 6 A nothing can be offered (100 %: no PWM); above 80 A the duty saturates at 96 %.
    The J1772 table is discontinuous at 85 % (51 A at 85 %, 52.5 A only just above it), so
    requests above 51 A up to and including 52.5 A are offered as 51 A: the EVSE never
    advertises more than it was asked for.
    """
    if not current_a >= 6.0:  # also catches NaN
        return 100.0
    if current_a <= 51.0:
        return current_a / 0.6
    if current_a <= 52.5:  # the table jumps from 51 A (85 %) to 52.5 A (just above 85 %)
        return 85.0
    if current_a <= 80.0:
        return current_a / 2.5 + 64.0
    return 96.0
