#!/usr/bin/env python3
"""Physics cost per device type, runnable against any checkout since the layer layout (d1213e7).

For comparing two trees side by side on a busy machine (run both at the same time, with
``PYTHONPATH=<checkout>/src``, and repeat): an engine of --devices devices of one type at a 1.5 s
tick from 06:00 on 21 June, grid support removed from every device (trees before it have none),
one warm-up tick first (a run's ``SolarSite`` evaluates its day of sky on the first tick), then
--ticks ticks with JSON encoding. Prints one JSON line: µs of CPU time (``time.process_time``)
per device-tick, best of --repeat, either inside ``model.step`` only (default) or for the whole
tick (``--whole-tick``). Uses only what both trees have (``build_engine``, ``Engine.step``,
``encode``, ``manage_gc``), so it cannot measure grid support; ``bench_engine.py`` does.

Usage: python scripts/bench_physics_step.py LABEL [--ticks 100] [--devices 50] [--repeat 2]
       [--whole-tick] [--types TYPE ...]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from dersim_trio.engine.core import encode
from dersim_trio.physics.base import Dispatch
from dersim_trio.service.build import build_engine
from dersim_trio.service.run import manage_gc
from dersim_trio.setup.config import parse_args

TYPES = [
    "PV-3Phase",
    "Batt-3Phase",
    "Wind-T3-3Phase",
    "Wind-T4-3Phase",
    "Fuelcell-3Phase",
    "HybridDC-3Phase",
    "EVSE",
]
START = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)
SPENT = [0.0]


class Timed:
    """A device model whose ``step`` adds its CPU time to ``SPENT``."""

    def __init__(self, model: Any) -> None:
        object.__setattr__(self, "_model", model)

    def step(self, env: Any, dispatch: Any, dt_s: float) -> Any:
        t0 = time.process_time()
        out = self._model.step(env, dispatch, dt_s)
        SPENT[0] += time.process_time() - t0
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def make_engine(device_type: str, devices: int, timed: bool) -> Any:
    """The engine of ``bench_engine.py``'s per-type rows, without grid support."""
    args = ["-d", device_type, "-N", str(devices), "--start_date", "2026-06-21"]
    engine = build_engine(parse_args([*args, "--start_clock_time", "06:00:00"]), START)
    for i, slot in enumerate(engine.devices):
        if device_type in ("Batt-3Phase", "Fuelcell-3Phase"):  # working, alternating direction
            slot.dispatch = Dispatch(active_power_setpoint_kw=(2.0 if i % 2 else -2.0))
        if hasattr(slot.supervisor, "grid"):
            slot.supervisor.grid = None
        if timed:
            slot.model = Timed(slot.model)
    manage_gc(fast_path=True, device_count=len(engine.devices))
    return engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("label")
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--whole-tick", action="store_true")
    parser.add_argument("--types", nargs="+", choices=TYPES, default=TYPES)
    args = parser.parse_args()
    result: dict[str, object] = {"label": args.label, "whole_tick": args.whole_tick}
    for device_type in args.types:
        best = float("inf")
        for _ in range(args.repeat):
            engine = make_engine(device_type, args.devices, not args.whole_tick)
            for snapshot in engine.step():  # warm-up tick
                encode(snapshot)
            SPENT[0] = 0.0
            t0 = time.process_time()
            for _ in range(args.ticks):
                for snapshot in engine.step():
                    encode(snapshot)
            spent = time.process_time() - t0 if args.whole_tick else SPENT[0]
            best = min(best, spent)
        result[device_type] = round(best / args.ticks / args.devices * 1e6, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
