"""The OpenAPI document (``/openapi.json``, read by ``/docs`` and ``/redoc``): its description,
one tag per resource, and the provider that builds it.

quart-schema builds the document from the routes: a route's docstring gives its summary (first
line) and description (the rest), a model's docstring its response description. Three things
are added here, in ``ApiDocumentProvider.schema`` (quart-schema's documented override point):

- the WebSocket routes, which quart-schema skips (documented as GET + 101);
- the mutation guard's 401/415 and bearer scheme (``web/auth.py``);
- a plain-text pass: the docstrings are also the code's documentation and mark code with
  backticks; the document shows plain text (backticks dropped, wrapped lines joined into
  paragraphs, no leading or trailing blanks), so ReDoc, Swagger UI and a client generator show
  the same words. And every request and response schema quart-schema inlines is moved to
  ``components/schemas`` under its model's name, so each body is a named model.

Every route belongs to one tag (``TAGS``, set per blueprint with ``tag_blueprint``);
``tests/test_openapi_document.py`` keeps the document this way.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable
from typing import Any

from quart import Blueprint, Quart
from quart_schema import QuartSchema, Tag, tag_blueprint
from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule

from dersim_trio.web.auth import AUTH_ENABLED_CONFIG_KEY, document_api_guard

TITLE = "dersim-trio"
DESCRIPTION = """\
A simulator of distributed energy resources (PV inverters, batteries, wind turbines, fuel \
cells, hybrid PV + battery systems, EV chargers) for DERMS, SunSpec and IEEE 1547 test \
harnesses. Every tick it publishes one telemetry snapshot per device: GET /api/dersim/overview \
and /api/dersim/devices read the last one, the telemetry WebSocket streams every one.

Units are in the field names (kW, kvar, kVA, V, A, Hz, %, kWh); signs follow SunSpec: power > 0 \
flows into the grid. Every number in a snapshot is rounded to the resolution its field \
description states (SunSpec scale factors as the guide, e.g. 0.001 kW, 0.1 V, 0.01 Hz).

Devices are numbered 0..N-1 (N from GET /api/dersim/server-info). An index outside that range, \
in a path, in ?device= or in a body's device field, is a 404 device_not_found whose detail \
says which indices exist.

Every error is a JSON body {"error", "detail"[, "fields"]}: 400 a malformed query or JSON \
body, 401 a missing or wrong bearer token (when the server has one), 404 an unknown device or \
route, 408 a body that arrives too slowly, 413 a body over the limit (the detail states it), \
415 a body that is not application/json, 421 a Host header that does not name this server, \
422 a field out of range (fields names each one and what it allows).\
"""

TAGS: dict[str, str] = {
    "telemetry": "The last tick's snapshots over HTTP, and the telemetry WebSocket stream.",
    "server": "What this simulator process is, its counters, and shutting it down.",
    "inputs": "Run-time overrides of what a device's environment model supplies (irradiance, "
    "temperature, wind, grid voltage and frequency, site load).",
    "controls": "Operator set points of one device (SunSpec 704 style): active and reactive "
    "power, power factor, curtailment, ramp rate, reversion timers.",
    "commands": "Start, stop, reset, enter service and cease to energize, and their log.",
    "faults": "Injected fault conditions of one device, and clearing them.",
    "grid-support": "IEEE 1547-2018 grid-support settings (SunSpec models 703 to 712).",
    "grid-events": "A voltage and/or frequency time series played to the devices.",
    "dc-iv": "The PV string's I-V curve and operating point.",
    "history": "One device's recent telemetry as columns (the dashboard's Analytics tab).",
    "logs": "The in-process log buffer and its audit records.",
    "metrics": "Prometheus metrics of the process (text exposition format).",
    "dashboard": "The browser dashboard and its static assets.",
}
"""Tag name → its description, in the order the docs list them."""


def tagged(blueprint: Blueprint, tag: str) -> Blueprint:
    """``blueprint`` with every route under ``tag`` (one of ``TAGS``)."""
    if tag not in TAGS:
        raise ValueError(f"unknown OpenAPI tag {tag!r}; known: {', '.join(TAGS)}")
    tag_blueprint(blueprint, [tag])
    return blueprint


_CODE_MARK = re.compile(r"``?([^`]+?)``?")
_WRAPPED = re.compile(r"(?<=\S)\n(?=\S)")


def plain_text(text: str) -> str:
    """A docstring as the document shows it: code marks (backticks) dropped, lines joined within
    a paragraph, blank lines kept between paragraphs, stripped."""
    return _WRAPPED.sub(" ", _CODE_MARK.sub(r"\1", text)).strip()


def _plain(node: Any) -> None:
    """Apply ``plain_text`` to every summary and description under ``node`` (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("summary", "description") and isinstance(value, str):
                node[key] = plain_text(value)
            else:
                _plain(value)
    elif isinstance(node, list):
        for item in node:
            _plain(item)


def _name_bodies(document: dict[str, Any]) -> None:
    """Move every inlined request and response schema that has a model name (``title``) to
    ``components/schemas`` and refer to it (in place). A name already taken by a different
    schema leaves the body inline (the document test then names it)."""
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for item in document.get("paths", {}).values():
        for operation in item.values():
            bodies = [operation.get("requestBody", {})]
            bodies += list(operation.get("responses", {}).values())
            for body in bodies:
                for media in body.get("content", {}).values():
                    schema = media.get("schema")
                    if not isinstance(schema, dict) or "$ref" in schema or "title" not in schema:
                        continue
                    name = schema["title"]
                    if components.setdefault(name, schema) == schema:
                        media["schema"] = {"$ref": f"#/components/schemas/{name}"}


class ApiDocumentProvider(OpenAPIProvider):
    """quart-schema's provider with the additions of this module's docstring.

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
        """The generated document, guarded, named and in plain text."""
        auth_enabled = bool(self._quart_app.config.get(AUTH_ENABLED_CONFIG_KEY))
        document = document_api_guard(super().schema(), auth_enabled=auth_enabled)
        _name_bodies(document)
        _plain(document)
        return document


def install_api_docs(app: Quart, version: str) -> QuartSchema:
    """The OpenAPI document at ``/openapi.json``, Swagger UI at ``/docs``, ReDoc at ``/redoc``
    (their scripts served by the app itself, ``web/routes/pages.py``)."""
    app.config["QUART_SCHEMA_SWAGGER_JS_URL"] = "/static/swagger-ui/swagger-ui-bundle.js"
    app.config["QUART_SCHEMA_SWAGGER_CSS_URL"] = "/static/swagger-ui/swagger-ui.css"
    app.config["QUART_SCHEMA_REDOC_JS_URL"] = "/static/redoc/redoc.standalone.js"
    return QuartSchema(
        app,
        info={"title": TITLE, "version": version, "description": DESCRIPTION},
        tags=[Tag(name=name, description=text) for name, text in TAGS.items()],
        redoc_ui_path="/redoc",
        scalar_ui_path=None,
        swagger_ui_path="/docs",
        openapi_provider_class=ApiDocumentProvider,
    )
