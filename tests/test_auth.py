"""The mutation guard (``web/auth.py``) and the ``--api_token`` flag.

With a token, every POST/PUT/PATCH/DELETE under ``/api/dersim/`` needs ``Authorization: Bearer
<token>``; reads and the telemetry WebSocket stay open. With or without a token, a mutating
request whose body is not JSON is refused with 415, so a cross-site form cannot drive the
simulator. The token never appears in logs, server-info or the OpenAPI document.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
import trio
from quart_trio import QuartTrio

from dersim_trio.cli import main
from dersim_trio.engine.core import encode
from dersim_trio.errors import ConfigError
from dersim_trio.service.hub import Hub
from dersim_trio.service.operator import Controller
from dersim_trio.setup.config import parse_args
from dersim_trio.web.app import create_app

if TYPE_CHECKING:
    from conftest import Kit

TOKEN = "tok-3f9a1c7e5b2d"
INPUTS = "/api/dersim/devices/0/inputs"
JSON_BODY = {"irradiance_w_m2": 800.0}


def build_app(kit: type[Kit], token: str | None) -> QuartTrio:
    config = kit.make_config("-d", "PV")
    engine = kit.make_engine("-d", "PV")
    hub = Hub(config.device_count)
    hub.publish(0, [encode(s) for s in engine.initial()])
    return create_app(hub, kit.make_context(config), Controller(engine), api_token=token)


async def call(app: QuartTrio, method: str, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
    """(status, JSON body or None, headers) of one request through the test client."""
    async with app.test_app() as test_app:
        response = await test_app.test_client().open(path, method=method, **kwargs)
        data = await response.get_data()
        body = json.loads(data) if response.mimetype == "application/json" else None
        return response.status_code, body, response.headers


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the token ---------------------------------------------------------------------------------


@pytest.fixture
async def secured(kit: type[Kit]) -> QuartTrio:
    return build_app(kit, TOKEN)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong"),
        bearer(TOKEN + "x"),
        bearer(TOKEN[:-1]),
        bearer(""),
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        bearer("tökén"),
    ],
    ids=["none", "wrong", "longer", "shorter", "empty", "no-scheme", "basic", "non-ascii"],
)
async def test_a_mutation_without_the_right_token_is_401_with_a_bearer_challenge(
    secured: QuartTrio, headers: dict[str, str]
) -> None:
    status, body, response_headers = await call(
        secured, "PUT", INPUTS, json=JSON_BODY, headers=headers
    )
    assert status == 401
    assert body["error"] == "unauthorized"
    assert body["detail"]
    assert response_headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_mutation_with_the_token_succeeds(secured: QuartTrio) -> None:
    status, body, _ = await call(secured, "PUT", INPUTS, json=JSON_BODY, headers=bearer(TOKEN))
    assert status == 200
    assert body["irradiance_w_m2"] == 800.0


async def test_the_bearer_scheme_name_is_case_insensitive(secured: QuartTrio) -> None:
    headers = {"Authorization": f"bearer {TOKEN}"}
    status, _, _ = await call(secured, "PUT", INPUTS, json=JSON_BODY, headers=headers)
    assert status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/dersim/stop"),
        ("PUT", "/api/dersim/inputs"),
        ("PUT", INPUTS),
        ("POST", "/api/dersim/commands"),
        ("DELETE", "/api/dersim/devices/0/faults"),
    ],
)
async def test_every_mutating_route_under_the_api_needs_the_token(
    secured: QuartTrio, method: str, path: str
) -> None:
    status, body, _ = await call(secured, method, path, json={})
    assert status == 401
    assert body["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("DELETE", INPUTS, 405),
        ("PATCH", INPUTS, 405),
        ("POST", "/api/dersim/no-such-route", 404),
        ("PUT", "/api/dersim/devices/" + "9" * 5000 + "/inputs", 404),
    ],
)
async def test_what_is_no_route_is_answered_as_such_before_the_token(
    secured: QuartTrio, method: str, path: str, status: int
) -> None:
    """Routes are public (``/openapi.json``): a path that is none, or a method the route does
    not have, gets its 404/405 with or without the token (and a 5000-digit index is no path)."""
    got, body, _ = await call(secured, method, path, json={})
    assert got == status
    assert body["error"] in ("not_found", "method_not_allowed")


@pytest.mark.parametrize(
    "path",
    [
        INPUTS,
        "/api/dersim/overview",
        "/api/dersim/devices",
        "/api/dersim/server-info",
        "/api/dersim/dc-iv",
        "/openapi.json",
    ],
)
async def test_reads_stay_open_with_a_token(secured: QuartTrio, path: str) -> None:
    status, _, _ = await call(secured, "GET", path)
    assert status == 200


async def test_the_telemetry_websocket_stays_open_with_a_token(secured: QuartTrio) -> None:
    async with (
        secured.test_app() as test_app,
        test_app.test_client().websocket("/api/dersim/ws/telemetry") as ws,
    ):
        with trio.fail_after(10):
            message = await ws.receive()
    assert json.loads(message)["device_index"] == 0


async def test_without_a_token_mutations_are_open(kit: type[Kit]) -> None:
    status, _, _ = await call(build_app(kit, None), "PUT", INPUTS, json=JSON_BODY)
    assert status == 200


JSON_TYPE = {"Content-Type": "application/json"}


# --- JSON only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "token"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/dersim/stop"), ("PUT", INPUTS), ("PUT", "/api/dersim/inputs")],
)
async def test_a_form_post_is_refused_with_415_even_on_a_route_without_a_body(
    kit: type[Kit], token: str | None, method: str, path: str
) -> None:
    app = build_app(kit, token)
    headers = bearer(TOKEN) if token else {}
    status, body, _ = await call(app, method, path, form={"command": "stop"}, headers=headers)
    assert status == 415
    assert body["error"] == "unsupported_media_type"
    assert "application/json" in body["detail"]


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/x-www-form-urlencoded", b""),  # an empty cross-site form
        ("text/plain", b'{"irradiance_w_m2": 800}'),
        ("multipart/form-data; boundary=x", b"--x--\r\n"),
        (None, b'{"irradiance_w_m2": 800}'),  # a body without Content-Type
    ],
    ids=["empty-form", "text-plain", "multipart", "no-content-type"],
)
async def test_any_non_json_mutation_is_415(
    kit: type[Kit], content_type: str | None, data: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    app = build_app(kit, None)
    status, body, _ = await call(app, "POST", "/api/dersim/stop", data=data, headers=headers)
    assert status == 415
    assert body["error"] == "unsupported_media_type"


async def test_a_bodiless_post_is_refused_even_on_a_route_without_fields(kit: type[Kit]) -> None:
    """``curl -X POST .../stop``, or a page's ``fetch(url, {method: "POST", mode: "no-cors"})``:
    refused; ``{}`` reaches the route (501 here: the app has no service)."""
    app = build_app(kit, None)
    status, body, _ = await call(app, "POST", "/api/dersim/stop")
    assert (status, body["error"]) == (415, "unsupported_media_type")
    status, body, _ = await call(app, "POST", "/api/dersim/stop", data=b"", headers=JSON_TYPE)
    assert (status, body["error"]) == (400, "invalid_json")
    status, body, _ = await call(app, "POST", "/api/dersim/stop", json={})
    assert (status, body["error"]) == (501, "not_implemented")


async def test_json_with_a_charset_is_accepted(secured: QuartTrio) -> None:
    headers = {**bearer(TOKEN), "Content-Type": "application/json; charset=utf-8"}
    status, _, _ = await call(
        secured, "PUT", INPUTS, data=json.dumps(JSON_BODY).encode(), headers=headers
    )
    assert status == 200


# --- the OpenAPI document ------------------------------------------------------------------


async def test_openapi_declares_the_bearer_scheme_on_mutations_only_when_a_token_is_set(
    kit: type[Kit],
) -> None:
    _, secured_doc, _ = await call(build_app(kit, TOKEN), "GET", "/openapi.json")
    _, open_doc, _ = await call(build_app(kit, None), "GET", "/openapi.json")
    scheme = secured_doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    put = secured_doc["paths"]["/api/dersim/devices/{index}/inputs"]["put"]
    get = secured_doc["paths"]["/api/dersim/devices/{index}/inputs"]["get"]
    assert put["security"] == [{"bearerAuth": []}]
    assert {"401", "415"} <= set(put["responses"])
    assert "security" not in get
    assert "401" not in get["responses"]
    assert "securitySchemes" not in open_doc["components"]
    open_put = open_doc["paths"]["/api/dersim/devices/{index}/inputs"]["put"]
    assert "security" not in open_put
    assert "415" in open_put["responses"]
    assert TOKEN not in json.dumps(secured_doc)


# --- the token stays secret ----------------------------------------------------------------


async def test_the_token_never_appears_in_logs_server_info_or_errors(
    kit: type[Kit], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = build_app(kit, TOKEN)
    seen: list[str] = []
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/dersim/server-info", {}),
        ("PUT", INPUTS, {"json": JSON_BODY, "headers": bearer("wrong")}),
        ("PUT", INPUTS, {"json": JSON_BODY, "headers": bearer(TOKEN)}),
        ("POST", "/api/dersim/stop", {"form": {"a": "b"}, "headers": bearer(TOKEN)}),
    ]
    for method, path, kwargs in requests:
        _, body, headers = await call(app, method, path, **kwargs)
        seen.append(json.dumps(body) + str(headers))
    config = parse_args(["--api_token", TOKEN])
    seen.append(repr(config))
    assert all(TOKEN not in text for text in seen)
    assert TOKEN not in caplog.text


# --- the flag and the environment variable -----------------------------------------------------


def test_the_token_comes_from_the_flag_else_the_environment() -> None:
    assert parse_args([], environ={}).api_token is None
    assert parse_args([], environ={"DERSIM_API_TOKEN": "from-env"}).api_token == "from-env"
    flagged = parse_args(["--api_token", "from-flag"], environ={"DERSIM_API_TOKEN": "from-env"})
    assert flagged.api_token == "from-flag"


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--api_token", ""], {}),
        ([], {"DERSIM_API_TOKEN": ""}),
        (["--api_token", "has space"], {}),
        (["--api_token"], {}),
    ],
    ids=["empty-flag", "empty-env", "space", "missing-value"],
)
def test_an_unusable_token_is_refused(argv: list[str], environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        parse_args(argv, environ=environ)


def test_the_cli_exits_2_on_an_empty_token_without_echoing_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--api_token", ""]) == 2
    err = capsys.readouterr().err
    assert "--api_token" in err
    assert "empty" in err


def test_a_refused_token_is_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "secret with-space"
    assert main(["--api_token", secret]) == 2
    captured = capsys.readouterr()
    assert secret not in captured.err + captured.out
    assert "with-space" not in captured.err + captured.out
