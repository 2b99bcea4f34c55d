"""A user's harness, type-checked by ``mypy --strict`` in ``test_client.py`` (never run).

It uses the public API the way the README shows; if a public name lost its annotations (or
``py.typed`` went missing) strict mode would reject this file.
"""

from __future__ import annotations

import random

import pytest
import trio

from dersim_trio.client import (
    ApiError,
    Backoff,
    Burst,
    DersimClient,
    Gap,
    Snapshot,
    TelemetryStatistics,
    open_telemetry,
)
from dersim_trio.testing import SimulatorHandle, run_simulator


async def harness(url: str) -> float:
    gaps: list[Gap] = []
    async with DersimClient(url, token=None, timeout_s=5.0) as api:
        info = await api.server_info()
        try:
            await api.set_inputs(0, wind_speed_m_s=12.0)
        except ApiError as exc:
            print(exc.status, exc.error, [f.field for f in exc.fields])
        burst: Burst = await api.burst(None, "rotor_speed_rpm", seconds=3.0)
        settled: bool = burst.settled(within=0.1, last=5)
        backoff = Backoff(initial_s=0.2, max_s=2.0, max_attempts=5)
        async with open_telemetry(
            url, device=0, backoff=backoff, rng=random.Random(1), on_gap=gaps.append
        ) as stream:
            snapshot: Snapshot = await stream.receive()
            stats: TelemetryStatistics = stream.statistics()
            print(info.device_count, settled, stats.missed_ticks, snapshot.tick)
            async for snap in stream:
                return snap.metrics.power_kw + sum(g.missed_ticks for g in gaps)
    return 0.0


@pytest.mark.dersim("-d", "Batt")
async def test_like_a_user(dersim: SimulatorHandle) -> None:
    async with dersim.client() as api:
        history = await api.history(seconds=60)
        print(history.count)
    tick: int = await dersim.wait_ticks(2)
    async with run_simulator("-d", "PV") as other:
        print(tick, other.http_url)


if __name__ == "__main__":
    print(trio.run(harness, "http://127.0.0.1:8111"))
