"""The telemetry: ``GET /api/dersim/overview``, ``GET /api/dersim/devices`` and the telemetry
WebSocket (``/api/dersim/ws/telemetry``, alias ``/api/dersim/telemetry/ws``) served by quart.

They only read the hub: the bytes the tick loop published, encoded once per tick. Under the CLI
the front door serves the WebSocket paths itself over HTTP/1.1 (``web/fastpath/``) and answers
every other request for them, so this route serves ``--fast_path no``, HTTP/2 WebSockets and
plain ``hypercorn -k trio``. It bounds client messages as the fast path does (64 KiB, 1009).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio
from quart import Blueprint, Response, request, websocket
from quart_schema import document_querystring, document_response

from dersim_trio.api.common import DeviceQuery, ErrorBody
from dersim_trio.api.schema import Snapshot, SnapshotList
from dersim_trio.service.hub import Hub
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_response
from dersim_trio.web.fastpath.frames import (
    CLOSE_MESSAGE_TOO_BIG,
    MAX_CLIENT_MESSAGE_BYTES,
    MESSAGE_TOO_BIG_REASON,
)
from dersim_trio.web.params import TELEMETRY_PATHS as FULL_TELEMETRY_PATHS
from dersim_trio.web.params import DeviceParamError, device_query, parse_device
from dersim_trio.web.routes import API_PREFIX

log = logging.getLogger("dersim_trio.WS")

TELEMETRY_PATHS = tuple(path.removeprefix(API_PREFIX) for path in FULL_TELEMETRY_PATHS)
"""Under ``API_PREFIX``; the first is the documented one."""


def telemetry_blueprint(hub: Hub) -> Blueprint:
    """The snapshot routes and the telemetry WebSocket over ``hub``."""
    bp = tagged(Blueprint("telemetry", __name__, url_prefix=API_PREFIX), "telemetry")

    @bp.get("/overview")
    @document_querystring(DeviceQuery)
    @document_response(Snapshot, 200)
    @document_response(ErrorBody, 404)
    async def overview() -> Response:
        """The latest snapshot of one device.

        The first device unless ?device= names another (any other value is a 404
        device_not_found saying which indices exist). The same bytes the stream sends.
        """
        device = device_query(request.args.get("device"), hub.devices)
        return json_response(hub.last.payload(hub.position(device)))

    @bp.get("/devices")
    @document_response(SnapshotList, 200)
    async def devices() -> Response:
        """Every device's latest snapshot, in device order.

        One array of the snapshots of the same tick (the bytes the stream sends, joined).
        """
        return json_response(b"[" + b",".join(hub.last.data) + b"]")

    for path in TELEMETRY_PATHS:
        _add_telemetry_route(bp, hub, path)
    return bp


def _add_telemetry_route(bp: Blueprint, hub: Hub, path: str) -> None:
    """Register the telemetry WebSocket at ``path`` (its own view, so OpenAPI ids stay unique)."""
    name = "telemetry" + path.replace("/", "_")

    async def telemetry() -> None:
        """Live telemetry: the last tick's snapshots at once, then one message per device per tick.

        With ?device=N only device N's. A WebSocket cannot answer 404 once upgraded, so a
        ?device= that names no device (anything but an integer in [0, N)) is accepted and then
        closed with code 1008 and a reason saying what is allowed. Each message is one Snapshot
        as JSON in a text frame; a client message over 64 KiB (65,536 bytes) closes with 1009.
        """
        await serve_telemetry(hub, websocket.args.get("device"), _peer())

    telemetry.__name__ = telemetry.__qualname__ = name
    document_querystring(DeviceQuery)(telemetry)
    document_response(Snapshot, 101)(telemetry)
    bp.add_websocket(path, endpoint=name, view_func=telemetry)


def _peer() -> str:
    addr = websocket.remote_addr
    return addr if addr else "unknown"


async def serve_telemetry(hub: Hub, device_raw: str | None, peer: str) -> None:
    """The quart WebSocket route's body: accept, check the filter, stream until either side ends.

    Client frames are drained by a sibling task (hypercorn stops reading a socket whose frames
    pile up unread, and would then miss the disconnect).
    """
    await websocket.accept()
    try:
        device = parse_device(device_raw, hub.devices)
    except DeviceParamError as exc:
        log.info("WebSocket %s rejected: %s", peer, exc)
        await websocket.close(1008, str(exc))
        return
    log.info("WebSocket connect from %s (device=%s)", peer, "all" if device is None else device)
    reason = "client disconnected"
    try:
        with hub.subscribe(device) as sub:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain_client_frames, nursery.cancel_scope, peer)
                slot = sub.slot
                send = websocket.send
                count_sent: Callable[[int], None] = hub.count_sent
                try:
                    while True:
                        item = await slot.receive()
                        messages = item.for_position(sub.position)
                        for message in messages:
                            await send(message)
                        count_sent(len(messages))
                except trio.EndOfChannel:
                    reason = "server shutting down"
                    await websocket.close(1001, "server shutting down")
                nursery.cancel_scope.cancel()
    finally:
        log.info("WebSocket disconnect from %s (%s)", peer, reason)


async def _drain_client_frames(stream_scope: trio.CancelScope, peer: str) -> None:
    """Read and discard client messages; one over ``MAX_CLIENT_MESSAGE_BYTES`` (as on the fast
    path) ends the stream with 1009. hypercorn refuses it first when its
    ``websocket_max_message_size`` is as low (the service's config sets it; under plain hypercorn
    set it in the config file), so this is the app's own bound."""
    while True:
        message = await websocket.receive()
        size = len(message) if isinstance(message, bytes) else len(message.encode())
        if size > MAX_CLIENT_MESSAGE_BYTES:
            log.info("WebSocket %s: message of %d bytes refused (1009)", peer, size)
            await websocket.close(CLOSE_MESSAGE_TOO_BIG, MESSAGE_TOO_BIG_REASON)
            stream_scope.cancel()
            return
