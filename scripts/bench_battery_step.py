#!/usr/bin/env python3
"""Battery model cost per device-step, runnable against the scalar model (28d710c) and the fleet.

For comparing the plain-Python ``BatteryModel`` with the ``BatteryFleet`` that replaced it
(``PYTHONPATH=<checkout>/src``). The default 10 kW / 15 kWh unit, 1.5 s steps, requests
alternating +4 / -4 kW (40 % of the rating) so every device runs its converter; the environment
and dispatch lists are built before the timing. Prints one JSON line of CPU time
(``time.process_time``) in µs, best of --repeat:

* ``fleet_us_per_device``: --devices devices stepped once: with ``BatteryFleet``, one
  ``step_rows`` over all rows (as the engine steps a fleet); on the scalar tree, each device's
  ``step`` in turn;
* ``alone_us_per_step``: one ``BatteryModel.step``, over 2,000 steps;
* ``port_us_per_step``: ``advance`` and ``power_limits_kw`` twice, as the hybrid's battery port
  calls them each step, over 2,000 steps.

Usage: python scripts/bench_battery_step.py LABEL [--devices 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from dersim_trio.physics import battery
from dersim_trio.physics.base import Dispatch, Environment

ENV = Environment(sim_time=datetime(2026, 6, 21, 12, 0, tzinfo=UTC))
DISPATCHES = (Dispatch(active_power_setpoint_kw=4.0), Dispatch(active_power_setpoint_kw=-4.0))
TICK_S = 1.5
ALONE_STEPS = 2000


def best_us(run: Callable[[], object], count: int, repeat: int) -> float:
    """Least CPU time of ``repeat`` runs, µs per ``count``."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        run()
        times.append(time.process_time() - t0)
    return round(min(times) / count * 1e6, 3)


def fleet_run(devices: int) -> tuple[str, Callable[[], object]]:
    """The way this tree steps ``devices`` batteries in one tick."""
    plate = battery.BatteryNameplate()
    dispatches = [DISPATCHES[i % 2] for i in range(devices)]
    envs = [ENV] * devices
    fleet_type = getattr(battery, "BatteryFleet", None)
    if fleet_type is not None:
        fleet = fleet_type([plate] * devices, list(range(devices)))
        rows = range(devices)
        return "step_rows", lambda: fleet.step_rows(rows, envs, dispatches, TICK_S)
    models = [battery.BatteryModel(plate, i) for i in range(devices)]

    def each() -> None:
        for model, env, dispatch in zip(models, envs, dispatches, strict=True):
            model.step(env, dispatch, TICK_S)

    return "step each", each


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("label")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    how, run = fleet_run(args.devices)
    run()  # warm-up: loads (or compiles) the machine code where there is some
    fleet_us = best_us(run, args.devices, args.repeat)

    alone = battery.BatteryModel()

    def step_alone() -> None:
        for i in range(ALONE_STEPS):
            alone.step(ENV, DISPATCHES[i % 2], TICK_S)

    port = battery.BatteryModel()

    def port_step() -> None:
        for i in range(ALONE_STEPS):
            port.power_limits_kw(TICK_S)
            port.power_limits_kw(0.0)
            port.advance(4.0 if i % 2 else -4.0, TICK_S)

    step_alone()
    port_step()
    result = {
        "label": args.label,
        "devices": args.devices,
        "fleet_stepped_by": how,
        "fleet_us_per_device": fleet_us,
        "alone_us_per_step": best_us(step_alone, ALONE_STEPS, args.repeat),
        "port_us_per_step": best_us(port_step, ALONE_STEPS, args.repeat),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
