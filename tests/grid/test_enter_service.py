"""Enter service: the operator's ``enter_service`` and the return after a trip are one mechanism.

IEEE 1547-2018 §4.10.2/§4.10.3 (``grid.enter_service``): the unit waits until the grid has been
inside the enter-service window (0.917..1.05 pu, 59.5..60.1 Hz by default) for the enter-service
delay, then increases its active power linearly over the enter-service period. Both ways back
(an operator ``enter_service`` after a ``cease_to_energize``, and the autonomous return after a
trip) go through the same settings; ``--enter_service_delay_s`` is the delay every device starts
with. The engine ticks every 0.5 simulated seconds; a battery discharging its full rating makes
the ramp visible as P itself.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest

from dersim_trio.api.controls import CommandRequest, ControlsUpdate
from dersim_trio.api.grid_support import GridSupportUpdate
from dersim_trio.api.schema import Snapshot
from dersim_trio.engine.core import Engine
from dersim_trio.grid.enter_service import LazyRandom
from dersim_trio.service.operator import Controller
from dersim_trio.setup.config import ConfigError, parse_args

if TYPE_CHECKING:
    from conftest import Kit

TICK_S = 0.5
DELAY_S = 6.0
RAMP_S = 4.0


def rig(kit: type[Kit], *flags: str) -> tuple[Engine, Controller, float]:
    """A battery at its full rating, short enter-service settings; (engine, controller, W)."""
    engine = kit.make_engine("-d", "Batt", "--periodic_time", str(TICK_S), *flags)
    controller = Controller(engine)
    w_max = engine.devices[0].model.rating.w_max_kw
    controller.update_controls(0, ControlsUpdate(active_power_setpoint_kw=w_max))
    controller.update_grid_support(
        0, GridSupportUpdate.model_validate({"enter_service": {"es_rmp_tms_s": RAMP_S}})
    )
    engine.step()
    assert engine.step()[0].metrics.power_kw == pytest.approx(w_max)
    return engine, controller, w_max


def run(engine: Engine, seconds: float) -> list[Snapshot]:
    return [engine.step()[0] for _ in range(round(seconds / TICK_S))]


def expected_after_delay(w_max: float, ticks: int) -> list[float]:
    """§4.10.3: P rises linearly from the end of the delay (the end of the last waiting
    tick, where P is still 0), reaching W after the period."""
    return [min(w_max, w_max * TICK_S * k / RAMP_S) for k in range(1, ticks + 1)]


RAMP_TICKS = round(RAMP_S / TICK_S)


def test_after_a_trip_no_output_until_the_window_holds_for_the_delay_then_a_linear_ramp(
    kit: type[Kit],
) -> None:
    engine, _, w_max = rig(kit, "--enter_service_delay_s", str(DELAY_S))
    grid = engine.devices[0].inputs
    grid.grid_voltage_pu = 1.25  # OV2: 0.16 s
    [tripped] = run(engine, TICK_S)
    assert tripped.status.last_trip is not None
    assert tripped.status.last_trip.cause == "OV2"
    # outside the window (1.06 pu > 1.05 pu) the delay does not count
    grid.grid_voltage_pu = 1.06
    outside = run(engine, 3 * DELAY_S)
    assert {s.metrics.power_kw for s in outside} == {0.0}
    assert {s.status.service_state for s in outside} == {"out_of_service"}
    grid.grid_voltage_pu = 1.0
    waiting = run(engine, DELAY_S)
    assert {s.metrics.power_kw for s in waiting} == {0.0}
    ramp = run(engine, RAMP_S + 2 * TICK_S)
    assert [s.metrics.power_kw for s in ramp] == pytest.approx(
        expected_after_delay(w_max, len(ramp))
    )
    states = [s.status.grid_state for s in ramp]
    assert states[: RAMP_TICKS - 1] == ["entering_service"] * (RAMP_TICKS - 1)
    assert set(states[RAMP_TICKS - 1 :]) == {"continuous"}


def test_an_operator_enter_service_obeys_the_same_window_delay_and_ramp(
    kit: type[Kit],
) -> None:
    engine, controller, w_max = rig(kit, "--enter_service_delay_s", str(DELAY_S))
    [record] = controller.command(CommandRequest(command="cease_to_energize", device=0))
    assert record.outcome == "accepted"
    assert {s.metrics.power_kw for s in run(engine, 2 * TICK_S)} == {0.0}
    engine.devices[0].inputs.grid_frequency_hz = 60.2  # outside 59.5..60.1 Hz, no trip
    [record] = controller.command(CommandRequest(command="enter_service", device=0))
    assert record.outcome == "accepted"
    assert f"after {DELAY_S:g} s" in record.detail
    assert f"{RAMP_S:g} s ramp" in record.detail
    outside = run(engine, 3 * DELAY_S)
    assert {s.metrics.power_kw for s in outside} == {0.0}
    assert {s.status.service_state for s in outside} == {"entering_service"}
    engine.devices[0].inputs.grid_frequency_hz = 60.0
    waiting = run(engine, DELAY_S)
    assert {s.metrics.power_kw for s in waiting} == {0.0}
    ramp = run(engine, RAMP_S + 2 * TICK_S)
    assert [s.metrics.power_kw for s in ramp] == pytest.approx(
        expected_after_delay(w_max, len(ramp))
    )
    states = [s.status.grid_state for s in ramp]
    assert states[: RAMP_TICKS - 1] == ["entering_service"] * (RAMP_TICKS - 1)
    assert set(states[RAMP_TICKS - 1 :]) == {"continuous"}


def test_an_enter_service_during_a_trip_wait_is_the_same_wait(kit: type[Kit]) -> None:
    """A tripped unit that the operator ceases and restarts waits once, not twice."""
    engine, controller, w_max = rig(kit, "--enter_service_delay_s", str(DELAY_S))
    engine.devices[0].inputs.grid_voltage_pu = 1.25
    run(engine, TICK_S)
    engine.devices[0].inputs.grid_voltage_pu = 1.0
    controller.command(CommandRequest(command="cease_to_energize", device=0))
    controller.command(CommandRequest(command="enter_service", device=0))
    waiting = run(engine, DELAY_S)
    assert {s.metrics.power_kw for s in waiting} == {0.0}
    ramp = run(engine, RAMP_S + TICK_S)
    assert [s.metrics.power_kw for s in ramp] == pytest.approx(
        expected_after_delay(w_max, len(ramp))
    )
    assert ramp[-1].status.service_state == "in_service"


def test_the_flag_is_the_default_delay_and_a_reset_restores_it(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "Batt", "--enter_service_delay_s", "42")
    controller = Controller(engine)
    assert controller.grid_support(0).enter_service.es_dly_tms_s == 42.0
    controller.update_grid_support(
        0, GridSupportUpdate.model_validate({"enter_service": {"es_dly_tms_s": 5}})
    )
    assert controller.grid_support(0).enter_service.es_dly_tms_s == 5.0
    controller.update_grid_support(0, GridSupportUpdate.model_validate({"enter_service": None}))
    assert controller.grid_support(0).enter_service.es_dly_tms_s == 42.0
    controller.update_grid_support(0, GridSupportUpdate.model_validate({"category": None}))
    assert controller.grid_support(0).enter_service.es_dly_tms_s == 42.0


def test_the_default_delay_is_the_standards(kit: type[Kit]) -> None:
    """§4.10.2: enter-service delay 300 s by default (configurable 0..600 s)."""
    controller = Controller(kit.make_engine("-d", "Batt"))
    assert controller.grid_support(0).enter_service.es_dly_tms_s == 300.0


@pytest.mark.parametrize("value", ["601", "-1", "soon"])
def test_a_delay_outside_the_function_range_is_refused_at_start(value: str) -> None:
    """703 ``ESDlyTms`` allows 0..600 s (``grid.checks``); the flag is its default."""
    with pytest.raises(ConfigError, match="--enter_service_delay_s"):
        parse_args(["--enter_service_delay_s", value])


def test_the_lazy_generator_draws_what_random_random_draws() -> None:
    """A device's randomized delay comes from ``LazyRandom(seed)``: the draws of
    ``random.Random(seed)``, the generator made only when the first draw is asked for."""
    lazy = LazyRandom("7:3:grid")
    assert lazy._rng is None
    reference = random.Random("7:3:grid")
    assert [lazy.uniform(0.0, 300.0) for _ in range(5)] == [
        reference.uniform(0.0, 300.0) for _ in range(5)
    ]
