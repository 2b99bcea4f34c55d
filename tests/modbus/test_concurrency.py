"""Many clients at once: eight pysunspec2 clients polling model 701 read whole ticks, in order,
while other clients misbehave (garbage, a frame cut off, a stalled frame, an idle connection,
a client that never reads its answers); none of them disturbs the pollers or the tick loop.

Real clock (pysunspec2 is blocking and runs in worker threads), a 50 ms tick at 60× time, so
each tick adds about 7 Wh to the energy counter: the counter names the tick a read came from,
and every other value of that read must be that tick's (a value from another tick is a torn
read). Every tick's snapshot is recorded by a hub listener, called before any read can see it.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from typing import Any

import pytest
import sunspec2.modbus.client as sunspec_client
import trio

from dersim_trio.service.hub import TickPayload
from dersim_trio.testing import run_simulator

POLLERS = 8
WINDOW_S = 20.0
GUARD_S = 120.0
FLAGS = (
    "-d",
    "PV",
    "--periodic_time",
    "0.05",
    "--time_scale",
    "60",
    "--modbus_port",
    "0",
    "--modbus_idle_timeout_s",
    "2",
)

Sample = tuple[int, int, int, int, int]
"""Raw W, VA, Var, Hz, TotWhInj of one read (their scale factors stay fixed)."""


def raw_of(snapshot: dict[str, Any]) -> Sample:
    """What a read of this tick must return (W_SF = VA_SF = Var_SF = 0, Hz_SF −3, Wh)."""
    m = snapshot["metrics"]
    return (
        round(m["power_kw"] * 1000.0),
        round(m["apparent_power_kva"] * 1000.0),
        round(m["reactive_power_kvar"] * 1000.0),
        round(m["frequency_hz"] * 1000.0),
        round(snapshot["energy"]["injected_kwh"] * 1000.0),
    )


def poll(port: int, stop: threading.Event) -> list[Sample]:
    """Read model 701 over one connection until ``stop`` (pysunspec2 reads it in two requests)."""
    client = sunspec_client.SunSpecModbusClientDeviceTCP(
        ipaddr="127.0.0.1", ipport=port, timeout=10
    )
    samples: list[Sample] = []
    try:
        client.scan(connect=False)
        m = client.models[701][0]
        assert (m.W_SF.value, m.VA_SF.value, m.Var_SF.value, m.Hz_SF.value) == (0, 0, 0, -3)
        client.connect()
        while not stop.is_set():
            m.read()
            samples.append((m.W.value, m.VA.value, m.Var.value, m.Hz.value, m.TotWhInj.value))
    finally:
        client.disconnect()
    return samples


async def closed_by_server(stream: trio.SocketStream) -> None:
    """Read until the server ends the connection (EOF or reset)."""
    try:
        while await stream.receive_some(65536):
            pass
    except trio.BrokenResourceError:
        pass


READ_701 = struct.pack(">HHHBBHH", 1, 0, 6, 1, 3, 40070, 120)


async def misbehave(port: int, kind: str) -> str:
    """One misbehaving client; returns once the server closed it."""
    with trio.fail_after(GUARD_S):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            if kind == "garbage":
                await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            elif kind == "cut off":
                await stream.send_all(READ_701[:5])
                return kind  # leaves in the middle of a frame
            elif kind == "stalled frame":
                await stream.send_all(READ_701[:9])
            elif kind == "never reads":
                stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                with trio.move_on_after(WINDOW_S / 2):
                    while True:
                        await stream.send_all(READ_701 * 64)
            await closed_by_server(stream)
    return kind


@pytest.mark.slow
async def test_pollers_read_whole_ticks_in_order_beside_misbehaving_clients() -> None:
    async with run_simulator(*FLAGS) as sim:
        port = sim.modbus_ports[0]
        ticks: dict[int, Sample] = {}

        def record(payload: TickPayload) -> None:
            sample = raw_of(json.loads(payload.data[0]))
            ticks[sample[4]] = sample

        sim.hub.add_listener(record)
        first_tick = sim.hub.last.tick
        stop = threading.Event()
        results: list[list[Sample]] = []
        closed: list[str] = []

        async def poller() -> None:
            results.append(await trio.to_thread.run_sync(poll, port, stop))

        async def bad(kind: str) -> None:
            closed.append(await misbehave(port, kind))

        with trio.fail_after(GUARD_S):
            async with trio.open_nursery() as nursery:
                for _ in range(POLLERS):
                    nursery.start_soon(poller)
                for kind in ("garbage", "cut off", "stalled frame", "idle", "never reads"):
                    nursery.start_soon(bad, kind)
                await trio.sleep(WINDOW_S)  # the polling window
                stop.set()
        assert sorted(closed) == sorted(
            ["garbage", "cut off", "stalled frame", "idle", "never reads"]
        )
        assert sim.hub.last.tick > first_tick + 10  # the tick loop kept ticking
        assert len(results) == POLLERS
        for samples in results:
            assert samples, "a poller read nothing"
            energy = [s[4] for s in samples]
            assert energy == sorted(energy), "a read went back in time"
            for sample in samples:
                assert sample == ticks[sample[4]], "values of two ticks in one read"
