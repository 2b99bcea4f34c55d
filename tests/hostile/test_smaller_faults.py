"""The smaller faults of issue 16 (item 6), each against a real server on 127.0.0.1.

* A request with both ``Content-Length`` and ``Transfer-Encoding`` kept the connection open and a
  smuggled second request was answered (RFC 9112 §6.1: the server must close the connection
  after responding to such a request). Now it is refused (400) and the connection closed.
* Invalid UTF-8 in a text frame was ignored on the fast path; now it is closed with 1007.
* 2,600 anonymous WebSocket connects evicted a mutation's audit record from the log buffer; now
  audit records of mutations have their own bounded buffer, still read through ``/logs``.
* A slow request body was held for 60 s; now it gets 408 after ``BODY_TIMEOUT_S`` and the
  connection closes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import trio

from dersim_trio.web.bodies import BODY_TIMEOUT_S
from helpers import TEXT, client_frame, http_request, raw_connection, wait_idle

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]

FAST = ("-d", "Batt", "--periodic_time", "0.05")


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_a_request_with_content_length_and_transfer_encoding_closes_the_connection(
    start_service: StartService, method: str
) -> None:
    service = await start_service(*FAST)
    port = service.port
    path = "/api/dersim/overview" if method == "GET" else "/api/dersim/inputs"
    smuggled = http_request(port, "PUT", "/api/dersim/inputs", body=b'{"ambient_temperature_c": 1}')
    request = (
        http_request(
            port,
            method,
            path,
            extra="Content-Type: application/json\r\nContent-Length: 5\r\n"
            "Transfer-Encoding: chunked\r\n",
        )
        + b"0\r\n\r\n"
        + smuggled
    )
    with trio.fail_after(10):
        async with raw_connection(port) as conn:
            await conn.send(request)
            status, headers, body = await conn.read_response()
            rest = await conn.read_until_closed()
    assert status == 400
    assert json.loads(body)["error"] == "ambiguous_framing"
    assert headers["connection"] == "close"
    assert rest == b""  # the smuggled request was not answered...
    inputs = await trio.to_thread.run_sync(
        lambda: json.loads(kit_get(port, "/api/dersim/devices/0/inputs"))
    )
    assert inputs["ambient_temperature_c"] is None  # ...nor run


def kit_get(port: int, path: str) -> bytes:
    from helpers import http_get_raw

    status, body = http_get_raw(port, path)
    assert status == 200
    return body


@pytest.mark.parametrize("payload", [b"caf\xc3", b"\xff", b"\xed\xa0\x80"])
async def test_invalid_utf8_in_a_text_frame_is_closed_with_1007_on_the_fast_path(
    start_service: StartService, payload: bytes
) -> None:
    service = await start_service(*FAST)
    with trio.fail_after(10):
        async with raw_connection(service.port) as conn:
            await conn.handshake(service.port)
            await conn.send(client_frame(TEXT, payload))
            assert await conn.read_close_code() == 1007
            assert await conn.read_until_closed() == b""
    await wait_idle(service)


async def test_a_request_body_that_stops_arriving_is_answered_408_and_closed(
    start_service: StartService,
) -> None:
    service = await start_service(*FAST)
    port = service.port
    body = json.dumps({"ambient_temperature_c": 30.0}).encode()
    request = http_request(port, "PUT", "/api/dersim/inputs", body=body)
    with trio.fail_after(BODY_TIMEOUT_S + 5):
        async with raw_connection(port) as conn:
            await conn.send(request[: -len(body) // 2])  # the head and half the body
            status, _, answer = await conn.read_response()
            assert await conn.read_until_closed() == b""
    assert status == 408, answer
    await wait_idle(service)


@pytest.mark.slow
async def test_thousands_of_websocket_connects_do_not_evict_a_mutations_audit_record(
    start_service: StartService,
) -> None:
    service = await start_service(*FAST)
    port = service.port
    body = json.dumps({"ambient_temperature_c": 31.5}).encode()
    with trio.fail_after(10):
        async with raw_connection(port) as conn:
            await conn.send(http_request(port, "PUT", "/api/dersim/devices/0/inputs", body=body))
            status, _, _ = await conn.read_response()
    assert status == 200

    async def connect_and_leave(count: int) -> None:
        for _ in range(count):
            async with raw_connection(port) as conn:
                await conn.handshake(port)
                conn.reset()

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(connect_and_leave, 130)  # 2,600 in all
    await wait_idle(service)

    def logs(query: str) -> dict[str, object]:
        return json.loads(kit_get(port, "/api/dersim/logs?" + query))  # type: ignore[no-any-return]

    chatter = await trio.to_thread.run_sync(logs, "module=WS&limit=1000")
    api = await trio.to_thread.run_sync(logs, "module=API&limit=1000")
    audit = await trio.to_thread.run_sync(logs, "audit=yes&limit=1000")
    mutation = "PUT /api/dersim/devices/0/inputs -> 200"
    for page in (api, audit):
        entries = page["entries"]
        assert isinstance(entries, list)
        assert any(mutation in e["message"] and e["audit"] for e in entries), entries[:3]
    connects = [e for e in chatter["entries"] if "WebSocket connect" in e["message"]]  # type: ignore[union-attr]
    assert connects
    assert not any(e["audit"] for e in connects)
