"""Web pages must not be able to drive the simulator, directly or after a DNS rebinding.

The probe (issue 16, item 4), on the default set-up (no token): a page on any origin stopped the
server with ``fetch(".../api/dersim/stop", {method: "POST", mode: "no-cors"})``; any Host header
was accepted, so after a DNS rebinding a page had full control (a JSON PUT answered 200); and
``-wi 0.0.0.0`` without a token said nothing. Now the Host must name the address the connection
came in on, ``localhost``, ``127.0.0.1`` or ``[::1]`` with the server's port (or an
``--allowed_hosts`` entry), else 421, on every HTTP route and on the telemetry upgrade of both
paths; a mutation needs a JSON body with ``Content-Type: application/json`` (no "simple"
cross-origin request has one); the telemetry stream stays open to any Origin (it is read-only);
and a non-loopback bind without a token warns at start.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import pytest
import trio

from helpers import http_request, raw_connection, upgrade_request, wait_idle

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]

FAST = ("-d", "Batt", "--periodic_time", "0.05")
INPUTS = "/api/dersim/devices/0/inputs"
SET_INPUTS = json.dumps({"ambient_temperature_c": 42.0}).encode()


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with trio.fail_after(10):
        async with raw_connection(port) as conn:
            await conn.send(request)
            return await conn.read_response()


def rebinding_hosts(port: int) -> list[str]:
    """Host headers a page could make a browser send to this server: names an attacker's DNS
    can point here, and a right name on the wrong port."""
    return [
        f"evil.example:{port}",
        "evil.example",
        f"127.0.0.1.nip.io:{port}",
        f"localhost.evil.example:{port}",
        "localhost:1",
        "localhost",  # port 80 implied
        f"[::2]:{port}",
    ]


async def test_a_rebinding_host_is_refused_421_and_changes_nothing(
    start_service: StartService,
) -> None:
    service = await start_service(*FAST)
    port = service.port
    for host in rebinding_hosts(port):
        for request in (
            http_request(port, "GET", "/api/dersim/overview", host=host),
            http_request(port, "PUT", INPUTS, host=host, body=SET_INPUTS),
            http_request(port, "POST", "/api/dersim/stop", host=host, body=b"{}"),
        ):
            status, _, body = await exchange(port, request)
            assert (status, json.loads(body)["error"]) == (421, "misdirected_request"), host
    status, _, body = await exchange(port, http_request(port, "GET", INPUTS))
    assert status == 200
    assert json.loads(body)["ambient_temperature_c"] is None  # the PUT changed nothing
    assert not service.done.is_set()


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST", "localhost."])
async def test_the_loopback_names_with_the_port_are_answered(
    start_service: StartService, name: str
) -> None:
    service = await start_service(*FAST)
    request = http_request(
        service.port, "GET", "/api/dersim/overview", host=f"{name}:{service.port}"
    )
    status, _, _ = await exchange(service.port, request)
    assert status == 200


async def test_allowed_hosts_adds_names_with_or_without_a_port(start_service: StartService) -> None:
    service = await start_service(*FAST, "--allowed_hosts", "sim.example, other.example:8080")
    port = service.port
    for host, expected in [
        (f"sim.example:{port}", 200),
        ("sim.example", 200),  # behind a proxy on port 80
        ("SIM.example:8443", 200),
        ("other.example:8080", 200),
        (f"other.example:{port}", 421),
        (f"evil.example:{port}", 421),
    ]:
        status, _, _ = await exchange(
            port, http_request(port, "GET", "/api/dersim/overview", host=host)
        )
        assert status == expected, host


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "quart-route"])
async def test_a_rebinding_host_on_the_telemetry_upgrade_is_refused(
    start_service: StartService, fast_path: bool
) -> None:
    service = await start_service(*FAST, fast_path=fast_path)
    port = service.port
    for host in (f"evil.example:{port}", "localhost"):
        status, _, body = await exchange(port, upgrade_request(port, host=host))
        assert status == 421, host
        assert json.loads(body)["error"] == "misdirected_request"
    await wait_idle(service)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "quart-route"])
async def test_the_telemetry_stream_is_open_to_any_origin(
    start_service: StartService, fast_path: bool
) -> None:
    """Documented: the stream is read-only, so a page on any origin may read it (with the
    right Host, i.e. no rebinding)."""
    service = await start_service(*FAST, fast_path=fast_path)
    with trio.fail_after(10):
        async with raw_connection(service.port) as conn:
            await conn.handshake(service.port, extra="Origin: http://evil.example\r\n")
            assert "tick" in await conn.read_snapshot(answer_pings=True)
            conn.reset()
    await wait_idle(service)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (None, None),  # fetch(url, {method: "POST", mode: "no-cors"})
        ("text/plain", b"{}"),
        ("application/x-www-form-urlencoded", b"a=b"),
        ("multipart/form-data; boundary=x", b"--x--\r\n"),
        (None, b"{}"),
        ("application/json", None),  # JSON promised, nothing sent
        ("application/json", b""),
    ],
    ids=[
        "no-body",
        "text-plain",
        "form",
        "multipart",
        "no-content-type",
        "json-no-body",
        "json-empty",
    ],
)
async def test_a_simple_cross_origin_request_cannot_stop_or_change_the_simulator(
    start_service: StartService, content_type: str | None, body: bytes | None
) -> None:
    service = await start_service(*FAST)
    port = service.port
    for method, path in (
        ("POST", "/api/dersim/stop"),
        ("PUT", INPUTS),
        ("DELETE", "/api/dersim/devices/0/faults"),
    ):
        request = http_request(port, method, path, body=body, content_type=content_type)
        status, _, answer = await exchange(port, request)
        assert status in (400, 415), (method, path, status, answer)
    assert not service.done.is_set()
    status, _, _ = await exchange(port, http_request(port, "GET", "/api/dersim/overview"))
    assert status == 200


async def test_a_json_stop_still_stops(start_service: StartService) -> None:
    service = await start_service(*FAST)
    status, _, _ = await exchange(
        service.port, http_request(service.port, "POST", "/api/dersim/stop", body=b"{}")
    )
    assert status == 202
    with trio.fail_after(10):
        await service.done.wait()


@pytest.mark.parametrize(
    ("bind", "token", "warned"),
    [
        ("0.0.0.0", None, True),
        ("::", None, True),
        ("192.0.2.7", None, True),
        ("0.0.0.0", "a-token-of-the-right-length", False),
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
    ],
)
async def test_a_non_loopback_bind_without_a_token_warns_at_start(
    start_service: StartService,
    caplog: pytest.LogCaptureFixture,
    bind: str,
    token: str | None,
    warned: bool,
) -> None:
    """(The service under test listens on 127.0.0.1 whatever ``-wi`` says: the warning is about
    the address asked for.)"""
    caplog.set_level(logging.WARNING, logger="dersim_trio")
    flags = ["-wi", bind] + (["--api_token", token] if token else [])
    await start_service(*FAST, *flags)
    warnings = [r.getMessage() for r in caplog.records if "--api_token" in r.getMessage()]
    assert bool(warnings) == warned, warnings
