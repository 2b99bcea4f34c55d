"""Commands and faults walk the documented state sequences, in simulated time.

The walks (``/tmp/api_spec.md``, "Commands"; IEEE 1547-2018 §4.10 for enter service):
stop: running → shutting_down (``--shutdown_time_s``) → off; start: off → starting
(``--startup_time_s``) → running, then entering service as after a trip (the enter-service delay
and ramp; a reset after a fault the same); cease_to_energize: output 0, out_of_service;
enter_service: out_of_service → entering_service (``--enter_service_delay_s``) → in_service,
then the IEEE 1547 enter-service ramp; a fault latches the inverter in ``fault`` until the
condition has cleared and ``reset`` is sent.

The engine ticks every 0.5 simulated seconds. Each window is checked half a tick inside and half
a tick outside its end, never on the boundary.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from dersim_trio.api.controls import CommandName, CommandRequest, ControlsUpdate
from dersim_trio.api.schema import Snapshot
from dersim_trio.controls.enter_service import SERVICE_EVENTS, SERVICE_STATES, SERVICE_TRANSITIONS
from dersim_trio.controls.operating_state import (
    ALREADY_RUNNING_AS,
    OPERATING_STATES,
    OPERATOR_EVENTS,
    TRANSITIONS,
    OperatingState,
    OperatingTimes,
    Transition,
    duration_s,
)
from dersim_trio.engine.core import Engine
from dersim_trio.service.operator import COMMAND_LOG_SIZE, Controller

if TYPE_CHECKING:
    from conftest import Kit

TICK_S = 0.5
STARTUP_S = 4.0
SHUTDOWN_S = 2.5
ENTER_DELAY_S = 3.5
FLAGS = (
    *("--periodic_time", str(TICK_S)),
    *("--startup_time_s", str(STARTUP_S)),
    *("--shutdown_time_s", str(SHUTDOWN_S)),
    *("--enter_service_delay_s", str(ENTER_DELAY_S)),
)


class Rig:
    """An engine and its controller; ``at(t)`` steps to t simulated seconds after a mark."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.controller = Controller(engine)
        self.snap = engine.initial()[0]
        self.mark_s = 0.0

    @property
    def now_s(self) -> float:
        return self.engine.elapsed_s

    def step(self, ticks: int = 1) -> Snapshot:
        for _ in range(ticks):
            self.snap = self.engine.step()[0]
        return self.snap

    def send(self, command: CommandName, device: int | None = 0) -> str:
        """Send a command now; return its outcome and start the clock for ``at``."""
        records = self.controller.command(CommandRequest(command=command, device=device))
        self.mark_s = self.now_s
        return records[0].outcome

    def at(self, seconds_after_mark: float) -> Snapshot:
        target = self.mark_s + seconds_after_mark
        assert abs(target / TICK_S - round(target / TICK_S)) < 1e-9, "not on a tick"
        while self.now_s < target - 1e-9:
            self.step()
        return self.snap


def battery(kit: type[Kit], *flags: str) -> Rig:
    """A battery discharging 4 kW (so "no output" is visible)."""
    rig = Rig(kit.make_engine("-d", "Batt", *FLAGS, *flags))
    rig.controller.update_controls(0, ControlsUpdate(active_power_setpoint_kw=4.0))
    rig.step(2)
    assert rig.snap.metrics.power_kw == pytest.approx(4.0)
    return rig


def inside(window_s: float) -> float:
    """The last tick before the end of a window (the windows here are whole ticks)."""
    return window_s - TICK_S


def outside(window_s: float) -> float:
    """The first tick after the end of a window."""
    return window_s + TICK_S


# --- the tables -------------------------------------------------------------------------------


def test_every_state_and_operator_event_has_a_row_in_the_inverter_table() -> None:
    for state in OPERATING_STATES:
        for event in OPERATOR_EVENTS:
            assert (state, event) in TRANSITIONS, (state, event)
        timed = duration_s(state, OperatingTimes()) is not None
        assert ((state, "elapsed") in TRANSITIONS) == timed, state


def test_every_service_state_and_event_has_a_row_in_the_enter_service_table() -> None:
    for state in SERVICE_STATES:
        for event in SERVICE_EVENTS:
            assert (state, event) in SERVICE_TRANSITIONS, (state, event)


def test_a_long_step_walks_through_several_timed_states() -> None:
    op = OperatingState()
    times = OperatingTimes(startup_time_s=5.0, shutdown_time_s=3.0)
    assert op.handle("stop", times).accepted
    assert op.advance(600.0, times) == [("shutting_down", "off")]
    op.handle("start", times)
    assert op.advance(6.0, times) == [("starting", "running")]
    assert op.state == "running"


def test_the_reset_of_a_fault_is_guarded_by_the_conditions() -> None:
    rule = TRANSITIONS[("fault", "reset")]
    assert isinstance(rule, Transition)
    assert rule.guard == "conditions_cleared"


# --- stop and start ---------------------------------------------------------------------------


def test_stop_ramps_the_output_to_zero_over_the_shutdown_time_then_off(kit: type[Kit]) -> None:
    rig = battery(kit)
    p0 = rig.snap.metrics.power_kw
    assert rig.send("stop") == "accepted"
    first = rig.at(TICK_S)
    assert first.status.inverter_state == "shutting_down"
    # linear: after one tick of 0.5 s out of 2.5 s, 80 % remains
    assert first.metrics.power_kw == pytest.approx(p0 * (1 - TICK_S / SHUTDOWN_S))
    snap = rig.at(inside(SHUTDOWN_S))
    assert snap.status.inverter_state == "shutting_down"
    assert 0.0 < snap.metrics.power_kw < first.metrics.power_kw
    assert snap.status.service_state == "in_service"
    snap = rig.at(outside(SHUTDOWN_S))
    assert snap.status.inverter_state == "off"
    assert snap.status.service_state == "out_of_service"
    assert snap.metrics.power_kw == 0.0
    assert snap.status.message is not None
    assert "stopped" in snap.status.message


def after_start_enters_service(rig: Rig) -> None:
    """From the end of the start-up time: running, but out of the grid until the IEEE 1547
    enter-service delay has passed inside the window; then the enter-service ramp (300 s by
    default) from 0 (IEEE 1547-2018 §4.10: starting to energize is entering service)."""
    snap = rig.at(outside(STARTUP_S))
    assert (snap.status.inverter_state, snap.status.service_state) == (
        "standby",  # a running inverter that is not in service yet
        "entering_service",
    )
    assert snap.metrics.power_kw == 0.0
    snap = rig.at(STARTUP_S + inside(ENTER_DELAY_S))
    assert snap.status.service_state == "entering_service"
    assert snap.metrics.power_kw == 0.0
    snap = rig.at(STARTUP_S + outside(ENTER_DELAY_S))
    assert (snap.status.inverter_state, snap.status.service_state) == ("running", "in_service")
    w_max = rig.engine.devices[0].model.rating.w_max_kw
    assert snap.metrics.power_kw == pytest.approx(w_max * TICK_S / 300.0)
    assert snap.status.grid_state == "entering_service"


def test_start_waits_the_startup_time_then_enters_service_like_after_a_trip(
    kit: type[Kit],
) -> None:
    rig = battery(kit)
    rig.send("stop")
    rig.at(outside(SHUTDOWN_S))
    records = rig.controller.command(CommandRequest(command="start", device=0))
    rig.mark_s = rig.now_s
    assert records[0].outcome == "accepted"
    assert "entering_service: the IEEE 1547 enter-service delay of 3.5 s" in records[0].detail
    snap = rig.at(TICK_S)
    assert (snap.status.inverter_state, snap.status.service_state) == (
        "starting",
        "entering_service",
    )
    snap = rig.at(inside(STARTUP_S))
    assert snap.status.inverter_state == "starting"
    assert snap.metrics.power_kw == 0.0
    after_start_enters_service(rig)


def test_a_start_keeps_a_unit_that_ceased_to_energize_out_of_service(kit: type[Kit]) -> None:
    """``cease_to_energize`` holds: a start brings the inverter up, ``enter_service`` is still
    what lets it energize."""
    rig = battery(kit)
    rig.send("cease_to_energize")
    rig.send("stop")
    rig.at(outside(SHUTDOWN_S))
    assert rig.send("start") == "accepted"
    snap = rig.at(outside(STARTUP_S) + ENTER_DELAY_S + 5)
    assert snap.status.service_state == "out_of_service"
    assert snap.metrics.power_kw == 0.0


def test_repeated_commands_are_rejected_with_the_reason(kit: type[Kit]) -> None:
    rig = battery(kit)
    records = rig.controller.command(CommandRequest(command="start", device=0))
    assert records[0].outcome == "rejected"
    assert records[0].detail == "already running"
    rig.send("stop")
    rig.at(outside(SHUTDOWN_S))
    assert rig.controller.command(CommandRequest(command="stop"))[0].detail == "already off"


IDLE_RUNNING = [
    (("-d", "Batt"), "standby"),
    (("-d", "Fuelcell-3Phase"), "standby"),
    (("-d", "PV", "--start_clock_time", "00:00:00"), "sleeping"),
    (
        ("-d", "HybridDC-3Phase", "--start_clock_time", "00:00:00", "--hybrid_site_load", "none"),
        "sleeping",
    ),
]


@pytest.mark.parametrize(("flags", "shown"), IDLE_RUNNING, ids=[f[1] for f, _ in IDLE_RUNNING])
def test_start_on_a_running_unit_that_shows_standby_or_sleeping_says_why(
    kit: type[Kit], flags: tuple[str, ...], shown: str
) -> None:
    """A battery or fuel cell without a setpoint shows standby, PV at night sleeping: both are
    the running inverter with nothing to deliver, and the refusal says so instead of a bare
    "already running" that contradicts the snapshot."""
    rig = Rig(kit.make_engine(*FLAGS, *flags))
    assert rig.step().status.inverter_state == shown
    records = rig.controller.command(CommandRequest(command="start", device=0))
    assert records[0].outcome == "rejected"
    assert records[0].detail == ALREADY_RUNNING_AS[shown]
    assert records[0].detail.startswith(f"already running: {shown} is a running inverter")
    assert rig.step().status.inverter_state == shown  # nothing changed


def test_start_on_a_running_unit_out_of_service_points_to_enter_service(kit: type[Kit]) -> None:
    rig = battery(kit)
    rig.send("cease_to_energize")
    assert rig.at(TICK_S).status.inverter_state == "standby"
    records = rig.controller.command(CommandRequest(command="start", device=0))
    assert records[0].outcome == "rejected"
    assert "out of service" in records[0].detail
    assert "enter_service" in records[0].detail


def test_a_start_during_the_shutdown_resumes_running_at_once(kit: type[Kit]) -> None:
    """The unit never stopped energizing: it runs on in service, no enter-service delay."""
    rig = battery(kit)
    rig.send("stop")
    rig.at(TICK_S)
    assert rig.send("start") == "accepted"
    snap = rig.at(TICK_S)
    assert (snap.status.inverter_state, snap.status.service_state) == ("running", "in_service")
    assert snap.metrics.power_kw == pytest.approx(4.0)


# --- faults -----------------------------------------------------------------------------------


def test_a_fault_trips_to_fault_with_no_output_and_the_message_names_it(kit: type[Kit]) -> None:
    rig = battery(kit)
    state = rig.controller.inject_fault(0, "ground_fault")
    assert (state.active, state.latched) == (["ground_fault"], True)
    snap = rig.step()
    assert snap.status.inverter_state == "fault"
    assert snap.status.service_state == "out_of_service"
    assert snap.status.connection_state == "connected"
    assert snap.metrics.power_kw == 0.0
    assert snap.metrics.reactive_power_kvar == 0.0
    assert snap.status.message is not None
    assert "ground_fault" in snap.status.message


def test_start_while_faulted_is_rejected_reset_the_fault_first(kit: type[Kit]) -> None:
    rig = battery(kit)
    rig.controller.inject_fault(0, "over_temperature")
    record = rig.controller.command(CommandRequest(command="start", device=0))[0]
    assert record.outcome == "rejected"
    assert "reset the fault first" in record.detail


def test_reset_while_the_fault_is_still_injected_is_rejected(kit: type[Kit]) -> None:
    rig = battery(kit)
    rig.controller.inject_fault(0, "dc_over_voltage")
    record = rig.controller.command(CommandRequest(command="reset", device=0))[0]
    assert record.outcome == "rejected"
    assert "dc_over_voltage" in record.detail
    assert rig.step().status.inverter_state == "fault"


def test_clearing_then_reset_restarts_through_starting(kit: type[Kit]) -> None:
    rig = battery(kit)
    rig.controller.inject_fault(0, "ground_fault")
    rig.step()
    cleared = rig.controller.clear_fault(0)
    assert (cleared.active, cleared.latched) == ([], True)
    snap = rig.step()
    assert snap.status.inverter_state == "fault"  # latched until the reset
    assert snap.status.message == "fault: ground_fault (cleared; send reset)"
    assert rig.send("reset") == "accepted"
    assert rig.controller.faults(0).latched is False
    assert rig.at(inside(STARTUP_S)).status.inverter_state == "starting"
    after_start_enters_service(rig)


def test_a_unit_stopped_while_faulted_stays_off_after_the_reset(kit: type[Kit]) -> None:
    rig = battery(kit)
    rig.controller.inject_fault(0, "communication_loss")
    assert rig.send("stop") == "accepted"
    rig.controller.clear_fault(0, "communication_loss")
    rig.send("reset")
    assert rig.at(outside(STARTUP_S)).status.inverter_state == "off"


def test_grid_disconnect_disconnects_until_the_reset(kit: type[Kit]) -> None:
    rig = battery(kit)
    rig.controller.inject_fault(0, "grid_disconnect")
    snap = rig.step()
    assert snap.status.connection_state == "disconnected"
    rig.controller.clear_fault(0, "grid_disconnect")
    assert rig.step().status.connection_state == "disconnected"
    rig.send("reset")
    assert rig.step().status.connection_state == "connected"


# --- enter service ----------------------------------------------------------------------------


def test_cease_to_energize_stops_output_and_enter_service_waits_the_delay(
    kit: type[Kit],
) -> None:
    rig = battery(kit)
    assert rig.send("cease_to_energize") == "accepted"
    snap = rig.at(TICK_S)
    assert snap.status.service_state == "out_of_service"
    assert snap.status.inverter_state == "standby"
    assert snap.metrics.power_kw == 0.0
    assert rig.controller.command(CommandRequest(command="cease_to_energize"))[0].outcome == (
        "rejected"
    )
    assert rig.send("enter_service") == "accepted"
    snap = rig.at(inside(ENTER_DELAY_S))
    assert snap.status.service_state == "entering_service"
    assert snap.metrics.power_kw == 0.0
    snap = rig.at(outside(ENTER_DELAY_S))
    assert snap.status.service_state == "in_service"
    assert snap.status.inverter_state == "running"
    # then the IEEE 1547 enter-service ramp (300 s by default, tests/grid/test_enter_service.py)
    w_max = rig.engine.devices[0].model.rating.w_max_kw
    assert snap.metrics.power_kw == pytest.approx(w_max * TICK_S / 300.0)


def test_the_enter_service_delay_waits_for_the_grid_to_be_inside_the_window(
    kit: type[Kit],
) -> None:
    """IEEE 1547-2018 §4.10: the delay counts only with V in 0.917..1.05 pu, f in 59.5..60.1."""
    rig = battery(kit)
    rig.send("cease_to_energize")
    rig.step()
    rig.engine.devices[0].inputs.grid_voltage_pu = 1.08
    rig.send("enter_service")
    assert rig.at(outside(ENTER_DELAY_S) + 5).status.service_state == "entering_service"
    rig.engine.devices[0].inputs.grid_voltage_pu = 1.0
    rig.mark_s = rig.now_s
    assert rig.at(inside(ENTER_DELAY_S)).status.service_state == "entering_service"
    assert rig.at(outside(ENTER_DELAY_S)).status.service_state == "in_service"


# --- the command log --------------------------------------------------------------------------


def test_a_command_to_all_devices_gives_one_record_each(kit: type[Kit]) -> None:
    rig = Rig(kit.make_engine("-d", "Batt", "-N", "3", *FLAGS))
    records = rig.controller.command(CommandRequest(command="stop"))
    assert [(r.device, r.outcome) for r in records] == [(i, "accepted") for i in range(3)]
    assert [r.id for r in records] == [1, 2, 3]
    assert {r.time for r in records} == {"2026-06-21T12:00:00.000+00:00"}


def test_the_command_log_keeps_the_last_500_newest_last(kit: type[Kit]) -> None:
    rig = Rig(kit.make_engine("-d", "Batt", *FLAGS))
    for _ in range(COMMAND_LOG_SIZE + 20):
        rig.controller.command(CommandRequest(command="start", device=0))
    log = rig.controller.commands(1000)
    assert len(log) == COMMAND_LOG_SIZE
    assert log[-1].id == COMMAND_LOG_SIZE + 20
    assert [r.id for r in rig.controller.commands(2)] == [519, 520]


def test_commands_and_faults_are_logged_with_the_device_index(
    kit: type[Kit], caplog: pytest.LogCaptureFixture
) -> None:
    rig = battery(kit)
    with caplog.at_level(logging.INFO, logger="dersim_trio"):
        rig.send("stop")
        rig.controller.inject_fault(0, "ground_fault")
    by_logger = {(r.name, r.getMessage().split(":")[0]) for r in caplog.records}
    assert ("dersim_trio.Lab", "device 0") in by_logger
    assert ("dersim_trio.DC", "device 0") in by_logger
