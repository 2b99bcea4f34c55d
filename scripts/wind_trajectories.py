#!/usr/bin/env python3
"""Seeded wind-turbine trajectories as JSON, for checking that a change keeps the model's results.

Runs both bundled turbines (Type III NREL 5-MW, Type IV IEA 15-MW) through a wind sweep
(0 → 30 m/s and back, with curtailment steps and a cut-out), the seeded stochastic wind at
several tick lengths (0.1 s, 1.5 s, 7 s, 45 s), a standstill start and a gusty anemometer
series, and writes every output field of every step. Compare two trees' files with ``--compare``:

    PYTHONPATH=<old checkout>/src .venv/bin/python scripts/wind_trajectories.py /tmp/old.json
    PYTHONPATH=src .venv/bin/python scripts/wind_trajectories.py /tmp/new.json
    .venv/bin/python scripts/wind_trajectories.py --compare /tmp/old.json /tmp/new.json

``--compare`` prints the number of values, how many differ bitwise and the largest relative
difference, and exits 1 if any differs by more than 1e-12 relative (or in a non-numeric field).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from datetime import UTC, datetime
from typing import Any


def trajectories() -> dict[str, list[list[Any]]]:
    """Every scenario's per-step outputs."""
    T0 = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)  # the models ignore the time
    from dersim_trio.physics.base import Dispatch, Environment
    from dersim_trio.physics.wind import WindModel, iea_15mw_nameplate, nrel_5mw_nameplate
    from dersim_trio.setup.rotor_tables import rotor_performance

    def env(wind: float | None, freq: float = 60.0) -> Environment:
        return Environment(sim_time=T0, wind_speed_m_s=wind, grid_frequency_hz=freq)

    def row(out: Any) -> list[Any]:
        asset = out.asset
        return [
            out.ac_power_kw,
            out.dc_power_kw,
            out.dc_voltage_v,
            out.dc_current_a,
            out.inverter_state,
            out.message,
            *(asset[k] for k in sorted(asset)),
        ]

    result: dict[str, list[list[Any]]] = {}
    for name, plate in (("T3", nrel_5mw_nameplate()), ("T4", iea_15mw_nameplate())):
        rotor = rotor_performance(plate.rotor_table)

        # Wind sweep at the anemometer: up to 30 m/s (cut-out) and back, 1.5 s ticks, with
        # curtailment steps on the way.
        model = WindModel(plate, rotor, 1)
        rows = []
        winds = [0.2 * k for k in range(151)] + [30.0 - 0.1 * k for k in range(301)]
        for k, w in enumerate(winds):
            for rep in range(20):
                pct = (100.0, 60.0, 30.0, math.nan)[(k // 37 + rep // 7) % 4]
                out = model.step(env(w), Dispatch(active_power_limit_pct=pct), 1.5)
                rows.append(row(out))
        result[f"{name}-sweep"] = rows

        # Seeded stochastic wind (the environment gives none) at several tick lengths.
        for dt in (0.1, 1.5, 7.0, 45.0):
            model = WindModel(plate, rotor, 7, mean_wind_speed_m_s=9.0, turbulence_intensity=0.15)
            steps = 2000 if dt < 1.0 else 1500 if dt < 10.0 else 400
            result[f"{name}-stochastic-{dt}"] = [
                row(model.step(env(None), Dispatch(), dt)) for _ in range(steps)
            ]

        # Standstill start: calm first, then a steady wind (standby → starting → running).
        model = WindModel(plate, rotor, 3, 4.5)
        rows = [row(model.step(env(1.0), Dispatch(), 1.5)) for _ in range(10)]
        rows += [row(model.step(env(8.0, 59.9), Dispatch(), 1.5)) for _ in range(400)]
        result[f"{name}-start"] = rows

        # Gusty anemometer series from a seeded generator, 1.5 s ticks.
        rng = random.Random(11)
        model = WindModel(plate, rotor, 5)
        rows = []
        w = 8.0
        for _ in range(3000):
            w = min(max(w + 0.02 * (11.0 - w) + rng.gauss(0.0, 0.6), 0.0), 32.0)
            rows.append(row(model.step(env(w), Dispatch(), 1.5)))
        result[f"{name}-gusts"] = rows
    return result


def compare(old_path: str, new_path: str) -> int:
    """Print the differences of two files; 1 if any exceeds 1e-12 relative."""
    with open(old_path) as f:
        old = json.load(f)
    with open(new_path) as f:
        new = json.load(f)
    if old.keys() != new.keys():
        print("scenarios differ")
        return 1
    values = differing = 0
    worst = 0.0
    bad = 0
    for key in old:
        if len(old[key]) != len(new[key]):
            print(f"{key}: step counts differ")
            return 1
        for a_row, b_row in zip(old[key], new[key], strict=True):
            for a, b in zip(a_row, b_row, strict=True):
                values += 1
                if a == b:
                    continue
                differing += 1
                if not (isinstance(a, float) and isinstance(b, float)):
                    bad += 1
                    continue
                rel = abs(a - b) / max(abs(a), abs(b))
                worst = max(worst, rel)
                bad += rel > 1e-12
    print(json.dumps({"values": values, "differing": differing, "max_rel": worst, "bad": bad}))
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        parser.error("give an output file or --compare OLD NEW")
    with open(args.out, "w") as f:
        json.dump(trajectories(), f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
