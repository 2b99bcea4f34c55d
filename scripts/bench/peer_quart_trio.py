#!/usr/bin/env python3
"""peer_quart_trio.py: the telemetry contract on quart-trio + hypercorn, the plain way.

The shape the trio stack suggests (``_peer.py`` has the contract and the payload): a nursery
runs the tick loop beside ``hypercorn.trio.serve``; each WebSocket client is one quart handler
with a size-1 trio memory channel it drains (a newer tick replaces the one waiting: drop-oldest)
and one task that reads and discards client frames; every message goes through quart's
``websocket.send``, hypercorn's ASGI send and wsproto. ``TCP_USER_TIMEOUT`` (10 s) on the
listening socket, inherited by accepted ones, so a stalled client cannot pin its handler
forever. ``--gc-gen0 100000`` sets the collector as dersim-trio's quart route does.

Usage (``scripts/bench_fanout.py --servers quart-trio,quart-trio-gc100k`` runs it):

    python scripts/bench/peer_quart_trio.py --port 18111 --devices 1 --period 1.0 [--gc-gen0 N]
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys

import trio
from _peer import (
    BAD_DEVICE_BODY,
    OVERVIEW_PATH,
    WS_PATHS,
    device_refusal,
    encode_tick,
    parse_device,
    parser,
    prepare_process,
)
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request, websocket
from quart_trio import QuartTrio

TCP_USER_TIMEOUT_MS = 10_000

Item = tuple[str, ...]


class Hub:
    """The latest tick's payloads and every subscriber's channel (with its device filter)."""

    def __init__(self, devices: int, period_s: float) -> None:
        self.devices = devices
        self.period_s = period_s
        self.tick = 0
        self.json: tuple[bytes, ...] = ()
        self.text: Item = ()
        self.subscribers: dict[
            trio.MemorySendChannel[Item], tuple[trio.MemoryReceiveChannel[Item], int | None]
        ] = {}
        self.build()

    def build(self) -> None:
        self.json = encode_tick(self.tick, self.devices, self.period_s)
        self.text = tuple(j.decode() for j in self.json)

    def item_for(self, device: int | None) -> Item:
        return self.text if device is None else (self.text[device],)

    def publish(self) -> None:
        for send, (receive, device) in list(self.subscribers.items()):
            item = self.item_for(device)
            try:
                send.send_nowait(item)
            except trio.WouldBlock:
                with contextlib.suppress(trio.WouldBlock):
                    receive.receive_nowait()  # drop the oldest
                send.send_nowait(item)

    async def tick_loop(self) -> None:
        deadline = trio.current_time()
        while True:
            deadline += self.period_s
            await trio.sleep_until(deadline)
            self.tick += 1
            self.build()
            self.publish()


def create_app(hub: Hub) -> QuartTrio:
    app = QuartTrio(__name__)

    @app.route(OVERVIEW_PATH)
    async def overview() -> Response:
        try:
            device = parse_device(request.args.get("device", "0"), hub.devices) or 0
        except ValueError:
            return Response(BAD_DEVICE_BODY, status=400, content_type="application/json")
        return Response(hub.json[device], content_type="application/json")

    async def discard_client_frames() -> None:
        while True:
            await websocket.receive()

    async def telemetry() -> None:
        await websocket.accept()
        try:
            device = parse_device(websocket.args.get("device"), hub.devices)
        except ValueError:
            await websocket.close(1008, device_refusal(hub.devices))
            return
        send, receive = trio.open_memory_channel[Item](1)
        hub.subscribers[send] = (receive, device)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(discard_client_frames)
                for payload in hub.item_for(device):  # the cached snapshot(s) first
                    await websocket.send(payload)
                async for item in receive:
                    for payload in item:
                        await websocket.send(payload)
        finally:
            del hub.subscribers[send]

    for i, path in enumerate(WS_PATHS):
        app.websocket(path, endpoint=f"telemetry_{i}")(telemetry)
    return app


async def main() -> None:
    args = parser(__doc__.splitlines()[1] if __doc__ else "").parse_args()
    prepare_process(args.gc_gen0)
    hub = Hub(args.devices, args.period)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, TCP_USER_TIMEOUT_MS)
    listener.bind((args.host, args.port))
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]
    config.backlog = 4096
    config.accesslog = None
    config.loglevel = "WARNING"
    stop = trio.Event()

    async def stop_on_signal() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                stop.set()
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hub.tick_loop)
        nursery.start_soon(stop_on_signal)
        print(
            f"peer_quart_trio serving on http://{args.host}:{args.port}",
            file=sys.stderr,
            flush=True,
        )
        await serve(create_app(hub), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
