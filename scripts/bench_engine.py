#!/usr/bin/env python3
"""Engine cost benchmark: µs per device-tick for every asset type, a 1,000-device mixed tick,
and how long a simulated day of one device takes in fast-forward.

What it measures (CPU time of this process, ``time.process_time``; best of --repeat runs):

* per type: an engine of --devices devices of one type is stepped --ticks times at a 1.5 s tick;
  the cost per device-tick includes the physics step, the AC relations, building the snapshot
  row, checking the tick's rows against the schema (``api.wire``) and encoding them to JSON
  (everything the tick loop does per device);
* mixed: 1,000 devices, the canonical types in turn, one tick = one ``Engine.step`` plus encoding
  of all snapshots (target: ≤ 50 ms on the project machine);
* the garbage collector is handled as the service handles it (``service.manage_gc``: the heap
  built at start-up, the engine included, is frozen once, and the gen-0 threshold holds a tick's
  containers for the engine's device count), so the numbers are the tick loop's;
* day: one device stepped through 24 simulated hours at a 1.5 s tick (57,600 ticks), with
  encoding (target: ≤ 10 s per device type);
* grid support (IEEE 1547): the 1,000-device mixed tick without grid support (every device's
  ``supervisor.grid`` removed), with the start defaults (trips, enter service, frequency droop),
  and with every function enabled (trips, enter service, frequency droop, volt-watt, the active
  power limit at 90 %, and one reactive mode per device in turn: volt-var with the autonomous
  V_ref, watt-var, constant PF 0.95, constant Q 20 %), all on a grid held at 1.03 pu and 60 Hz
  (volt-var on its slope, below volt-watt's knee); and the same with the voltage ramping under a
  grid event (every device recomputes every tick). The engines are stepped in turn, round after
  round; the table gives each variant's median and best round and the median of the per-round
  ratios to ``none``, so a load change on the machine hits all of them alike (target: every
  function enabled ≤ 25 % above none).
* grid support in instructions (``--instructions``): the same variants, each in its own process
  under valgrind's callgrind (``--callgrind-out-file=/dev/null``), counting the instructions
  executed; each variant runs twice, with 0 and with 6 measured ticks after the same build and
  5 warm-up ticks (``PYTHONHASHSEED=0``, seeded devices, no address-space randomisation through
  ``setarch -R`` where it exists), so the difference over 6 is one tick's instruction count,
  whatever else shares the machine. Needs ``valgrind`` (Debian package ``valgrind``); takes
  about two minutes per variant.

Usage: python scripts/bench_engine.py [--ticks 200] [--devices 100] [--repeat 3] [--json FILE]
       [--types T1,T2] [--skip-mixed] [--skip-day] [--grid-rounds 8] [--only-grid]
       [--instructions [--grid-variants none,all]]

On a busy machine compare two checkouts by running this script for both at the same time
(``PYTHONPATH=<checkout>/src``), with ``--types`` and ``--skip-mixed --skip-day`` to keep it short:
both runs then share the same interference, and their ratio is what a change costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from dersim_trio.engine.clock import SimClock
from dersim_trio.engine.core import DeviceSlot, Engine
from dersim_trio.grid.events import GridEvent, series
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
    manage_gc(fast_path=True, device_count=len(engine.devices))
    return engine


def run_ticks(engine: Engine, ticks: int) -> float:
    """CPU seconds for ``ticks`` engine steps including JSON encoding."""
    t0 = time.process_time()
    for _ in range(ticks):
        engine.step().payloads  # noqa: B018 (the property encodes every device's row)
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


REACTIVE_MODES = ("volt_var", "watt_var", "constant_pf", "constant_q")
GRID_VARIANTS = ("none", "defaults", "all", "all, moving grid")
VARIANT_KEYS = dict(zip(("none", "defaults", "all", "moving"), GRID_VARIANTS, strict=True))
"""``--grid-variants`` names of ``GRID_VARIANTS``."""


def with_grid(engine: Engine, variant: str) -> Engine:
    """``engine`` set up for one grid-support variant (see the module docstring)."""
    for i, slot in enumerate(engine.devices):
        slot.inputs.grid_voltage_pu = 1.03
        gs = slot.supervisor.grid
        if variant == "none" or gs is None:
            slot.supervisor.grid = None
            continue
        if variant == "defaults":
            continue
        s = gs.settings
        mode = REACTIVE_MODES[i % len(REACTIVE_MODES)]
        gs.settings = dataclasses.replace(
            s,
            volt_var=dataclasses.replace(
                s.volt_var, enabled=mode == "volt_var", v_ref_auto_ena=True
            ),
            watt_var=dataclasses.replace(s.watt_var, enabled=mode == "watt_var"),
            constant_pf=dataclasses.replace(
                s.constant_pf, enabled=mode == "constant_pf", pf_w_inj=0.95
            ),
            constant_q=dataclasses.replace(
                s.constant_q, enabled=mode == "constant_q", var_set_pct=20.0
            ),
            volt_watt=dataclasses.replace(s.volt_watt, enabled=True),
            active_power_limit=dataclasses.replace(
                s.active_power_limit, enabled=True, w_max_lim_pct=90.0
            ),
        )
    if variant == "all, moving grid":  # 1.03 → 1.05 pu over a simulated day
        engine.grid_event = GridEvent(0.0, voltage=series([(0.0, 1.03), (86_400.0, 1.05)]))
    return engine


def grid_support_cost(rounds: int, ticks: int = 2) -> dict[str, dict[str, float]]:
    """Best and median ms per 1,000-device tick of every ``GRID_VARIANTS`` entry, stepped in
    turn, and the median over rounds of each round's ratio to ``none`` (the ratio of two
    engines measured back to back, which a load change between rounds does not skew)."""
    engines = {v: with_grid(mixed_engine(1000), v) for v in GRID_VARIANTS}
    manage_gc(fast_path=True, device_count=1000)  # each engine's, as one service's
    for engine in engines.values():
        run_ticks(engine, 5)  # warm up; the lags settle
    samples: dict[str, list[float]] = {v: [] for v in engines}
    for _ in range(rounds):
        for variant, engine in engines.items():
            samples[variant].append(run_ticks(engine, ticks) / ticks * 1000)
    return {
        v: {
            "best_ms": min(ms),
            "median_ms": statistics.median(ms),
            "median_ratio_to_none": statistics.median(
                m / n for m, n in zip(ms, samples["none"], strict=True)
            ),
        }
        for v, ms in samples.items()
    }


INSTRUCTION_TICKS = 6


def instructions_child(variant: str, ticks: int) -> None:
    """Build ``variant``'s engine, warm it up and step it ``ticks`` times (run under callgrind)."""
    engine = with_grid(mixed_engine(1000), variant)
    manage_gc(fast_path=True, device_count=1000)
    run_ticks(engine, 5)
    run_ticks(engine, ticks)


def callgrind_instructions(variant: str, ticks: int) -> int:
    """Instructions executed by ``instructions_child(variant, ticks)`` in a fresh process."""
    # without address-space randomisation: object addresses, and with them the order of
    # identity-hashed sets and dicts, are the same in every run
    no_aslr = ["setarch", platform.machine(), "-R"] if shutil.which("setarch") else []
    command = [
        *no_aslr,
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--instructions-child",
        f"{variant}:{ticks}",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, timeout=1800
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr[-500:]}")
    return int(found.group(1))


def grid_support_instructions(variants: Sequence[str]) -> dict[str, dict[str, float]]:
    """Instructions per 1,000-device tick of each of ``variants`` (``none`` first) and the
    ratio to ``none`` (see the module docstring)."""
    per_tick: dict[str, float] = {}
    for variant in variants:
        base = callgrind_instructions(variant, 0)
        more = callgrind_instructions(variant, INSTRUCTION_TICKS)
        per_tick[variant] = (more - base) / INSTRUCTION_TICKS
    return {
        v: {"instructions_per_tick": n, "ratio_to_none": n / per_tick["none"]}
        for v, n in per_tick.items()
    }


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
    parser.add_argument("--grid-rounds", type=int, default=8)
    parser.add_argument("--only-grid", action="store_true")
    parser.add_argument(
        "--instructions", action="store_true", help="grid support in instructions (callgrind)"
    )
    parser.add_argument(
        "--grid-variants",
        default=",".join(VARIANT_KEYS),
        help="with --instructions: the variants to count (none, defaults, all, moving: all, "
        "moving grid), comma-separated, none first",
    )
    parser.add_argument("--instructions-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions_child is not None:
        variant, _, ticks = args.instructions_child.rpartition(":")
        instructions_child(variant, int(ticks))
        return 0
    results: dict[str, object] = {"python": sys.version.split()[0]}
    if args.instructions:
        if shutil.which("valgrind") is None:
            parser.error("--instructions: needs valgrind (Debian package valgrind)")
        keys = [k for k in args.grid_variants.split(",") if k]
        if keys[:1] != ["none"] or not set(keys) <= set(VARIANT_KEYS):
            parser.error(f"--grid-variants: none first, then any of {', '.join(VARIANT_KEYS)}")
        counted = grid_support_instructions([VARIANT_KEYS[k] for k in keys])
        results["grid_support_mixed_1000_tick_instructions"] = counted
        print("| 1,000 mixed devices, grid support | instructions per tick | vs none |")
        print("|---|---|---|")
        for variant, r in counted.items():
            print(
                f"| {variant} | {r['instructions_per_tick'] / 1e6:,.1f} M "
                f"| {100 * (r['ratio_to_none'] - 1):+.2f} % |"
            )
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(results, fh, indent=2)
        return 0

    types = [t for t in args.types.split(",") if t]
    unknown = sorted(set(types) - set(TYPES))
    if unknown:
        parser.error(f"--types: unknown {', '.join(unknown)}; known: {', '.join(TYPES)}")

    grid = grid_support_cost(args.grid_rounds)
    results["grid_support_mixed_1000_tick_ms"] = grid
    print(
        f"| 1,000 mixed devices, grid support ({args.grid_rounds} rounds) "
        "| median ms per tick | best ms | vs none (median of per-round ratios) |"
    )
    print("|---|---|---|---|")
    for variant, r in grid.items():
        print(
            f"| {variant} | {r['median_ms']:.1f} | {r['best_ms']:.1f} "
            f"| {100 * (r['median_ratio_to_none'] - 1):+.1f} % |"
        )
    print()
    if args.only_grid:
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(results, fh, indent=2)
        return 0

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
        manage_gc(fast_path=True, device_count=1000)  # as run_service does after start-up
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
