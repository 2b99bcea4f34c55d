"""The slower quart telemetry route must be as bounded as the fast path, and unreachable through
the front door.

The probe (issue 16, item 3): ``/api/dersim/ws/%74elemetry`` (or any telemetry upgrade the door
refused, e.g. a bad ``Sec-WebSocket-Key``) was handed to the quart route, where 100 clients each
sending an unfinished 15 MiB message took the process from 59 MB to 1,577 MB; protocol errors
there ended in a bare TCP close (1006). Now the door decodes the path as the HTTP stack does,
answers the telemetry requests it does not serve with 400 itself, and the quart route (still
served with ``--fast_path no``, under plain hypercorn, and for HTTP/2 WebSockets) closes a
message over 64 KiB with 1009, a protocol error with 1002 and invalid UTF-8 with 1007, and never
negotiates compression (a deflated message could inflate far past the size limit).
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import trio

from helpers import (
    BINARY,
    PING,
    TEXT,
    WS_PATH,
    client_frame,
    http_request,
    raw_connection,
    upgrade_request,
    wait_idle,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]

FAST = ("-d", "Batt", "--periodic_time", "0.05")
TOO_BIG = 100 * 1024


@pytest.mark.parametrize(
    "path",
    [
        "/api/dersim/ws/%74elemetry",
        "/api%2Fdersim%2Fws%2Ftelemetry?device=0",
        "http://127.0.0.1/api/dersim/ws/telemetry",
        "/api/dersim/telemetry/w%73",
    ],
    ids=["percent-encoded", "encoded-slashes", "absolute-form", "alias-encoded"],
)
async def test_an_encoded_telemetry_path_is_served_by_the_fast_path(
    start_service: StartService, path: str
) -> None:
    service = await start_service(*FAST)
    with trio.fail_after(10):
        async with raw_connection(service.port) as conn:
            await conn.handshake(service.port, path)
            assert service.door.fast_path_connections == 1
            await conn.send(client_frame(BINARY, bytes(TOO_BIG)))
            assert await conn.read_close_code() == 1009
    await wait_idle(service)


@pytest.mark.parametrize(
    ("request_kwargs", "method"),
    [
        ({"key": "c2hvcnQ="}, "GET"),  # decodes to 5 bytes, not 16
        ({"key": None}, "GET"),
        ({"version": "12"}, "GET"),
        ({}, "POST"),
        ({}, "GET HTTP/1.0"),
    ],
    ids=["short-key", "no-key", "version-12", "post", "http-1.0"],
)
async def test_a_telemetry_request_the_door_does_not_serve_is_answered_400_by_the_door(
    start_service: StartService, request_kwargs: dict[str, str], method: str
) -> None:
    service = await start_service(*FAST)
    request = upgrade_request(service.port, **request_kwargs)
    if method == "POST":
        request = request.replace(b"GET ", b"POST ", 1)
    elif method == "GET HTTP/1.0":
        request = request.replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
    with trio.fail_after(10):
        async with raw_connection(service.port) as conn:
            await conn.send(request)
            status, headers, body = await conn.read_response()
            assert status == 400
            assert headers["connection"] == "close"
            assert json.loads(body)["error"] == "invalid_upgrade"
            assert await conn.read_until_closed() == b""
    assert service.door.fast_path_connections == 0
    await wait_idle(service)


# --- the quart route (--fast_path no) ---------------------------------------------------------


async def quart_route_close_code(start_service: StartService, payload: bytes) -> int | None:
    service = await start_service(*FAST, fast_path=False)
    with trio.fail_after(10):
        async with raw_connection(service.port) as conn:
            await conn.handshake(service.port)
            await conn.send(payload)
            code = await conn.read_close_code()
            await conn.read_until_closed()
    await wait_idle(service)
    return code


async def test_the_quart_route_closes_a_message_over_64_kib_with_1009(
    start_service: StartService,
) -> None:
    assert await quart_route_close_code(start_service, client_frame(BINARY, bytes(TOO_BIG))) == 1009


async def test_the_quart_route_closes_an_unfinished_message_over_64_kib_with_1009(
    start_service: StartService,
) -> None:
    """Fragments of an unfinished message count together (the 15 MiB probe, scaled down)."""
    fragments = client_frame(TEXT, b"x" * 40_000, fin=False) + client_frame(
        0x0, b"x" * 40_000, fin=False
    )
    assert await quart_route_close_code(start_service, fragments) == 1009


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(TEXT, b"unmasked", mask=None), 1002),
        (client_frame(BINARY, b"x", rsv=0x40), 1002),
        (client_frame(TEXT, b"caf\xc3"), 1007),
        (client_frame(TEXT, b"\xff\xfe"), 1007),
    ],
    ids=["unmasked", "rsv1-without-extension", "truncated-utf8", "invalid-utf8"],
)
async def test_the_quart_route_closes_protocol_errors_with_their_code(
    start_service: StartService, frame: bytes, code: int
) -> None:
    assert await quart_route_close_code(start_service, frame) == code


async def test_the_quart_route_never_negotiates_compression(start_service: StartService) -> None:
    service = await start_service(*FAST, fast_path=False)
    offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    with trio.fail_after(10):
        async with raw_connection(service.port) as conn:
            head = await conn.handshake(service.port, extra=offer)
            assert b"sec-websocket-extensions" not in head.lower()
            # and a compressed frame (RSV1) is then a protocol error
            await conn.send(client_frame(TEXT, b"x", rsv=0x40))
            assert await conn.read_close_code() == 1002
    await wait_idle(service)


async def test_the_quart_route_still_answers_pings_and_streams(start_service: StartService) -> None:
    service = await start_service(*FAST, "-N", "2", fast_path=False)
    with trio.fail_after(10):
        async with raw_connection(service.port) as conn:
            await conn.handshake(service.port, WS_PATH + "?device=1")
            await conn.send(client_frame(PING, b"hello") + client_frame(TEXT, b"chatter"))
            ticks = [(await conn.read_snapshot(answer_pings=True))["tick"] for _ in range(5)]
            await conn.send(client_frame(0x8, struct.pack("!H", 1000)))
            assert await conn.read_close_code() == 1000
    assert ticks == list(range(ticks[0], ticks[0] + 5))
    await wait_idle(service)


async def test_an_http_request_on_another_path_is_still_replayed_to_the_http_stack(
    start_service: StartService,
) -> None:
    service = await start_service(*FAST)
    with trio.fail_after(10):
        async with raw_connection(service.port) as conn:
            await conn.send(http_request(service.port, "GET", "/api/dersim/ws/telemetryX"))
            status, _, body = await conn.read_response()
    assert status == 404
    assert json.loads(body)["error"] == "not_found"


# --- the plain hypercorn launch mode (dersim_trio.asgi) -----------------------------------------


@contextlib.asynccontextmanager
async def plain_hypercorn() -> AsyncIterator[int]:
    """``dersim_trio.asgi``'s app under ``hypercorn.trio.serve`` with hypercorn's default
    config (16 MiB messages), the stream left to the quart route (``--fast_path no``: the app
    would otherwise route a first-request upgrade to the fast path); yields the port."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    from dersim_trio.asgi import create_asgi_app

    app = create_asgi_app(
        ["-d", "Batt", "--periodic_time", "0.05", "--fast_path", "no"], tune_gc=False
    )
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 1
    config.accesslog = None
    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run(*, task_status: trio.TaskStatus[list[str]]) -> None:
            await serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)

        (bind,) = await nursery.start(run)
        try:
            yield int(bind.rsplit(":", 1)[1])
        finally:
            stop.set()


@pytest.mark.parametrize(
    ("payload", "code"),
    [(client_frame(BINARY, bytes(TOO_BIG)), 1009), (client_frame(TEXT, b"x", mask=None), 1002)],
    ids=["too-big", "unmasked"],
)
async def test_under_plain_hypercorn_the_route_closes_with_the_same_codes(
    payload: bytes, code: int
) -> None:
    with trio.fail_after(15):
        async with plain_hypercorn() as port, raw_connection(port) as conn:
            await conn.handshake(port)
            await conn.send(payload)
            assert await conn.read_close_code() == code
