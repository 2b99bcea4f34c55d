"""One error style over HTTP (issue 11): an unknown device is a 404 ``device_not_found`` saying
what is allowed wherever it is named (a path, ``?device=``, a body's ``device``), and every 413
states the body limit in bytes.

The routes come from the served OpenAPI document, so a route added later is checked too. The
telemetry WebSocket cannot answer 404 after its upgrade: a bad ``?device=`` is accepted and
closed with 1008 and the same sentence (``test_web_inprocess.py``, ``test_door.py``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import trio

from dersim_trio.service.run import ServiceParts
from dersim_trio.web.bodies import MAX_BODY_BYTES
from helpers import http_request, raw_connection

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quart_trio import QuartTrio

    from conftest import Kit
    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]

DEVICES = 2
ALLOWED = "[0, 1]"
JSON = {"Content-Type": "application/json"}
MINIMAL_BODIES = {
    ("POST", "/api/dersim/commands"): {"command": "start"},
    ("POST", "/api/dersim/grid-events"): {"voltage": [{"t_s": 0, "v_pu": 1.0}]},
    ("POST", "/api/dersim/devices/{index}/faults"): {"type": "ground_fault"},
}
"""Bodies valid but for the device (every other route takes {})."""


async def assembled(kit: type[Kit]) -> QuartTrio:
    config = kit.make_config("-d", "PV", "-N", str(DEVICES), "--periodic_time", "1.5")
    return ServiceParts.assemble(config, kit.FIXED_WALL, trio.current_time()).app


async def call(
    app: QuartTrio, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    async with app.test_app() as test_app:
        with trio.fail_after(10):
            response = await test_app.test_client().open(
                path, method=method, data=body, headers=JSON if body is not None else None
            )
            return response.status_code, json.loads(await response.get_data())


async def document(app: QuartTrio) -> dict[str, Any]:
    _, doc = await call(app, "GET", "/openapi.json")
    return doc


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if "/ws" not in path and path != "/api/dersim/stop"
    ]


def body_for(method: str, path: str, op: dict[str, Any]) -> bytes | None:
    if "requestBody" not in op:
        return None
    return json.dumps(MINIMAL_BODIES.get((method, path), {})).encode()


@pytest.mark.parametrize("unknown", ["2", "99", "-1", "x"])
async def test_an_unknown_device_is_404_on_every_route_that_takes_one(
    kit: type[Kit], unknown: str
) -> None:
    app = await assembled(kit)
    doc = await document(app)
    checked = []
    for method, path, op in operations(doc):
        params = {p["name"] for p in op.get("parameters", ()) if p["in"] == "query"}
        body = body_for(method, path, op)
        if "{index}" in path:
            if not unknown.lstrip("-").isdigit():
                continue  # not an index: no route (404 not_found, test_controls_web.py)
            url = path.replace("{index}", unknown)
        elif "device" in params:
            url = f"{path}?device={unknown}"
        elif body is not None and "device" in body_fields(op, doc):
            if not unknown.lstrip("-").isdigit():
                continue  # a body's device is a JSON integer (a string is a 422)
            fields = json.loads(body)
            body = json.dumps({**fields, "device": int(unknown)}).encode()
            url = path
        else:
            continue
        status, error = await call(app, method, url, body)
        assert (status, error["error"]) == (404, "device_not_found"), (method, url, error)
        assert ALLOWED in error["detail"], (method, url, error)
        assert unknown in error["detail"], (method, url, error)
        checked.append(f"{method} {path}")
    if unknown.lstrip("-").isdigit():
        assert "GET /api/dersim/devices/{index}/controls" in checked
        assert "POST /api/dersim/commands" in checked
        assert "POST /api/dersim/grid-events" in checked
    assert "GET /api/dersim/overview" in checked
    assert "GET /api/dersim/history" in checked
    assert "GET /api/dersim/dc-iv" in checked


def body_fields(op: dict[str, Any], doc: dict[str, Any]) -> set[str]:
    """The fields of an operation's request body model."""
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return set(doc["components"]["schemas"][ref.rsplit("/", 1)[1]].get("properties", {}))


async def test_every_route_with_a_body_answers_413_stating_the_limit(kit: type[Kit]) -> None:
    app = await assembled(kit)
    too_big = json.dumps({"pad": "x" * MAX_BODY_BYTES}).encode()
    checked = 0
    for method, path, op in operations(await document(app)):
        if "requestBody" not in op:
            continue
        url = path.replace("{index}", "0")
        status, error = await call(app, method, url, too_big)
        assert status == 413, (method, url)
        assert error["error"] == "body_too_large", (method, url, error)
        limit = f"the request body must be at most {MAX_BODY_BYTES} bytes"
        assert error["detail"].startswith(limit), (method, url, error)
        assert "413" in op["responses"], (method, path)
        checked += 1
    assert checked >= 9


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_limit_on_a_real_connection_is_413_with_the_limit(
    start_service: StartService, framing: str
) -> None:
    """Both ways a client can send too much: a ``Content-Length`` over the limit (refused from
    the head), and a chunked body that grows past it (refused while it arrives)."""
    service = await start_service("-d", "Batt", "--periodic_time", "0.05")
    port = service.port
    body = json.dumps({"pad": "x" * (MAX_BODY_BYTES + 10)}).encode()
    if framing == "content-length":
        request = http_request(port, "PUT", "/api/dersim/inputs", body=body, close=True)
    else:
        head = http_request(
            port,
            "PUT",
            "/api/dersim/inputs",
            close=True,
            extra="Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
        )
        request = head + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with trio.fail_after(10):
        async with raw_connection(port) as conn:
            await conn.send(request)
            status, _, answer = await conn.read_response()
    assert status == 413
    error = json.loads(answer)
    assert error["error"] == "body_too_large"
    assert f"at most {MAX_BODY_BYTES} bytes" in error["detail"]
