"""``dersim-trio fleet --mqtt`` as a real process tree against a real Mosquitto: a killed shard
reads ``offline`` at once (its last will), and its restart brings it back ``online`` with its
devices' telemetry from fresh state. Bounded by ``trio.fail_after``; waits on messages and on
the supervisor's ``/fleet``."""

from __future__ import annotations

import json
import os
import signal

import httpx
import pytest
import trio
from mqtt_support import Broker, TestClient

from helpers import fleet_command, running, summary_of, wait_serving

PROCESS_GUARD_S = 240.0
"""Real seconds for a fleet of shard processes to start (twice) on a loaded 2-core machine."""
FLEET = "t"
TICKS_BEFORE_KILL = 10


@pytest.mark.slow
async def test_a_killed_shard_reads_offline_then_online_again_with_fresh_devices(
    broker: Broker,
) -> None:
    flags = ("--shards", "2", "-d", "Batt", "-N", "4", "--periodic_time", "0.2")
    async with (
        running(*fleet_command(*flags, "--mqtt", broker.url, "--fleet", FLEET)) as output,
        httpx.AsyncClient(timeout=10) as http,
        TestClient(broker.port) as sub,
    ):
        with trio.fail_after(PROCESS_GUARD_S):
            status = f"dersim/{FLEET}/process/2/status"  # shard 1: devices 2..3
            telemetry = f"dersim/{FLEET}/2/telemetry"
            await sub.subscribe(status, telemetry, f"dersim/{FLEET}/+/status")
            summary_port, _ = await summary_of(output, http)
            fleet = await wait_serving(http, summary_port)
            victim = fleet["shards"][1]
            assert victim["first_device"] == 2
            tick = -1
            while tick < TICKS_BEFORE_KILL:  # (the statuses so far are skipped)
                tick = json.loads((await sub.receive(telemetry)).payload)["tick"]

            os.kill(victim["pid"], signal.SIGKILL)
            assert (await sub.receive(status)).payload == b"offline"
            published: dict[str, bytes] = {}  # written since, not retained from before
            fresh: int | None = None
            while fresh is None or len(published) < 3:
                message = await sub.receive()
                if message.topic == telemetry:
                    now = json.loads(message.payload)["tick"]
                    if now < tick:  # the shard's tick count started again
                        fresh = now
                    tick = now
                elif not message.retain:
                    published[message.topic] = message.payload
            assert published == {
                status: b"online",
                f"dersim/{FLEET}/2/status": b"online",
                f"dersim/{FLEET}/3/status": b"online",
            }
            assert fresh < TICKS_BEFORE_KILL
            fleet = await wait_serving(http, summary_port, restarts=1)
            assert fleet["shards"][1]["pid"] != victim["pid"]
            assert fleet["shards"][0]["restarts"] == 0
