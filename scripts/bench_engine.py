#!/usr/bin/env python3
"""Engine cost benchmark: µs per device-tick for every asset type, a 1,000-device mixed tick,
and how long a simulated day of one device takes in fast-forward.

What it measures (CPU time of this process, ``time.process_time``; best of --repeat runs):

* per type: an engine of --devices devices of one type is stepped --ticks times at a 1.5 s tick;
  the cost per device-tick includes the physics step, the AC relations, building and validating
  the pydantic ``Snapshot`` and encoding it to JSON (everything the tick loop does per device);
* mixed: 1,000 devices, the canonical types in turn, one tick = one ``Engine.step`` plus encoding
  of all snapshots (target: ≤ 50 ms on the project machine);
* the garbage collector is handled as the service handles it (``service.manage_gc``: the heap
  built at start-up, the engine included, is frozen once), so the numbers are the tick loop's;
* day: one device stepped through 24 simulated hours at a 1.5 s tick (57,600 ticks), with
  encoding (target: ≤ 10 s per device type).

Usage: python scripts/bench_engine.py [--ticks 200] [--devices 100] [--repeat 3] [--json FILE]
       [--types T1,T2] [--skip-mixed] [--skip-day]

On a busy machine compare two checkouts by running this script for both at the same time
(``PYTHONPATH=<checkout>/src``), with ``--types`` and ``--skip-mixed --skip-day`` to keep it short:
both runs then share the same interference, and their ratio is what a change costs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from dersim_trio.engine.clock import SimClock
from dersim_trio.engine.core import DeviceSlot, Engine, encode
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


def make_engine(device_type: str, devices: int) -> Engine:
    """An engine of ``devices`` devices of one type on a 1.5 s tick starting 06:00, 21 June."""
    config = parse_args(
        [
            "-d",
            device_type,
            "-N",
            str(devices),
            "--start_date",
            "2026-06-21",
            "--start_clock_time",
            "06:00:00",
        ]
    )
    engine = build_engine(config, START)
    if device_type in ("Batt-3Phase", "Fuelcell-3Phase"):
        from dersim_trio.physics.base import Dispatch

        for i, slot in enumerate(engine.devices):  # keep them working, alternating direction
            slot.dispatch = Dispatch(active_power_setpoint_kw=(2.0 if i % 2 else -2.0))
    return engine


def frozen(engine: Engine) -> Engine:
    """Freeze the heap with ``engine`` in it, as the service does after start-up."""
    manage_gc(fast_path=True)
    return engine


def run_ticks(engine: Engine, ticks: int) -> float:
    """CPU seconds for ``ticks`` engine steps including JSON encoding."""
    t0 = time.process_time()
    for _ in range(ticks):
        for snapshot in engine.step():
            encode(snapshot)
    return time.process_time() - t0


def mixed_engine(devices: int) -> Engine:
    """``devices`` devices cycling through every type, in one engine."""
    per_type = {t: make_engine(t, devices // len(TYPES) + 1) for t in TYPES}
    slots: list[DeviceSlot] = []
    for i in range(devices):
        source = per_type[TYPES[i % len(TYPES)]].devices[i // len(TYPES)]
        source.index = i
        slots.append(source)
    clock = SimClock(start=START, sim_seconds_per_tick=1.5)
    return Engine(slots, clock, "mixed")


def main() -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-day", action="store_true")
    parser.add_argument("--skip-mixed", action="store_true")
    parser.add_argument("--types", default=",".join(TYPES), help="comma-separated device types")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results: dict[str, object] = {"python": sys.version.split()[0]}

    types = [t for t in args.types.split(",") if t]
    unknown = sorted(set(types) - set(TYPES))
    if unknown:
        parser.error(f"--types: unknown {', '.join(unknown)}; known: {', '.join(TYPES)}")
    rows = []
    for device_type in types:
        best = min(
            run_ticks(frozen(make_engine(device_type, args.devices)), args.ticks)
            for _ in range(args.repeat)
        )
        us = best / (args.ticks * args.devices) * 1e6
        rows.append((device_type, us))
    results["per_device_tick_us"] = dict(rows)

    best_mixed = None
    if not args.skip_mixed:
        mixed = mixed_engine(1000)
        manage_gc(fast_path=True)  # as run_service does once after start-up
        run_ticks(mixed, 5)  # warm up
        best_mixed = min(run_ticks(mixed, 20) / 20 for _ in range(args.repeat))
        results["mixed_1000_tick_ms"] = best_mixed * 1000

    day_rows = []
    if not args.skip_day:
        for device_type in types:
            engine = frozen(make_engine(device_type, 1))
            day_rows.append((device_type, run_ticks(engine, 57_600)))
        results["simulated_day_s"] = dict(day_rows)

    print("| device type | µs per device-tick | simulated day, 1 device (s) |")
    print("|---|---|---|")
    days = dict(day_rows)
    for device_type, us in rows:
        day = f"{days[device_type]:.2f}" if device_type in days else "-"
        print(f"| {device_type} | {us:.1f} | {day} |")
    if best_mixed is not None:
        print(f"\n1,000 mixed devices: {best_mixed * 1000:.1f} ms per tick (target ≤ 50 ms)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
