"""Quiet devices (``engine.core``, "Quiet devices"): a fleet's devices whose tick repeats itself
step together as arrays. Here an engine with them and one without run the same scripted day
side by side, through the operator's own ``Controller``: limits, setpoints, a power factor,
commands, faults, grid-support settings, a grid event, voltage and frequency steps, a trip and
its re-entry, an unbalanced grid. Every tick both must publish the same bytes and hold the same
rows and device state, and the quiet path must have carried most of the device-ticks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from dersim_trio.api.controls import CommandRequest, ControlsUpdate
from dersim_trio.api.grid_events import GridEventRequest
from dersim_trio.api.grid_support import GridSupportUpdate
from dersim_trio.api.inputs import InputsUpdate
from dersim_trio.api.wire import SnapshotError
from dersim_trio.engine.core import Engine
from dersim_trio.physics.base import FleetStep
from dersim_trio.service.build import build_engine
from dersim_trio.service.operator import Controller
from dersim_trio.setup.config import parse_args

START = datetime(2026, 6, 21, 9, 0, tzinfo=UTC)
N = 6
TICKS = 160

Op = Callable[[Controller], object]


def controls(device: int, **fields: Any) -> Op:
    return lambda c: c.update_controls(device, ControlsUpdate.model_validate(fields))


def inputs(device: int | None, **fields: Any) -> Op:
    return lambda c: c.update_inputs(device, InputsUpdate.model_validate(fields))


def command(name: str, device: int | None) -> Op:
    return lambda c: c.command(CommandRequest.model_validate({"command": name, "device": device}))


def grid_support(device: int | None, **fields: Any) -> Op:
    return lambda c: c.update_grid_support(device, GridSupportUpdate.model_validate(fields))


def grid_event(body: dict[str, Any]) -> Op:
    return lambda c: c.start_grid_event(GridEventRequest.model_validate(body))


SCRIPT: dict[int, list[Op]] = {
    4: [controls(1, active_power_limit_pct=50.0), controls(2, active_power_setpoint_kw=3.0)],
    9: [controls(1, active_power_limit_pct=None), controls(2, active_power_setpoint_kw=None)],
    12: [inputs(3, grid_frequency_hz=60.6)],
    18: [inputs(3, grid_frequency_hz=60.0)],
    22: [lambda c: c.inject_fault(4, "grid_disconnect")],
    26: [lambda c: c.clear_fault(4), command("reset", 4)],
    30: [command("stop", 0)],
    34: [command("start", 0)],
    40: [grid_support(5, volt_var={"enabled": True})],
    48: [grid_support(5, volt_var={"enabled": False})],
    52: [inputs(2, grid_voltage_pu=1.07)],
    56: [inputs(None, grid_voltage_pu=[1.0, 1.02, 0.97])],
    60: [inputs(None, grid_voltage_pu=1.0)],
    64: [controls(3, power_factor=0.95, revert_after_s=300.0)],
    70: [
        grid_event(
            {"device": 1, "voltage": [{"t_s": 0.0, "v_pu": 0.85}, {"t_s": 90.0, "v_pu": 1.0}]},
        )
    ],
    76: [inputs(4, grid_voltage_pu=0.3)],
    80: [inputs(4, grid_voltage_pu=1.0)],
    86: [lambda c: c.end_grid_event()],
    90: [command("cease_to_energize", 2)],
    96: [command("enter_service", 2)],
    100: [inputs(0, irradiance_w_m2=350.0), controls(5, ramp_rate_pct_per_s=5.0)],
    110: [inputs(0, irradiance_w_m2=None), controls(5, ramp_rate_pct_per_s=None)],
    120: [grid_support(None, constant_pf={"enabled": True, "pf_w_inj": 0.95})],
    130: [grid_support(None, constant_pf={"enabled": False})],
    # a fleet curtailed (PV) or dispatched (battery) and held there, with zeros of both signs
    134: [controls(k, active_power_limit_pct=70.0) for k in range(N)]
    + [controls(k, active_power_setpoint_kw=-3.0 + k) for k in range(N)],
    140: [
        controls(0, active_power_setpoint_kw=0.0),
        controls(1, active_power_setpoint_kw=-0.0),
        controls(2, active_power_limit_pct=0.0),
        controls(3, active_power_limit_pct=-0.0),
    ],
    146: [controls(1, active_power_setpoint_kw=0.0), controls(3, active_power_limit_pct=0.0)],
    152: [
        controls(k, active_power_limit_pct=None, active_power_setpoint_kw=None) for k in range(N)
    ],
}


def _engine(device_type: str, quiet: bool) -> Engine:
    # 30 simulated seconds per tick: the trip's re-entry (300 s wait, 300 s ramp) fits the run
    args = ["-d", device_type, "-N", str(N), "--seed", "11", "--start_clock_time", "09:00:00"]
    args += ["--periodic_time", "1.5", "--time_scale", "20"]
    engine = build_engine(parse_args(args), START)
    engine.quiet = quiet
    return engine


def _apply(op: Op, controller: Controller) -> str:
    try:
        return repr(op(controller))
    except Exception as error:  # a refusal: both engines must refuse alike
        return f"{type(error).__name__}: {error}"


def _same_numbers(a: object, b: object) -> bool:
    """Equal, with floats compared by their bits (-0.0 is not 0.0)."""
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex() if not math.isnan(a) else math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_numbers, a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("device_type", ["PV-3Phase", "PV-1Phase", "Batt-3Phase"])
def test_quiet_devices_tick_as_every_device_does(device_type: str) -> None:
    quiet, plain = _engine(device_type, True), _engine(device_type, False)
    assert quiet.initial().payloads == plain.initial().payloads
    by_quiet, by_plain = Controller(quiet), Controller(plain)
    quiet_ticks = 0
    for tick in range(1, TICKS + 1):
        for op in SCRIPT.get(tick, []):
            assert _apply(op, by_quiet) == _apply(op, by_plain), f"tick {tick}"
        quiet_ticks += sum(slot.quiet is not None for slot in quiet.devices)
        _step_alike(quiet, plain, f"tick {tick}")
    # most device-ticks went the quiet way, and the script sent devices the full way too
    assert TICKS * N // 2 < quiet_ticks < TICKS * N


def _step_alike(quiet: Engine, plain: Engine, where: str) -> None:
    """One tick of both engines: the same bytes, rows (to the bit) and device state."""
    a, b = quiet.step(), plain.step()
    assert a.payloads == b.payloads, where
    for row_a, row_b in zip(a.rows, b.rows, strict=True):
        assert _same_numbers(row_a, row_b), f"{where}, device {row_a['device_index']}"
    for x, y in zip(quiet.devices, plain.devices, strict=True):
        at = f"{where}, device {x.index}"
        assert x.last_output == y.last_output, at
        assert x.energy == y.energy, at
        sx, sy = x.supervisor, y.supervisor
        assert sx.last_active_power_kw.hex() == sy.last_active_power_kw.hex(), at
        assert sx.last_inverter_state == sy.last_inverter_state, at
        assert sx.operation == sy.operation, at
    assert all(slot.quiet is None for slot in plain.devices)


def _skewed(engine: Engine, factor: list[float], offset: list[float]) -> None:
    """Make the fleet's model deliver P·factor + offset per row (the grid's window and the
    dispatch's cap then bind, as they do for a model that overshoots)."""
    fleet = engine.devices[0].model.fleet  # type: ignore[attr-defined]
    original = fleet.step_columns

    def skewed(rows: Any, *args: Any) -> FleetStep:
        step: FleetStep = original(rows, *args)
        ac = step.ac_power_kw * np.array(factor) + np.array(offset)
        return dataclasses.replace(step, ac_power_kw=ac)

    fleet.step_columns = skewed


@pytest.mark.parametrize("limit_pct", [None, 60.0])
def test_the_quiet_arithmetic_where_the_cap_and_the_window_bind(limit_pct: float | None) -> None:
    """Outputs beyond the dispatch's cap (the grid's active power limit at 60 %), above the
    rating, below zero for a unit that cannot absorb (DC scaled by -0.0), and NaN: both ways
    give the same bits, and the same refusal for the NaN."""
    quiet, plain = _engine("PV-3Phase", True), _engine("PV-3Phase", False)
    for engine in (quiet, plain):
        engine.initial()
        if limit_pct is not None:
            Controller(engine).update_grid_support(
                None,
                GridSupportUpdate.model_validate(
                    {"active_power_limit": {"enabled": True, "w_max_lim_pct": limit_pct}}
                ),
            )
    for tick in range(12):  # the limit ramps in, then everything settles
        _step_alike(quiet, plain, f"settling tick {tick}")
    assert all(slot.quiet is not None for slot in quiet.devices)
    if limit_pct is not None:
        assert all(slot.supervisor.p_cap_kw < math.inf for slot in quiet.devices)
    factor = [1.0, 1.5, 3.0, 1.0, 0.0, -0.0]
    offset = [0.0, 0.0, 0.0, 1e-9, -2.0, -0.0]  # the last row: P = -0.0
    for engine in (quiet, plain):
        _skewed(engine, factor, offset)
    for tick in range(3):
        _step_alike(quiet, plain, f"skewed tick {tick}")
    assert sum(slot.quiet is not None for slot in quiet.devices) >= 4
    for engine in (quiet, plain):
        _skewed(engine, [1.0, 1.0, math.nan, 1.0, 1.0, 1.0], [0.0] * N)
    with pytest.raises(SnapshotError) as by_quiet:
        quiet.step()
    with pytest.raises(SnapshotError) as by_plain:
        plain.step()
    assert str(by_quiet.value) == str(by_plain.value)


def test_a_quiet_device_turns_back_at_once_when_its_operator_acts() -> None:
    """A quiet device stays quiet on its own; a limit set between two ticks applies at the very
    next tick (the device goes the full way and turns quiet again holding the new limit), and
    while a ramp moves it the device is not quiet."""
    engine = _engine("PV-3Phase", True)
    engine.initial()
    for _ in range(3):
        engine.step()
    assert all(slot.quiet is not None for slot in engine.devices)
    before = engine.devices[1].quiet
    assert before is not None
    power = engine.step().rows[1]["metrics"]["power_kw"]
    controller = Controller(engine)
    controller.update_controls(1, ControlsUpdate(active_power_limit_pct=10.0))
    after = engine.step()
    w_max = engine.devices[1].model.rating.w_max_kw
    assert after.rows[1]["metrics"]["power_kw"] <= 0.1 * w_max + 1e-9 < power
    quiet = engine.devices[1].quiet
    assert quiet is not None
    assert quiet is not before
    assert quiet.limit_pct == 10.0
    assert all(slot.quiet is before for i, slot in enumerate(engine.devices) if i != 1)
    controller.update_controls(
        1, ControlsUpdate(ramp_rate_pct_per_s=1.0, active_power_limit_pct=90)
    )
    for _ in range(3):
        engine.step()
        assert engine.devices[1].quiet is None  # ramping up: every tick the full way
