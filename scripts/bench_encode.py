#!/usr/bin/env python3
"""Wire-encoding cost: µs per snapshot of ``engine.core.encode`` (the plain form, rounded to
every field's resolution, then JSON) against encoding the snapshot model unrounded.

CPU time of this process (``time.process_time``). For each device type, --devices devices are
stepped --ticks times at noon and the last tick's snapshots are encoded --number times by each
method, the methods taking turns within each of --repeat rounds (so a load change on the
machine hits all alike); the best round is kept.
It reports both costs and their parts: ``model_dump()``, the rounding of the plain form, and
pydantic-core's ``to_json`` of the rounded form.

Usage: python scripts/bench_encode.py [--devices 20] [--ticks 30] [--number 200] [--repeat 5]
       [--types T1,T2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic_core import to_json

from dersim_trio.api.schema import Snapshot, round_snapshot_payload
from dersim_trio.engine.core import encode
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import parse_args

TYPES = [
    "PV-3Phase",
    "Batt-3Phase",
    "Wind-T3-3Phase",
    "Fuelcell-3Phase",
    "HybridDC-3Phase",
    "EVSE",
]
START = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


def snapshots_of(device_type: str, devices: int, ticks: int) -> list[Snapshot]:
    flags = ["-d", device_type, "-N", str(devices), "--start_date", "2026-06-21"]
    engine = build_engine(parse_args([*flags, "--start_clock_time", "12:00:00"]), START)
    last: list[Snapshot] = []
    for _ in range(ticks):
        last = engine.step()
    return last


def per_snapshot_us(work: Callable[[Snapshot], object], snaps: list[Snapshot], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        for snap in snaps:
            work(snap)
    return (time.process_time() - start) / (n * len(snaps)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--number", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--types", default=",".join(TYPES))
    args = parser.parse_args()
    names = [
        "unrounded model to_json",
        "encode (rounded)",
        "model_dump",
        "model_dump + rounding",
        "to_json of plain form",
    ]
    print(f"{'device type':<18}" + "".join(f"{name:>25}" for name in names))
    for device_type in args.types.split(","):
        snaps = snapshots_of(device_type, args.devices, args.ticks)
        dumps = {id(s): round_snapshot_payload(s.model_dump()) for s in snaps}

        def plain_to_json(snap: Snapshot, dumps: dict[int, dict[str, object]] = dumps) -> bytes:
            return to_json(dumps[id(snap)])

        methods: list[Callable[[Snapshot], object]] = [
            lambda s: s.__pydantic_serializer__.to_json(s),
            encode,
            lambda s: s.model_dump(),
            lambda s: round_snapshot_payload(s.model_dump()),
            plain_to_json,
        ]
        best = [float("inf")] * len(methods)
        for _ in range(args.repeat):
            for i, work in enumerate(methods):
                best[i] = min(best[i], per_snapshot_us(work, snaps, args.number))
        print(f"{device_type:<18}" + "".join(f"{us:>25.1f}" for us in best))


if __name__ == "__main__":
    main()
