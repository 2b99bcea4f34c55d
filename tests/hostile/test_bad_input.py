"""Bad input gets a 4xx with a message, never a 5xx.

The probe (issue 16, item 5): a 10,000-level nested JSON body gave 500 on all six JSON routes
(``RecursionError``); ``PUT /devices/<5000 digits>/inputs`` gave 500 from an ``int()`` in the
mutation logger, also without a token on a token-protected server (and was not logged). Now JSON
bodies nested deeper than ``MAX_JSON_DEPTH`` are a 400, and a device index is parsed once, by the
route, with a bounded length: anything else is not a route (404), before the token is checked.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import pytest
import trio

from helpers import http_request, raw_connection

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]

FAST = ("-d", "Batt", "--periodic_time", "0.05")
TOKEN = "a-token-of-the-right-length"
JSON_ROUTES = [
    ("PUT", "/api/dersim/devices/0/inputs"),
    ("PUT", "/api/dersim/inputs"),
    ("PUT", "/api/dersim/devices/0/controls"),
    ("POST", "/api/dersim/commands"),
    ("POST", "/api/dersim/devices/0/faults"),
    ("DELETE", "/api/dersim/devices/0/faults"),
]


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with trio.fail_after(10):
        async with raw_connection(port) as conn:
            await conn.send(request)
            return await conn.read_response()


@pytest.mark.parametrize("shape", ["arrays", "objects", "in-a-field"])
async def test_a_deeply_nested_json_body_is_a_400_on_every_json_route(
    start_service: StartService, shape: str
) -> None:
    depth = 10_000
    body = {
        "arrays": b"[" * depth + b"]" * depth,
        "objects": b'{"a":' * depth + b"1" + b"}" * depth,
        "in-a-field": b'{"state_of_charge_pct":' + b"[" * depth + b"]" * depth + b"}",
    }[shape]
    service = await start_service(*FAST)
    for method, path in JSON_ROUTES:
        status, _, answer = await exchange(
            service.port, http_request(service.port, method, path, body=body)
        )
        assert status == 400, (method, path, answer[:200])
        error = json.loads(answer)
        assert error["error"] == "invalid_json"
        assert "nested" in error["detail"]


async def test_a_body_nested_within_the_limit_is_validated_as_usual(
    start_service: StartService,
) -> None:
    service = await start_service(*FAST)
    body = b'{"state_of_charge_pct": [[[1]]]}'
    status, _, answer = await exchange(
        service.port, http_request(service.port, "PUT", JSON_ROUTES[0][1], body=body)
    )
    assert status == 422, answer


HUGE = "9" * 5000


@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "token-protected"])
@pytest.mark.parametrize(
    ("method", "resource"),
    [
        ("PUT", "inputs"),
        ("GET", "inputs"),
        ("PUT", "controls"),
        ("GET", "controls"),
        ("POST", "faults"),
        ("DELETE", "faults"),
        ("GET", "faults"),
    ],
)
@pytest.mark.parametrize(
    "index",
    [HUGE, "-" + HUGE, "1" + "0" * 4000, "%EF%BC%91"],
    ids=["5000-digits", "negative", "4001-digits", "fullwidth-one-encoded"],
)
async def test_an_absurd_device_index_is_404_never_5xx(
    start_service: StartService,
    caplog: pytest.LogCaptureFixture,
    token: str | None,
    method: str,
    resource: str,
    index: str,
) -> None:
    """Also without the token on a token-protected server: the path is parsed (and found not
    to be a route) before the token is checked, and the answer is logged."""
    caplog.set_level(logging.INFO, logger="dersim_trio")
    flags = ["--api_token", token] if token else []
    service = await start_service(*FAST, *flags)
    body = b"{}" if method != "GET" else None
    path = f"/api/dersim/devices/{index}/{resource}"
    status, _, answer = await exchange(
        service.port, http_request(service.port, method, path, body=body)
    )
    assert status in (404, 422), answer[:300]
    assert json.loads(answer)["error"] in ("not_found", "device_not_found")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
