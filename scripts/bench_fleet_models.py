#!/usr/bin/env python3
"""The vectorized device models alone: CPU per device-step and memory per device.

For each vectorized type (PV: ``physics.pv.PvFleet``; battery: ``physics.battery.BatteryFleet``)
and each fleet size N of --sizes, a fleet of N default devices (seeds 0..N-1, one shared
``SolarSite``, 1.5 s steps from 09:00 on 21 June; batteries alternate ±40 % of their rating so
every row runs the converter) is stepped --steps times through ``step_rows`` over all rows, the
way the engine steps it, with the environment and dispatch lists built beforehand. Reported:

* ``us_per_device``: CPU time (``time.process_time``) per device-step, best of --repeat, of the
  whole ``step_rows`` call (the compiled chain and the ``DeviceOutput`` objects it returns);
* ``us_alone``: one device stepped alone through its model's ``step`` (a fleet of one), per
  step, best of --repeat over 2,000 steps;
* ``bytes_per_device``: memory the fleet holds per device after its construction and one step
  (``tracemalloc``: its arrays, the row views and the nameplate objects), without the engine's
  per-device slots, controls and grid support;
* ``engine_bytes_per_device`` (``--engine``): the whole engine of a run, ``build_engine`` for
  ``-d TYPE -N N`` plus its first tick's rows, per device (``tracemalloc``, history not
  included: it is a fixed budget, ``service/history.py``).

The collector is set as the service sets it for a run of N devices (``service.run.manage_gc``:
the start-up heap frozen, the gen-0 threshold holding a tick's containers), so a step runs no
collection. The first step of each fleet is a warm-up outside the timing (it evaluates the
site's day of sky, and on a machine without numba's cache compiles the chain once, a few
seconds).

Usage: python scripts/bench_fleet_models.py [--sizes 1000,10000,100000] [--steps 20]
       [--repeat 3] [--types pv,battery] [--engine] [--json FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dersim_trio.physics.base import DeviceModel, Dispatch, Environment
from dersim_trio.physics.solar import SolarSite
from dersim_trio.service.run import manage_gc

START = datetime(2026, 6, 21, 9, 0, tzinfo=UTC)
TICK_S = 1.5


def _pv(n: int) -> tuple[Any, Sequence[DeviceModel]]:
    from dersim_trio.physics.pv import PvFleet, PvNameplate

    fleet = PvFleet([PvNameplate()] * n, list(range(n)), site=SolarSite())
    return fleet, fleet.members()


def _battery(n: int) -> tuple[Any, Sequence[DeviceModel]]:
    from dersim_trio.physics.battery import BatteryFleet, BatteryNameplate

    fleet = BatteryFleet([BatteryNameplate()] * n, list(range(n)))
    return fleet, fleet.members()


BUILDERS: dict[str, Callable[[int], tuple[Any, Sequence[DeviceModel]]]] = {
    "pv": _pv,
    "battery": _battery,
}


def _dispatches(kind: str, n: int) -> list[Dispatch]:
    if kind == "battery":
        return [Dispatch(active_power_setpoint_kw=4.0 if k % 2 else -4.0) for k in range(n)]
    return [Dispatch()] * n


def fleet_cost(kind: str, n: int, steps: int, repeat: int) -> dict[str, float]:
    """µs per device-step through ``step_rows`` and bytes per device of a fleet of ``n``."""
    gc.collect()
    tracemalloc.start()
    fleet, members = BUILDERS[kind](n)
    dispatches = _dispatches(kind, n)
    rows = range(n)
    envs = [Environment(sim_time=START)] * n
    fleet.step_rows(rows, envs, dispatches, TICK_S)  # warm-up: the day of sky, the compiled code
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    manage_gc(fast_path=True, device_count=n)
    best = float("inf")
    when = START
    for _ in range(repeat):
        ticks = []
        for _ in range(steps):
            when += timedelta(seconds=TICK_S)
            ticks.append([Environment(sim_time=when)] * n)
        t0 = time.process_time()
        for tick_envs in ticks:
            fleet.step_rows(rows, tick_envs, dispatches, TICK_S)
        best = min(best, (time.process_time() - t0) / (steps * n))
    del members
    return {"us_per_device": best * 1e6, "bytes_per_device": held / n}


def alone_cost(kind: str, repeat: int, steps: int = 2000) -> float:
    """µs per step of one device stepped alone (a fleet of one, through ``step``)."""
    _, members = BUILDERS[kind](1)
    model = members[0]
    dispatch = _dispatches(kind, 1)[0]
    model.step(Environment(sim_time=START), dispatch, TICK_S)
    best = float("inf")
    when = START
    for _ in range(repeat):
        envs = []
        for _ in range(steps):
            when += timedelta(seconds=TICK_S)
            envs.append(Environment(sim_time=when))
        t0 = time.process_time()
        for env in envs:
            model.step(env, dispatch, TICK_S)
        best = min(best, (time.process_time() - t0) / steps)
    return best * 1e6


ENGINE_TYPES = {"pv": "PV-3Phase", "battery": "Batt-3Phase"}


def engine_memory(kind: str, n: int) -> float:
    """Bytes per device of a run's engine and its first tick (``build_engine``, ``initial``)."""
    from dersim_trio.service.build import build_engine
    from dersim_trio.setup.config import parse_args

    config = parse_args(["-d", ENGINE_TYPES[kind], "-N", str(n), "--start_date", "2026-06-21"])
    gc.collect()
    tracemalloc.start()
    engine = build_engine(config, START)
    first = engine.initial()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del engine, first
    return held / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--types", default=",".join(BUILDERS))
    parser.add_argument("--engine", action="store_true", help="also the whole engine's memory")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    print(
        "| type | devices | µs per device-step | bytes per device | µs alone (one device) "
        "| engine bytes per device |"
    )
    print("|---|---|---|---|---|---|")
    for kind in args.types.split(","):
        alone = alone_cost(kind, args.repeat)
        for n in sizes:
            cost = fleet_cost(kind, n, args.steps, args.repeat)
            row = {"type": kind, "devices": n, "us_alone": alone, **cost}
            engine = "-"
            if args.engine:
                row["engine_bytes_per_device"] = engine_memory(kind, n)
                engine = f"{row['engine_bytes_per_device']:,.0f}"
            results.append(row)
            print(
                f"| {kind} | {n:,} | {cost['us_per_device']:.2f} | "
                f"{cost['bytes_per_device']:,.0f} | {alone:.1f} | {engine} |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
