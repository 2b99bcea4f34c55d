"""MQTT delivery under a stalled broker: the outgoing queue drops the oldest telemetry and never
a reply, the tick goes on, and ``/metrics`` counts it all as it happens.

The simulator reaches Mosquitto through a ``StallingProxy`` that stops reading what the
simulator writes while the broker's messages still reach it: the simulator's socket fills, its
writes block, and requests still arrive. Every wait is for a message or a counter, bounded by
``trio.fail_after``; none is a fixed sleep.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio
from mqtt_support import Broker, StallingProxy, TestClient
from prometheus_client.parser import text_string_to_metric_families

from dersim_trio.protocols.mqtt.link import OutMessage
from helpers import wait_until

LIMIT_S = 60.0
FLEET = "t"
DEVICES = 200
REQUESTS = 5


def scrape(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("dersim_mqtt_")
    }


async def test_a_stalled_broker_costs_the_oldest_telemetry_never_a_reply_nor_a_tick(
    broker: Broker, start_service: Callable[..., Any], nursery: trio.Nursery
) -> None:
    proxy = StallingProxy(broker.port)
    with trio.fail_after(LIMIT_S):
        await nursery.start(proxy.serve)
        svc = await start_service(
            "-d", "PV", "-N", str(DEVICES), "--periodic_time", "0.1",
            "--mqtt", f"mqtt://127.0.0.1:{proxy.port}", "--fleet", FLEET,
        )  # fmt: skip
        telemetry = f"dersim/{FLEET}/0/telemetry"
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            metrics_url = f"{svc.http_url}/metrics"
            await client.subscribe(f"dersim/{FLEET}/process/0/status")
            assert (await client.receive()).payload == b"online"
            await client.subscribe(telemetry, "harness/replies/#")
            await client.receive(telemetry)
            before = scrape((await http.get(metrics_url)).text)

            proxy.hold()
            stalled_at = svc.hub.last.tick
            dropped = before["dersim_mqtt_messages_dropped_total"]  # a start can cost a tick
            # the queue holds one tick: whole ticks are dropped once the socket is full
            await wait_until(
                lambda: svc.mqtt.statistics().dropped >= dropped + 2 * DEVICES, within=LIMIT_S
            )
            for i in range(REQUESTS):  # they reach the simulator; their replies wait
                client.publish(
                    f"dersim/{FLEET}/{i}/set/controls",
                    b'{"active_power_limit_pct": %d}' % (50 + i),
                    response_topic="harness/replies/a",
                    correlation_data=b"%d" % i,
                )
            await wait_until(lambda: svc.mqtt.statistics().commands == REQUESTS, within=LIMIT_S)
            ticks = svc.hub.statistics().ticks_published
            for _ in range(3):  # the tick never waits for the broker
                await svc.hub.wait_published()
            assert svc.hub.statistics().ticks_published == ticks + 3
            stats = svc.mqtt.statistics()
            assert stats.connected
            assert stats.queued >= REQUESTS  # the replies, never dropped, and one tick at most
            assert stats.queued <= REQUESTS + DEVICES
            during = scrape((await http.get(metrics_url)).text)
            assert (
                during["dersim_mqtt_commands_total"]
                == before["dersim_mqtt_commands_total"] + REQUESTS
            )
            assert during["dersim_mqtt_messages_dropped_total"] >= dropped + 2 * DEVICES
            assert during["dersim_mqtt_connected"] == 1
            assert during["dersim_mqtt_queue_messages"] >= REQUESTS

            release_tick = svc.hub.last.tick
            proxy.release()
            replies = {}
            received: list[int] = []
            while len(replies) < REQUESTS or not received or received[-1] < release_tick:
                message = await client.receive()
                if message.topic == telemetry:
                    received.append(json.loads(message.payload)["tick"])
                else:
                    assert message.correlation_data not in replies
                    replies[message.correlation_data] = json.loads(message.payload)
            assert sorted(replies) == [b"%d" % i for i in range(REQUESTS)]
            for i in range(REQUESTS):
                reply = replies[b"%d" % i]
                assert reply["status"] == 200
                assert reply["body"]["active_power_limit_pct"] == 50 + i
            # in order: what paho and the socket held when the stall began (older ticks, already
            # written), then straight the newest: the queue kept the last tick, and the ticks
            # between were dropped
            assert received == sorted(received)
            resumed = next(k for k, tick in enumerate(received) if tick >= release_tick)
            assert stalled_at < received[resumed - 1] < release_tick - 1
            await wait_until(lambda: svc.mqtt.statistics().queued <= DEVICES, within=LIMIT_S)
            after = scrape((await http.get(metrics_url)).text)
            assert (
                after["dersim_mqtt_messages_published_total"]
                > during["dersim_mqtt_messages_published_total"]
            )
            assert after["dersim_mqtt_reconnects_total"] == 0  # held, never disconnected
            assert after["dersim_mqtt_outages_total"] == 0


async def test_a_message_paho_refuses_never_ends_the_publisher(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service(
            "-N", "1", "--periodic_time", "0.2", "--mqtt", broker.url, "--fleet", FLEET
        )
        async with TestClient(broker.port) as client:
            await client.subscribe(f"dersim/{FLEET}/0/telemetry", "after/refused")
            await client.receive(f"dersim/{FLEET}/0/telemetry")
            svc.mqtt.link.send(OutMessage("no/#/topic", b"{}"))
            svc.mqtt.link.send(OutMessage("after/refused", b"sent"))
            assert (await client.receive("after/refused")).payload == b"sent"
            tick = svc.hub.last.tick
            while json.loads((await client.receive()).payload)["tick"] <= tick:
                pass


async def test_a_broker_that_comes_up_later_is_connected_to_and_the_wait_is_one_outage(
    tmp_path: Path, nursery: trio.Nursery, start_service: Callable[..., Any]
) -> None:
    late = Broker(tmp_path, nursery)  # its port chosen, nothing listening on it yet
    with trio.fail_after(LIMIT_S):
        svc = await start_service(
            "-N", "1", "--periodic_time", "0.2", "--mqtt", late.url, "--fleet", FLEET
        )
        await wait_until(lambda: svc.mqtt.statistics().outages == 1, within=LIMIT_S)
        first = svc.hub.last.tick
        while svc.hub.last.tick < first + 3:  # the ticks go on without a broker
            await svc.hub.wait_published()
        assert not svc.mqtt.statistics().connected
        await late.start()
        try:
            async with TestClient(late.port) as client:
                await client.subscribe(f"dersim/{FLEET}/0/telemetry")
                await client.receive()
            stats = svc.mqtt.statistics()
            assert stats.connected
            assert (stats.outages, stats.reconnects) == (1, 0)  # the first connection
        finally:
            svc.request_shutdown()
            await svc.done.wait()
            await late.stop()
