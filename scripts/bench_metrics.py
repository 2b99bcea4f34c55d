#!/usr/bin/env python3
"""What ``GET /metrics`` costs the service: per tick, and per scrape.

* per tick: ``ServiceMetrics.observe_tick`` (the two histogram observations the tick loop
  makes; everything else is read at scrape time), µs per call, best of --repeat runs of 10,000;
* per scrape, for fleets of each --devices size, ms, best of --repeat: the fleet sums (one pass
  over the last tick's snapshots; in a worker thread from ``THREAD_SUM_MIN_DEVICES`` devices on)
  and the rest of ``generate_latest`` (the hub's counters, the histograms, the process
  collector), which runs on the trio thread between ticks: how long a scrape holds the tick
  loop up. The start-up heap and the first tick are
  frozen out of the garbage collector as the service freezes its start-up heap.

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
from dersim_trio.service.metrics import FleetCollector
from dersim_trio.service.run import ServiceParts, manage_gc
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


def sum_again(fleet: FleetCollector) -> None:
    """One scrape's fleet sums after a tick (nothing kept from an earlier scrape)."""
    fleet.forget()
    fleet.totals()


async def measure(device_type: str, sizes: list[int], repeat: int) -> None:
    for n in sizes:
        start = ["--start_date", "2026-06-21", "--start_clock_time", "12:00:00"]
        config = parse_args(["-d", device_type, "-N", str(n), *start])
        parts = ServiceParts.assemble(config, WALL, trio.current_time())
        snapshots = parts.engine.initial()
        parts.hub.publish(0, [encode(s) for s in snapshots])
        parts.latest.observe(snapshots)
        manage_gc(fast_path=True, device_count=n)  # as the service does after start-up
        metrics = parts.metrics
        observe = best(partial(metrics.observe_tick, 0.02, 0.001), repeat, 10_000)
        fleet = metrics.fleet
        sums = best(partial(sum_again, fleet), repeat)
        pinned = fleet.totals()
        render = best(partial(metrics.render, generate_latest, pinned), repeat)
        where = "worker thread" if metrics.sums_in_thread else "trio thread"
        print(
            f"{device_type} x {n:>6}: observe_tick {observe * 1e6:6.2f} µs/tick, fleet sums "
            f"{sums * 1e3:8.2f} ms ({where}), rest of the scrape {render * 1e3:6.2f} ms "
            "(trio thread)"
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
