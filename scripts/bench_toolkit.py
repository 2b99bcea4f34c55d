#!/usr/bin/env python3
"""Toolkit costs: a simulated hour through the in-process simulator, and the log buffer.

* ``dersim_trio.testing.run_simulator`` (the ``dersim`` fixture's engine) on trio's ``MockClock``
  with autojump, like a user's test: wall and CPU time for one simulated hour (2,400 ticks at
  the default 1.5 s period, default PV device, everything the service does per tick: engine,
  control layer, validation, JSON, hub, history);
* the log buffer's handler: CPU per record for 100,000 records (buffer capacity 5,000).

Usage: python scripts/bench_toolkit.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import time

import trio
import trio.testing

from dersim_trio.service.logbuffer import LogBuffer, LogBufferHandler
from dersim_trio.testing import run_simulator

HOUR_S = 3600.0


async def _one_hour() -> tuple[float, float, int]:
    async with run_simulator() as sim:
        first = sim.engine.tick
        cpu, wall = time.process_time(), time.perf_counter()
        await sim.advance(HOUR_S + 0.4)
        ticks = sim.engine.tick - first
        return time.process_time() - cpu, time.perf_counter() - wall, ticks


def simulated_hour() -> tuple[float, float, int]:
    """(CPU s, wall s, ticks) for one simulated hour under MockClock."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(_one_hour, clock=clock)


def log_flood(records: int = 100_000) -> float:
    """CPU µs per record handled by the log buffer's handler."""
    handler = LogBufferHandler(LogBuffer())
    batch = [
        logging.LogRecord("dersim_trio.DC", logging.DEBUG, __file__, 1, "sample %d", (k,), None)
        for k in range(records)
    ]
    started = time.process_time()
    for record in batch:
        handler.handle(record)
    return (time.process_time() - started) / records * 1e6


def main() -> int:
    """Run both measurements and print the best of --repeat runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    hours = [simulated_hour() for _ in range(args.repeat)]
    cpu, wall, ticks = min(hours, key=lambda h: h[1])
    print(f"simulated hour ({ticks} ticks) under MockClock: {wall:.3f} s wall, {cpu:.3f} s CPU")
    flood = min(log_flood() for _ in range(args.repeat))
    print(f"log buffer handler: {flood:.2f} µs CPU per record (100,000 records)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
