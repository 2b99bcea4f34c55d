#!/usr/bin/env python3
"""Step 50 wind turbines of one type in their seeded stochastic wind, for counting instructions.

Runs on any checkout since d1213e7 (both wind-model constructors). On a shared machine timings
scatter; instruction counts do not. Count with callgrind at two tick counts and subtract, so
that imports and construction cancel:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python scripts/bench_wind_step.py T3 40   # and with 0 ticks

(instructions per ``model.step`` = difference / (50 · 40)).

Usage: python scripts/bench_wind_step.py T3|T4 TICKS
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from dersim_trio.physics import wind
from dersim_trio.physics.base import Dispatch, Environment


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("T3", "T4"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    ticks = int(sys.argv[2])
    plate = wind.nrel_5mw_nameplate() if sys.argv[1] == "T3" else wind.iea_15mw_nameplate()
    model_class: Any = wind.WindModel
    try:
        from dersim_trio.setup.rotor_tables import rotor_performance
    except ImportError:  # the tree before the rotor tables: the analytic C_p
        models = [model_class(plate, seed=seed) for seed in range(50)]
    else:
        rotor = rotor_performance(plate.rotor_table)
        models = [model_class(plate, rotor, seed) for seed in range(50)]
    env = Environment(sim_time=datetime(2026, 6, 21, 6, 0, tzinfo=UTC))
    dispatch = Dispatch()
    for _ in range(ticks + 1):  # the first tick warm-starts
        for model in models:
            model.step(env, dispatch, 1.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
