"""The quart-trio front end: overview, devices, server-info, the telemetry WebSocket, docs.

The app only reads the hub (and, through ``ServerContext``, a few run facts); it never drives the
simulation. It is importable on its own for ``hypercorn -k trio`` (see ``dersim_trio.asgi``).
"""

from __future__ import annotations

import dataclasses
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata, resources
from typing import Any

import trio
from quart import Response, request, websocket
from quart_schema import QuartSchema, document_querystring, document_response
from quart_schema.openapi import OpenAPIProvider
from quart_trio import QuartTrio

from dersim_trio import __version__
from dersim_trio.api.common import DeviceQuery, ErrorBody
from dersim_trio.api.schema import Snapshot
from dersim_trio.api.server import HubStatisticsModel, ServerInfo
from dersim_trio.service.history import History
from dersim_trio.service.hub import Hub
from dersim_trio.service.logbuffer import LogBuffer
from dersim_trio.service.operator import Controller
from dersim_trio.setup.config import SimConfig
from dersim_trio.web.asgi_shield import ShieldHttpSends
from dersim_trio.web.auth import AUTH_ENABLED_CONFIG_KEY, document_api_guard, install_api_guard
from dersim_trio.web.bodies import MAX_BODY_BYTES
from dersim_trio.web.http_errors import error_response, install_error_handlers
from dersim_trio.web.params import DeviceParamError, device_query, parse_device
from dersim_trio.web.routes.control import register_control_routes
from dersim_trio.web.routes.grid import register_grid_routes
from dersim_trio.web.routes.inputs import register_input_routes
from dersim_trio.web.routes.misc import register_misc_routes
from dersim_trio.web.routes.observe import register_observe_routes

log = logging.getLogger("dersim_trio.WS")

TELEMETRY_PATHS = ("/api/dersim/ws/telemetry", "/api/dersim/telemetry/ws")
_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
}
_STATIC_FOLDERS = ("swagger-ui", "redoc", "uplot", "dashboard")
_VENDORED_FOLDERS = frozenset({"swagger-ui", "redoc", "uplot"})
DASHBOARD_PAGE = "dashboard/index.html"


@dataclass(slots=True)
class ServerContext:
    """Run facts the front end reports (filled by the service)."""

    device_type: str
    device_count: int
    device_profile_name: str | None
    periodic_time_s: float
    time_scale: float
    wall_clock: bool
    timezone: str
    seed: int
    started_at: str
    started_trio_time: float
    fast_path: bool = False
    request_shutdown: Callable[[], None] | None = None
    """Begins the service's graceful shutdown (``POST /api/dersim/stop``); None under plain
    hypercorn, which owns the process."""

    @classmethod
    def for_run(
        cls,
        config: SimConfig,
        started_wall: datetime,
        started_trio_time: float,
        *,
        fast_path: bool = False,
        request_shutdown: Callable[[], None] | None = None,
    ) -> ServerContext:
        """The run facts of a configuration started at ``started_wall`` (timezone-aware)."""
        return cls(
            device_type=config.device_type,
            device_count=config.device_count,
            device_profile_name=config.device_profile_name,
            periodic_time_s=config.periodic_time_s,
            time_scale=config.time_scale,
            wall_clock=config.wall_clock,
            timezone=config.timezone,
            seed=config.seed,
            started_at=started_wall.astimezone(UTC).isoformat(timespec="seconds"),
            started_trio_time=started_trio_time,
            fast_path=fast_path,
            request_shutdown=request_shutdown,
        )


class _WebSocketDocumentingProvider(OpenAPIProvider):
    """quart-schema skips WebSocket routes; include them (documented as GET + 101)."""

    def generate_rules(self) -> Any:
        for rule in self._app.url_map.iter_rules():
            view = self._app.view_functions[rule.endpoint]
            if getattr(view, "_quart_schema_hidden", False) or rule.endpoint == "static":
                continue
            yield rule

    def schema(self) -> dict[str, Any]:
        """The generated document plus the mutation guard's 401/415 and bearer scheme."""
        auth_enabled = bool(self._app.config.get(AUTH_ENABLED_CONFIG_KEY))
        return document_api_guard(super().schema(), auth_enabled=auth_enabled)


def _static_type(name: str) -> str | None:
    """The content type of a servable static file, or None for files not served."""
    base = name.rsplit("/", 1)[-1]
    if base == "LICENSE":
        return _STATIC_TYPES["LICENSE"]
    dot = base.rfind(".")
    return _STATIC_TYPES.get(base[dot:]) if dot > 0 else None


def _load_static() -> dict[str, bytes]:
    """Every servable static file (documentation UIs, dashboard, uPlot), read once at start."""
    root = resources.files("dersim_trio.web") / "static"
    files: dict[str, bytes] = {}
    for folder in _STATIC_FOLDERS:
        for entry in (root / folder).iterdir():
            if entry.is_file() and _static_type(entry.name) is not None:
                files[f"{folder}/{entry.name}"] = entry.read_bytes()
    return files


def create_app(
    hub: Hub,
    context: ServerContext,
    controller: Controller | None = None,
    *,
    api_token: str | None = None,
    history: History | None = None,
    logs: LogBuffer | None = None,
) -> QuartTrio:
    """Build the quart-trio app serving ``hub`` (which the caller ticks).

    With a ``controller`` the run-time control routes (inputs, ...) are added; without one the
    app is read-only. With an ``api_token`` every mutating request needs it as a bearer token
    (``web/auth.py``). With ``history`` and ``logs`` (which the caller fills) the
    ``/history`` and ``/logs`` routes are added (``web/routes_observe.py``).
    """
    app = QuartTrio("dersim_trio", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.asgi_app = ShieldHttpSends(app.asgi_app)  # type: ignore[method-assign]
    app.config["QUART_SCHEMA_SWAGGER_JS_URL"] = "/static/swagger-ui/swagger-ui-bundle.js"
    app.config["QUART_SCHEMA_SWAGGER_CSS_URL"] = "/static/swagger-ui/swagger-ui.css"
    app.config["QUART_SCHEMA_REDOC_JS_URL"] = "/static/redoc/redoc.standalone.js"
    QuartSchema(
        app,
        info={"title": "dersim-trio", "version": __version__},
        redoc_ui_path="/redoc",
        scalar_ui_path=None,
        swagger_ui_path="/docs",
        openapi_provider_class=_WebSocketDocumentingProvider,
    )
    install_api_guard(app, api_token)
    static_files = _load_static()
    versions = {name: metadata.version(name) for name in ("trio", "hypercorn")}

    @app.get("/")
    async def index() -> Response:
        """The live dashboard (a static page on top of this API and the telemetry WebSocket)."""
        response = Response(static_files[DASHBOARD_PAGE], content_type=_STATIC_TYPES[".html"])
        response.cache_control.no_cache = True
        return response

    @app.get("/static/<path:name>")
    async def static_asset(name: str) -> Response:
        """Dashboard and vendored assets (served from memory; the machine may be offline)."""
        body = static_files.get(name)
        content_type = _static_type(name)
        if body is None or content_type is None:
            return error_response(404, "not_found", f"no static file {name!r}")
        response = Response(body, content_type=content_type)
        if name.split("/", 1)[0] in _VENDORED_FOLDERS:
            response.cache_control.max_age = 86400
        else:
            response.cache_control.no_cache = True  # the dashboard changes with the server
        return response

    @app.get("/api/dersim/overview")
    @document_querystring(DeviceQuery)
    @document_response(Snapshot, 200)
    @document_response(ErrorBody, 400)
    async def overview() -> Response:
        """The latest snapshot of one device (default 0): the same bytes the stream sends."""
        device = device_query(request.args.get("device"), hub.device_count)
        return Response(hub.last.data[device], content_type="application/json")

    @app.get("/api/dersim/devices")
    @document_response(list[Snapshot], 200)
    async def devices() -> Response:
        """Every device's latest snapshot, in device order."""
        body = b"[" + b",".join(hub.last.data) + b"]"
        return Response(body, content_type="application/json")

    @app.get("/api/dersim/server-info")
    @document_response(ServerInfo, 200)
    async def server_info() -> Response:
        """Version, build and run facts, with the broadcaster's counters."""
        stats = hub.statistics()
        last = hub.last
        info = ServerInfo(
            name="dersim-trio",
            version=__version__,
            python_version=platform.python_version(),
            trio_version=versions["trio"],
            hypercorn_version=versions["hypercorn"],
            device_type=context.device_type,
            device_count=context.device_count,
            device_profile_name=context.device_profile_name,
            periodic_time_s=context.periodic_time_s,
            time_scale=context.time_scale,
            wall_clock=context.wall_clock,
            timezone=context.timezone,
            seed=context.seed,
            started_at=context.started_at,
            uptime_s=trio.current_time() - context.started_trio_time,
            tick=last.tick,
            clock_time=_clock_time_of(last.text[0]),
            fast_path=context.fast_path,
            statistics=HubStatisticsModel.model_validate(dataclasses.asdict(stats)),
        )
        return Response(info.model_dump_json(), content_type="application/json")

    for path in TELEMETRY_PATHS:
        _add_telemetry_route(app, hub, path)

    if controller is not None:
        register_input_routes(app, controller)
        register_control_routes(app, controller)
        register_grid_routes(app, controller)
        register_misc_routes(app, controller, context.request_shutdown)
    if history is not None and logs is not None:
        register_observe_routes(app, history, logs)

    install_error_handlers(app)
    return app


def _add_telemetry_route(app: QuartTrio, hub: Hub, path: str) -> None:
    """Register the telemetry WebSocket at ``path`` (its own view, so OpenAPI ids stay unique)."""
    name = "telemetry" + path.replace("/api/dersim", "").replace("/", "_")

    async def telemetry() -> None:
        """Live telemetry: the cached snapshot(s) at once, then one message per device per tick.

        `?device=N` streams only device N; anything but an integer in [0, N) is accepted and then
        closed with 1008 and a reason. Each message is the `Snapshot` JSON in a text frame.
        """
        await serve_telemetry(hub, websocket.args.get("device"), _peer())

    telemetry.__name__ = telemetry.__qualname__ = name
    document_querystring(DeviceQuery)(telemetry)
    document_response(Snapshot, 101)(telemetry)
    app.add_websocket(path, endpoint=name, view_func=telemetry)


def _clock_time_of(payload_text: str) -> str:
    marker = '"clock_time":"'
    start = payload_text.find(marker) + len(marker)
    return payload_text[start : start + 8]


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
        device = parse_device(device_raw, hub.device_count)
    except DeviceParamError as exc:
        log.info("WebSocket %s rejected: %s", peer, exc)
        await websocket.close(1008, str(exc))
        return
    log.info("WebSocket connect from %s (device=%s)", peer, "all" if device is None else device)
    reason = "client disconnected"
    try:
        with hub.subscribe(device) as sub:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain_client_frames)
                slot = sub.slot
                send = websocket.send
                count_sent: Callable[[int], None] = hub.count_sent
                try:
                    while True:
                        item = await slot.receive()
                        messages = item.for_device(device)
                        for message in messages:
                            await send(message)
                        count_sent(len(messages))
                except trio.EndOfChannel:
                    reason = "server shutting down"
                    await websocket.close(1001, "server shutting down")
                nursery.cancel_scope.cancel()
    finally:
        log.info("WebSocket disconnect from %s (%s)", peer, reason)


async def _drain_client_frames() -> None:
    while True:
        await websocket.receive()
