#!/usr/bin/env python3
"""bench_mqtt_write.py: the CPU time of writing one large MQTT message, paho's client as it is
against the simulator's (``protocols.mqtt.link._Client``, which queues a large packet as a view).

A Mosquitto of its own (127.0.0.1, a free port) and ``mosquitto_sub`` counting the messages (see
``bench_fleet.py``); each client publishes ``--messages`` messages of each size (QoS 0) one after
the other, each waited for until the subscriber has it. Reported per message: this process's CPU
time (every thread: paho's network loop does the writing, and the wait polls the counter) and
how many ``send`` calls paho made (the pieces the socket took it in).

The default sizes bracket a ``--mqtt_batch`` message: 50,000 PV snapshots (one shard of a
100,000-device fleet in two) are about 72 MB.

Usage (from the repository root, with the project's venv):

    python scripts/bench_mqtt_write.py
    python scripts/bench_mqtt_write.py --sizes 72 --messages 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench_fleet import Counter, broker, wait_for
from dersim_trio.protocols.mqtt.link import _Client


def measure(
    kind: type[paho.Client], port: int, counter: Counter, size: int, messages: int
) -> tuple[float, float]:
    """Median CPU ms and mean ``send`` calls per message."""
    client = kind(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    sends = 0
    write = client._sock_send

    def counting(buf: bytes | bytearray | memoryview) -> int:
        nonlocal sends
        sends += 1
        return write(buf)

    client._sock_send = counting  # type: ignore[method-assign]
    client.connect("127.0.0.1", port)
    client.loop_start()
    payload = bytes(size)
    cpu: list[float] = []
    try:
        wait_for(client.is_connected, 10, "the connection")
        for _ in range(messages):
            before = counter.count
            c0 = time.process_time()
            client.publish("bench/write", payload, qos=0).wait_for_publish(60)
            wait_for(lambda: counter.count > before, 60, "the message")  # noqa: B023
            cpu.append(time.process_time() - c0)
    finally:
        client.disconnect()
        client.loop_stop()
    return statistics.median(cpu) * 1e3, sends / messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1,10,72", help="message sizes in MB (comma list)")
    parser.add_argument("--messages", type=int, default=5, help="messages per size and client")
    args = parser.parse_args()
    sizes = [int(float(s) * 1_000_000) for s in args.sizes.split(",")]
    print("| size | client | CPU ms per message | sends per message |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, broker(Path(tmp)) as (port, _):
        counter = Counter(port, "bench/write")
        try:
            for size in sizes:
                for name, kind in (("paho.Client", paho.Client), ("dersim _Client", _Client)):
                    cpu, sends = measure(kind, port, counter, size, args.messages)
                    print(f"| {size / 1e6:g} MB | {name} | {cpu:.1f} | {sends:.0f} |")
        finally:
            counter.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
