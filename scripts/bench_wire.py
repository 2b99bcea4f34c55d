#!/usr/bin/env python3
"""Snapshot check and encoding: what publishing one tick of 1,000 mixed devices costs, per way.

The rows are those of a real tick (``scripts/bench_engine.py``'s mixed engine, one step). Every
way is run in turn, round after round, and each keeps its best round (CPU time of this process),
so a load change on a shared machine hits all of them alike:

* ``pydantic validate`` / ``pydantic model to_json``: the per-device path the engine used before
  ``api.wire``: the asset validated as its type's model, the ``Snapshot`` validated, the model
  encoded by its own serializer;
* ``bulk check``: ``api.wire.check_rows`` over the tick's rows;
* ``pydantic_core.to_json(row)``: the encoder ``api.wire`` uses;
* ``rounded copy``: the rounded copy of each row that is encoded (the row itself keeps full
  precision), by ``resolution.payload_rounder`` (one pass over the declared fields, the path
  ``api.wire`` uses) and by ``copy_payload`` then ``round_payload`` (every key walked);
* ``a tick's payloads``: every device's published bytes from a tick whose rows are not built,
  the way ``TickSnapshots.payloads`` makes them (the numbers rounded a column at a time, the
  rows built from the rounded columns), against building each row, then its rounded copy, then
  encoding it (``encode_row``: the way before);
* ``msgspec`` / ``orjson`` on the same rows, when installed (they are not dependencies: this
  script is where the choice between them is measured).

``--fleet TYPE`` measures a fleet of one type instead (``dersim-trio -d TYPE -N devices`` at
noon, stepped until its devices repeat their ticks: a PV or battery fleet's quiet devices,
``engine.core``), whose tick keeps its asset column as the fleet's table.

Usage: python scripts/bench_wire.py [--devices 1000] [--rounds 30] [--fleet PV]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic_core import to_json

from dersim_trio.api.resolution import copy_payload, round_payload
from dersim_trio.api.schema import round_snapshot_payload
from dersim_trio.api.wire import (
    _encoded_from_columns,
    check_rows,
    encode_row,
    row_of_record,
    snapshot_of,
)
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import parse_args

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import mixed_engine


def main() -> int:
    """Print one markdown table row per way: ms per tick and µs per device."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--fleet", default=None, help="one device type (-d) instead of mixed")
    args = parser.parse_args()
    if args.fleet is None:
        engine = mixed_engine(args.devices)
        label = f"{args.devices:,} mixed devices"
    else:
        flags = ["-d", args.fleet, "-N", str(args.devices), "--start_clock_time", "12:00:00"]
        engine = build_engine(parse_args(flags), datetime(2026, 6, 21, 12, tzinfo=UTC))
        engine.initial()
        for _ in range(3):
            engine.step()
        label = f"{args.devices:,} devices, -d {args.fleet}"
    engine.step()
    tick = engine.step()  # its rows are never built: the columns way reads its columns
    assert tick.common is not None
    assert tick._columns is not None
    common, columns = tick.common, tick._columns
    plain = [c.tolist() if isinstance(c, np.ndarray) else c for c in columns]  # what rows hold
    rows = engine.step().rows
    models = [snapshot_of(row) for row in rows]
    fresh = copy.deepcopy(rows)
    ways: dict[str, Callable[[], object]] = {
        "pydantic validate (per device)": lambda: [snapshot_of(r) for r in rows],
        "pydantic model to_json (per device)": lambda: [
            m.__pydantic_serializer__.to_json(m) for m in models
        ],
        "bulk check (api.wire.check_rows)": lambda: check_rows(fresh),
        "pydantic_core.to_json(row)": lambda: [to_json(r) for r in rows],
        "rounded copy, every key walked (copy_payload, round_payload)": lambda: [
            round_payload(copy_payload(r)) for r in rows
        ],
        "rounded copy (payload_rounder)": lambda: [round_snapshot_payload(r) for r in rows],
        "a tick's payloads, from its columns (TickSnapshots.payloads)": lambda: list(
            _encoded_from_columns(common, columns)
        ),
        "a tick's payloads, row by row (build, round, encode_row)": lambda: [
            encode_row(row_of_record(common.values(), record))
            for record in zip(*plain, strict=True)
        ],
    }
    for name in ("msgspec", "orjson"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            print(f"({name} not installed: skipped)")
            continue
        if name == "msgspec":
            encoder = module.json.Encoder()
            ways["msgspec Encoder.encode(row)"] = lambda enc=encoder: [enc.encode(r) for r in rows]
        else:
            dumps = module.dumps
            ways["orjson.dumps(row)"] = lambda dumps=dumps: [dumps(r) for r in rows]
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(args.rounds):
        for name, way in ways.items():
            t0 = time.process_time()
            way()
            best[name] = min(best[name], time.process_time() - t0)
    print(f"| {label} | ms per tick | µs per device |")
    print("|---|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / args.devices * 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
