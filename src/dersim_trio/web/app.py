"""The quart-trio app: the API, the telemetry WebSocket route, the dashboard and the docs.

``create_app`` registers one blueprint per resource (``web/routes/``), the mutation guard
(``web/auth.py``), the error handlers (``web/http_errors.py``) and the OpenAPI document
(``/openapi.json``, ``/docs``, ``/redoc``). The app reads the hub and calls the operator façade;
it never drives the simulation. It is built by ``service.run.ServiceParts`` for both launch
modes (``dersim-trio`` and ``hypercorn -k trio dersim_trio.asgi:app``).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from quart import Quart
from quart_schema import QuartSchema
from quart_schema.openapi import OpenAPIProvider
from quart_trio import QuartTrio
from werkzeug.routing import Rule

from dersim_trio import __version__
from dersim_trio.service.history import History
from dersim_trio.service.hub import Hub
from dersim_trio.service.logbuffer import LogBuffer
from dersim_trio.service.metrics import ServiceMetrics
from dersim_trio.service.operator import Controller
from dersim_trio.web.asgi_shield import ShieldHttpSends
from dersim_trio.web.auth import AUTH_ENABLED_CONFIG_KEY, document_api_guard, install_api_guard
from dersim_trio.web.bodies import BODY_TIMEOUT_S, MAX_BODY_BYTES
from dersim_trio.web.context import ServerContext
from dersim_trio.web.framing import RefuseAmbiguousFraming
from dersim_trio.web.hosts import HostGuard, HostPolicy
from dersim_trio.web.http_errors import install_error_handlers
from dersim_trio.web.metrics import RequestCounter, install_request_counter
from dersim_trio.web.params import DEVICE_INDEX_CONVERTER, DeviceIndexConverter
from dersim_trio.web.routes.commands import commands_blueprint
from dersim_trio.web.routes.controls import controls_blueprint
from dersim_trio.web.routes.dciv import dciv_blueprint
from dersim_trio.web.routes.faults import faults_blueprint
from dersim_trio.web.routes.grid_events import grid_events_blueprint
from dersim_trio.web.routes.grid_support import grid_support_blueprint
from dersim_trio.web.routes.history import history_blueprint
from dersim_trio.web.routes.inputs import inputs_blueprint
from dersim_trio.web.routes.logs import logs_blueprint
from dersim_trio.web.routes.metrics import metrics_blueprint
from dersim_trio.web.routes.pages import pages_blueprint
from dersim_trio.web.routes.server import server_blueprint
from dersim_trio.web.routes.telemetry import telemetry_blueprint

__all__ = ["ServerContext", "create_app"]


class _WebSocketDocumentingProvider(OpenAPIProvider):
    """quart-schema skips WebSocket routes; include them (documented as GET + 101).

    Only quart-schema's documented extension points are used (the constructor and the
    overridable ``generate_rules`` and ``schema``), none of its private attributes.
    """

    def __init__(self, app: Quart, extension: QuartSchema) -> None:
        super().__init__(app, extension)
        self._quart_app = weakref.proxy(app)  # the app holds this provider: no strong cycle

    def generate_rules(self) -> Iterable[Rule]:
        """quart-schema's HTTP rules, then every WebSocket rule."""
        yield from super().generate_rules()
        yield from (rule for rule in self._quart_app.url_map.iter_rules() if rule.websocket)

    def schema(self) -> dict[str, Any]:
        """The generated document plus the mutation guard's 401/415 and bearer scheme."""
        auth_enabled = bool(self._quart_app.config.get(AUTH_ENABLED_CONFIG_KEY))
        return document_api_guard(super().schema(), auth_enabled=auth_enabled)


def create_app(
    hub: Hub,
    context: ServerContext,
    controller: Controller | None = None,
    *,
    api_token: str | None = None,
    history: History | None = None,
    logs: LogBuffer | None = None,
    hosts: HostPolicy | None = None,
    metrics: ServiceMetrics | None = None,
) -> QuartTrio:
    """Build the quart-trio app serving ``hub`` (which the caller ticks).

    With a ``controller`` the run-time control routes (inputs, controls, commands, faults,
    dc-iv) are added; without one the app is read-only. With an ``api_token`` every mutating
    request needs it as a bearer token (``web/auth.py``). With ``history`` and ``logs`` (which
    the caller fills) the ``/history`` and ``/logs`` routes are added. ``hosts`` is the Host
    rule (``web/hosts.py``; default: the loopback names on the server's port). With
    ``metrics`` (the service's registry) ``GET /metrics`` serves it, with the app's HTTP
    request counter added.
    """
    app = QuartTrio("dersim_trio", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT_S
    # the request rules around the app (web/framing.py, web/hosts.py, web/asgi_shield.py)
    app.asgi_app = RefuseAmbiguousFraming(  # type: ignore[method-assign]
        HostGuard(ShieldHttpSends(app.asgi_app), hosts or HostPolicy())
    )
    app.url_map.converters[DEVICE_INDEX_CONVERTER] = DeviceIndexConverter
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
    app.register_blueprint(pages_blueprint())
    app.register_blueprint(telemetry_blueprint(hub))
    app.register_blueprint(server_blueprint(hub, context))
    if controller is not None:
        for blueprint in (
            inputs_blueprint(controller),
            controls_blueprint(controller),
            commands_blueprint(controller),
            faults_blueprint(controller),
            grid_support_blueprint(controller),
            grid_events_blueprint(controller),
            dciv_blueprint(controller),
        ):
            app.register_blueprint(blueprint)
    if history is not None and logs is not None:
        app.register_blueprint(history_blueprint(history))
        app.register_blueprint(logs_blueprint(logs))
    if metrics is not None:
        counter = RequestCounter()
        metrics.register(counter)
        install_request_counter(app, counter)
        app.register_blueprint(metrics_blueprint(metrics))
    install_error_handlers(app)
    return app
