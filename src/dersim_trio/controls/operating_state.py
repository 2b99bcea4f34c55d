"""The inverter's operating state: every transition, as one table.

Theory of operation
-------------------

An inverter is in exactly one operating state. Operator commands (``start``, ``stop``,
``reset``), an injected fault, and the end of a timed state are *events*; the table below maps
``(state, event)`` to either a ``Transition`` (the next state) or a ``Refusal`` (the command is
logged as "rejected" with the refusal's detail and nothing changes). Every pair of a state and
an operator event is in the table, so there is no implicit "ignore".

::

    off ──start──▶ starting ──(startup_time_s)──▶ running ──stop──▶ shutting_down
     ▲                │                              ▲                 │    │
     │               stop                            └──────start──────┘    │
     └────────────────┴────────────────────(shutdown_time_s)────────────────┘

    any state ──fault──▶ fault / fault_stopped ──reset (conditions cleared)──▶ starting / off

Two states report SunSpec ``InvSt`` FAULT: ``fault`` remembers that the unit was meant to run
(a reset restarts it through ``starting``), ``fault_stopped`` that it was stopped (a reset leaves
it ``off``). A ``stop`` while faulted turns ``fault`` into ``fault_stopped``; a ``start`` while
faulted is refused ("reset the fault first"). A ``reset`` is refused while an injected fault
condition is still present (its guard); the caller says whether the conditions have cleared.

What each state means for the output (applied by ``controls.supervisor``):

* ``running``: the model decides (it may itself report sleeping, standby or throttled).
* ``shutting_down``: the output ramps linearly from its value at the ``stop`` to 0 over
  ``shutdown_time_s``, then ``off``.
* ``starting``: no output for ``startup_time_s`` (synchronising), then ``running``.
* ``off``, ``fault``, ``fault_stopped``: no output.

Timed states advance only through ``advance(dt_s)`` with simulated seconds; a long step walks
through several states and carries the time left over into the next one. Nothing here reads a
clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from dersim_trio.api.schema import InverterStateName

OperatingStateName = Literal[
    "off", "starting", "running", "shutting_down", "fault", "fault_stopped"
]
OperatorEvent = Literal["start", "stop", "reset", "fault"]
Event = Literal["start", "stop", "reset", "fault", "elapsed"]
Guard = Literal["conditions_cleared"]

OPERATING_STATES: tuple[OperatingStateName, ...] = (
    "off",
    "starting",
    "running",
    "shutting_down",
    "fault",
    "fault_stopped",
)
OPERATOR_EVENTS: tuple[OperatorEvent, ...] = ("start", "stop", "reset", "fault")


@dataclass(frozen=True, slots=True)
class OperatingTimes:
    """Durations of the timed states, simulated seconds (``--startup_time_s`` and friends)."""

    startup_time_s: float = 5.0
    shutdown_time_s: float = 3.0
    enter_service_delay_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Transition:
    """Go to ``next``, provided the ``guard`` (if any) holds."""

    next: OperatingStateName
    guard: Guard | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """The event is not allowed in this state; ``detail`` says why and what to do."""

    detail: str


_RESET_FIRST = "the inverter is in fault: reset the fault first"

TRANSITIONS: dict[tuple[OperatingStateName, Event], Transition | Refusal] = {
    # off: stopped by the operator, output 0
    ("off", "start"): Transition("starting"),
    ("off", "stop"): Refusal("already off"),
    ("off", "reset"): Refusal("no fault to reset (the inverter is off)"),
    ("off", "fault"): Transition("fault_stopped"),
    # starting: synchronising for startup_time_s, output 0
    ("starting", "start"): Refusal("already starting"),
    ("starting", "stop"): Transition("off"),
    ("starting", "reset"): Refusal("no fault to reset (the inverter is starting)"),
    ("starting", "fault"): Transition("fault"),
    ("starting", "elapsed"): Transition("running"),
    # running: the model decides the output
    ("running", "start"): Refusal("already running"),
    ("running", "stop"): Transition("shutting_down"),
    ("running", "reset"): Refusal("no fault to reset (the inverter is running)"),
    ("running", "fault"): Transition("fault"),
    # shutting_down: output ramps to 0 over shutdown_time_s; a start resumes running
    ("shutting_down", "start"): Transition("running"),
    ("shutting_down", "stop"): Refusal("already shutting down"),
    ("shutting_down", "reset"): Refusal("no fault to reset (the inverter is shutting down)"),
    ("shutting_down", "fault"): Transition("fault_stopped"),
    ("shutting_down", "elapsed"): Transition("off"),
    # fault: latched; a reset (once the conditions have cleared) restarts the unit
    ("fault", "start"): Refusal(_RESET_FIRST),
    ("fault", "stop"): Transition("fault_stopped"),
    ("fault", "reset"): Transition("starting", guard="conditions_cleared"),
    ("fault", "fault"): Transition("fault"),
    # fault_stopped: latched; a reset leaves the unit off
    ("fault_stopped", "start"): Refusal(_RESET_FIRST),
    ("fault_stopped", "stop"): Transition("fault_stopped"),
    ("fault_stopped", "reset"): Transition("off", guard="conditions_cleared"),
    ("fault_stopped", "fault"): Transition("fault_stopped"),
}

ALREADY_RUNNING_AS: dict[InverterStateName, str] = {
    "running": "already running",
    "throttled": "already running (throttled: a limit holds the output below what is available)",
    "standby": "already running: standby is a running inverter with nothing to deliver (a "
    "battery or fuel cell waits for an active_power_setpoint_kw, an EVSE for a car)",
    "sleeping": "already running: sleeping is a running inverter without DC power (PV at night, "
    "wind below cut-in); it wakes by itself",
}
"""The detail of a ``start`` refused in ``running``, by the ``InvSt`` the inverter shows: a
running inverter reports what its model does, so "already running" alone would contradict a
snapshot that says standby or sleeping."""
ALREADY_RUNNING_OUT_OF_SERVICE = (
    "already running, but out of service (standby until it enters service): send "
    "enter_service, or wait for the grid to return within its enter-service window"
)


def refusal_detail(
    state: OperatingStateName, event: OperatorEvent, shown: InverterStateName, in_service: bool
) -> str | None:
    """A refusal's detail told against what the inverter shows (None: the table's own)."""
    if state != "running" or event != "start":
        return None
    if not in_service:
        return ALREADY_RUNNING_OUT_OF_SERVICE
    return ALREADY_RUNNING_AS.get(shown)


INVERTER_STATE: dict[OperatingStateName, InverterStateName] = {
    "off": "off",
    "starting": "starting",
    "running": "running",
    "shutting_down": "shutting_down",
    "fault": "fault",
    "fault_stopped": "fault",
}
"""The SunSpec 701 ``InvSt`` each operating state reports (``running`` defers to the model)."""

FAULT_STATES: frozenset[OperatingStateName] = frozenset({"fault", "fault_stopped"})
ENERGIZED_STATES: frozenset[OperatingStateName] = frozenset({"running", "shutting_down"})


_TIMED = frozenset({"starting", "shutting_down"})
"""The states ``duration_s`` gives a duration."""


def duration_s(state: OperatingStateName, times: OperatingTimes) -> float | None:
    """How long a timed state lasts before its ``elapsed`` event; None for untimed states."""
    if state == "starting":
        return times.startup_time_s
    if state == "shutting_down":
        return times.shutdown_time_s
    return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an event did: accepted or not, the states before and after, and a description."""

    accepted: bool
    previous: OperatingStateName
    state: OperatingStateName
    detail: str


def _describe(previous: OperatingStateName, new: OperatingStateName, times: OperatingTimes) -> str:
    if previous in FAULT_STATES and new in FAULT_STATES:
        after_reset = "off" if new == "fault_stopped" else "restarted"
        return f"stays in fault; after a reset it will be {after_reset}"
    walk = f"{INVERTER_STATE[previous]} → {INVERTER_STATE[new]}"
    seconds = duration_s(new, times)
    if seconds is not None:
        after = TRANSITIONS[(new, "elapsed")]
        assert isinstance(after, Transition)
        walk += f" for {seconds:g} s, then {INVERTER_STATE[after.next]}"
    return walk


@dataclass(slots=True)
class OperatingState:
    """One inverter's operating state and the simulated time it has spent in it."""

    state: OperatingStateName = "running"
    time_in_state_s: float = 0.0

    @property
    def inverter_state(self) -> InverterStateName:
        """The SunSpec 701 ``InvSt`` this state reports (``running``: see the model)."""
        return INVERTER_STATE[self.state]

    @property
    def faulted(self) -> bool:
        """True in either fault state."""
        return self.state in FAULT_STATES

    @property
    def energized(self) -> bool:
        """True when the inverter may deliver power (``running`` or ``shutting_down``)."""
        return self.state in ENERGIZED_STATES

    def handle(
        self, event: OperatorEvent, times: OperatingTimes, *, conditions_cleared: bool = True
    ) -> Outcome:
        """Apply an operator event or a fault; refused events change nothing."""
        previous = self.state
        rule = TRANSITIONS[(previous, event)]
        if isinstance(rule, Refusal):
            return Outcome(False, previous, previous, rule.detail)
        if rule.guard == "conditions_cleared" and not conditions_cleared:
            return Outcome(
                False,
                previous,
                previous,
                "a fault condition is still present: clear it first, then reset",
            )
        if rule.next != previous:
            self.state = rule.next
            self.time_in_state_s = 0.0
        return Outcome(True, previous, self.state, _describe(previous, self.state, times))

    def advance(self, dt_s: float, times: OperatingTimes) -> Sequence[tuple[str, str]]:
        """Let ``dt_s`` simulated seconds pass; return the (from, to) timed transitions taken."""
        self.time_in_state_s += dt_s
        if self.state not in _TIMED:  # every device, every tick: no list, no lookup
            return ()
        taken: list[tuple[str, str]] = []
        while True:
            seconds = duration_s(self.state, times)
            if seconds is None or self.time_in_state_s < seconds:
                return taken
            rule = TRANSITIONS[(self.state, "elapsed")]
            assert isinstance(rule, Transition)
            taken.append((self.state, rule.next))
            self.time_in_state_s -= seconds
            self.state = rule.next

    def remaining_fraction(self, times: OperatingTimes) -> float:
        """Of a timed state, the fraction of its duration still to go (1.0 when untimed)."""
        seconds = duration_s(self.state, times)
        if seconds is None:
            return 1.0
        if seconds <= 0.0:
            return 0.0
        return min(1.0, max(0.0, 1.0 - self.time_in_state_s / seconds))
