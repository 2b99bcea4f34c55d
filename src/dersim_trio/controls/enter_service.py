"""Enter service and cease to energize (IEEE 1547-2018 §4.10, SunSpec 703): one table.

Theory of operation
-------------------

Independently of the inverter's operating state (``operating_state``), the operator (or a
utility) can take a DER out of service: ``cease_to_energize`` stops it delivering any power at
once, and ``enter_service`` brings it back. Coming back is not immediate: IEEE 1547-2018 §4.10
makes a DER wait an *enter-service delay* with the grid inside the enter-service window
(voltage 0.917..1.05 pu, frequency 59.5..60.1 Hz by default, physics reference B.7) before it
energizes, then ramp its output up over the enter-service period. While the grid is outside the
window, or the inverter is not running, the delay starts over.

::

    in_service ──cease_to_energize──▶ out_of_service ──enter_service──▶ entering_service
        ▲                                   ▲                                 │   │
        │                                   └────────cease_to_energize────────┘   │
        └────────────(the enter-service delay inside the window)──────────────────┘

For a device with grid support (every device the service builds) the window, the delay (with
its randomized part) and the ramp that follows are the device's IEEE 1547 enter-service
settings, counted by the same ``grid.enter_service.ReEntry`` as the return after a trip
(``supervisor`` calls ``GridSupport.start_entering``/``advance_entering`` and ``complete``
here); ``--enter_service_delay_s`` is their default delay. Without grid support,
``advance`` counts ``OperatingTimes.enter_service_delay_s`` against the default window.

Starting the inverter is entering service too (§4.10 applies whenever the DER begins to
energize the grid, not only after a trip): when ``start`` (from off) or a ``reset`` (after a
fault) sends the inverter through ``starting``, the service state goes from ``in_service`` to
``entering_service`` (``inverter_started``), so after its start-up time the unit waits the
enter-service delay inside the window and ramps, as after a trip. A ``start`` while shutting
down resumes a unit that never stopped energizing: no new wait. The simulation itself begins
with every unit in service, as if it had been running before.

The table maps ``(state, event)`` to the next state or a refusal detail; every pair of a state
and an operator event is listed. The state reported in snapshots combines this one with the
inverter's (``supervisor.service_state``): an inverter that is off or faulted is out of
service whatever this table says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dersim_trio.api.schema import ServiceState

ServiceEvent = Literal["cease_to_energize", "enter_service"]
SERVICE_EVENTS: tuple[ServiceEvent, ...] = ("cease_to_energize", "enter_service")
SERVICE_STATES: tuple[ServiceState, ...] = ("in_service", "entering_service", "out_of_service")

ENTER_SERVICE_VOLTAGE_PU = (0.917, 1.05)
"""IEEE 1547-2018 §4.10 default enter-service voltage window, per unit (reference B.7)."""
ENTER_SERVICE_FREQUENCY_HZ = (59.5, 60.1)
"""IEEE 1547-2018 §4.10 default enter-service frequency window, Hz (reference B.7)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """The event is not allowed in this state; ``detail`` says why."""

    detail: str


SERVICE_TRANSITIONS: dict[tuple[ServiceState, ServiceEvent], ServiceState | Refusal] = {
    ("in_service", "cease_to_energize"): "out_of_service",
    ("in_service", "enter_service"): Refusal("already in service"),
    ("entering_service", "cease_to_energize"): "out_of_service",
    ("entering_service", "enter_service"): Refusal("already entering service"),
    ("out_of_service", "cease_to_energize"): Refusal("already ceased to energize"),
    ("out_of_service", "enter_service"): "entering_service",
}
DELAY_ELAPSED: dict[ServiceState, ServiceState] = {"entering_service": "in_service"}
"""Where the enter-service delay leads."""


def grid_in_window(voltage_pu: float, frequency_hz: float) -> bool:
    """True when the grid is inside the enter-service window."""
    v_lo, v_hi = ENTER_SERVICE_VOLTAGE_PU
    f_lo, f_hi = ENTER_SERVICE_FREQUENCY_HZ
    return v_lo <= voltage_pu <= v_hi and f_lo <= frequency_hz <= f_hi


@dataclass(frozen=True, slots=True)
class ServiceOutcome:
    """What an event did."""

    accepted: bool
    previous: ServiceState
    state: ServiceState
    detail: str


@dataclass(slots=True)
class EnterService:
    """One device's service state and the enter-service delay counted so far."""

    state: ServiceState = "in_service"
    delay_counted_s: float = 0.0

    def handle(self, event: ServiceEvent, delay_s: float) -> ServiceOutcome:
        """Apply ``cease_to_energize`` or ``enter_service``; refused events change nothing."""
        previous = self.state
        rule = SERVICE_TRANSITIONS[(previous, event)]
        if isinstance(rule, Refusal):
            return ServiceOutcome(False, previous, previous, rule.detail)
        self.state = rule
        self.delay_counted_s = 0.0
        detail = f"{previous} → {rule}"
        if rule == "entering_service":
            detail += (
                f", in_service after {delay_s:g} s with the inverter running and the grid "
                f"within {ENTER_SERVICE_VOLTAGE_PU[0]:g}..{ENTER_SERVICE_VOLTAGE_PU[1]:g} pu, "
                f"{ENTER_SERVICE_FREQUENCY_HZ[0]:g}..{ENTER_SERVICE_FREQUENCY_HZ[1]:g} Hz"
            )
        return ServiceOutcome(True, previous, rule, detail)

    def inverter_started(self) -> bool:
        """The inverter was started (``start`` from off, or a ``reset`` that restarts it after a
        fault): it begins to energize the grid anew, which IEEE 1547-2018 §4.10 makes an
        entering of service. From ``in_service`` it waits the delay again (True); a unit the
        operator holds ceased to energize stays out of service, and one already entering
        service goes on waiting (False)."""
        if self.state != "in_service":
            return False
        self.state = "entering_service"
        self.delay_counted_s = 0.0
        return True

    def complete(self) -> bool:
        """The delay, counted elsewhere (the grid support's enter-service function), is over;
        True when service was entered."""
        following = DELAY_ELAPSED.get(self.state)
        if following is None:
            return False
        self.state = following
        self.delay_counted_s = 0.0
        return True

    def advance(self, dt_s: float, delay_s: float, may_count: bool) -> bool:
        """Count ``dt_s`` toward the delay when ``may_count``; True when service was entered."""
        following = DELAY_ELAPSED.get(self.state)
        if following is None:
            return False
        if not may_count:
            self.delay_counted_s = 0.0
            return False
        self.delay_counted_s += dt_s
        if self.delay_counted_s < delay_s:
            return False
        self.state = following
        self.delay_counted_s = 0.0
        return True
