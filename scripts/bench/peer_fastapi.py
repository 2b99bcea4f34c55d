#!/usr/bin/env python3
"""peer_fastapi.py: the telemetry contract on FastAPI + uvicorn, the usual Python peer.

asyncio with uvicorn's best ordinary settings (uvloop, httptools, no access log, backlog 4096);
``_peer.py`` has the contract and the payload. Each WebSocket client gets an
``asyncio.Queue(maxsize=1)`` (a newer tick replaces the one waiting: drop-oldest), one task
sending from it and one reading and discarding client frames. The load generator offers no
permessage-deflate, so no compression cost is measured.

Usage (``scripts/bench_fanout.py --servers fastapi`` runs it):

    python scripts/bench/peer_fastapi.py --port 18111 --devices 1 --period 1.0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
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
from fastapi import FastAPI, Response, WebSocket

Item = tuple[str, ...]


class Hub:
    """The latest tick's payloads and every subscriber's queue (with its device filter)."""

    def __init__(self, devices: int, period_s: float) -> None:
        self.devices = devices
        self.period_s = period_s
        self.tick = 0
        self.json: tuple[bytes, ...] = ()
        self.text: Item = ()
        self.subscribers: dict[asyncio.Queue[Item], int | None] = {}
        self.build()

    def build(self) -> None:
        self.json = encode_tick(self.tick, self.devices, self.period_s)
        self.text = tuple(j.decode() for j in self.json)

    def item_for(self, device: int | None) -> Item:
        return self.text if device is None else (self.text[device],)

    def publish(self) -> None:
        for queue, device in self.subscribers.items():
            if queue.full():
                queue.get_nowait()  # drop the oldest
            queue.put_nowait(self.item_for(device))

    async def tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += self.period_s
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            self.tick += 1
            self.build()
            self.publish()


def create_app(hub: Hub) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(hub.tick_loop())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get(OVERVIEW_PATH)
    async def overview(device: str = "0") -> Response:
        try:
            index = parse_device(device, hub.devices) or 0
        except ValueError:
            return Response(BAD_DEVICE_BODY, status_code=400, media_type="application/json")
        return Response(hub.json[index], media_type="application/json")

    async def telemetry(ws: WebSocket) -> None:
        await ws.accept()
        try:
            device = parse_device(ws.query_params.get("device"), hub.devices)
        except ValueError:
            await ws.close(1008, device_refusal(hub.devices))
            return
        queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=1)

        async def send() -> None:
            for payload in hub.item_for(device):  # the cached snapshot(s) first
                await ws.send_text(payload)
            while True:
                for payload in await queue.get():
                    await ws.send_text(payload)

        async def discard_client_frames() -> None:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass

        hub.subscribers[queue] = device
        tasks = [asyncio.create_task(send()), asyncio.create_task(discard_client_frames())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            del hub.subscribers[queue]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    for path in WS_PATHS:
        app.add_api_websocket_route(path, telemetry)
    return app


def main() -> None:
    p: argparse.ArgumentParser = parser(__doc__.splitlines()[1] if __doc__ else "")
    args = p.parse_args()
    prepare_process(args.gc_gen0)
    uvicorn.run(
        create_app(Hub(args.devices, args.period)),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
