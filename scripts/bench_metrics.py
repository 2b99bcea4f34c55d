#!/usr/bin/env python3
"""What ``GET /metrics`` costs the service: per tick, and per scrape.

* per tick: ``ServiceMetrics.observe_tick`` (the two histogram observations the tick loop
  makes; everything else is read at scrape time), µs per call, best of --repeat runs of 10,000;
* per scrape: ``generate_latest`` of the process's registry (the fleet sums over the last
  tick's snapshots, the hub's counters, the histograms, the process collector) for fleets of
  each --devices size, ms, best of --repeat. A scrape runs on the trio thread between ticks, so
  this is how long one scrape holds the tick loop up.

Usage: python scripts/bench_metrics.py [--devices 1000,10000,100000] [--repeat 5] [-d PV]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from functools import partial

import trio
from prometheus_client import generate_latest

from dersim_trio.engine.core import encode
from dersim_trio.service.run import ServiceParts
from dersim_trio.setup.config import parse_args

WALL = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


def best(fn: object, repeat: int, calls: int = 1) -> float:
    """Best seconds per call of ``fn`` over ``repeat`` runs of ``calls`` calls."""
    assert callable(fn)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return min(times)


async def measure(device_type: str, sizes: list[int], repeat: int) -> None:
    for n in sizes:
        start = ["--start_date", "2026-06-21", "--start_clock_time", "12:00:00"]
        config = parse_args(["-d", device_type, "-N", str(n), *start])
        parts = ServiceParts.assemble(config, WALL, trio.current_time())
        snapshots = parts.engine.initial()
        parts.hub.publish(0, [encode(s) for s in snapshots])
        parts.latest.observe(snapshots)
        metrics = parts.metrics
        observe = best(partial(metrics.observe_tick, 0.02, 0.001), repeat, 10_000)
        registry = metrics.registry
        fleet = metrics.fleet
        # a scrape after each tick: the fleet sums are computed again (the worst case)
        scrape = best(lambda: (fleet.forget(), generate_latest(registry)), repeat)  # noqa: B023
        size = len(generate_latest(registry))
        print(
            f"{device_type} x {n:>6}: observe_tick {observe * 1e6:6.2f} µs/tick, "
            f"scrape {scrape * 1e3:8.2f} ms ({size} bytes)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("-d", "--device_type", default="PV")
    args = parser.parse_args()
    sizes = [int(s) for s in args.devices.split(",")]
    trio.run(measure, args.device_type, sizes, args.repeat)


if __name__ == "__main__":
    main()
