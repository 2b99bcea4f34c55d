"""Guarding the mutating API: the bearer token and the JSON-only rule, in one request hook.

Reads (``GET``/``HEAD``/``OPTIONS`` and the telemetry WebSocket) stay open, as the documented
DERSim API is. Every mutating request (``POST``/``PUT``/``PATCH``/``DELETE``) under
``/api/dersim/``:

1. needs ``Authorization: Bearer <token>`` when the server runs with ``--api_token`` (or
   ``DERSIM_API_TOKEN``); else 401 with ``WWW-Authenticate: Bearer``. The comparison is
   constant-time (``hmac.compare_digest``) and the token is never logged or echoed.
2. needs ``Content-Type: application/json`` (else 415) and a JSON body (else 400), even on
   routes that take no fields (``{}`` then): ``POST /api/dersim/stop`` included. A web page
   can make a browser send a "simple" request cross-site without a CORS preflight, but only
   without a body or with ``application/x-www-form-urlencoded``, ``multipart/form-data`` or
   ``text/plain``: none of them passes, so no page can drive the simulator (or stop the server)
   through a visitor's browser. (The Host rule, ``web/hosts.py``, keeps pages out after a DNS
   rebinding, when they could send JSON.) The body is parsed here, so a body nested too deeply
   or not JSON is a 400 on every mutating route.

A request for a path that is no route (404) or a method the route does not have (405) is
answered as such before the token is checked: routes are public knowledge (``/openapi.json``).
On a route, the token is checked first, so an unauthenticated client learns nothing more.
"""

from __future__ import annotations

import hmac
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio

from dersim_trio.api.bodies import EMPTY_BODY_DETAIL
from dersim_trio.api.common import ErrorBody
from dersim_trio.web.bodies import parse_json
from dersim_trio.web.http_errors import RequestError, error_response

API_PREFIX = "/api/dersim/"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BEARER_SCHEME_NAME = "bearerAuth"
AUTH_ENABLED_CONFIG_KEY = "DERSIM_AUTH_ENABLED"
"""``app.config`` flag (a bool, never the token) read by the OpenAPI provider."""


def _unauthorized(detail: str, *, invalid: bool) -> Response:
    response = error_response(401, "unauthorized", detail)
    challenge = 'Bearer realm="dersim"'
    if invalid:
        challenge += ', error="invalid_token"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def _presented_token(header: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <token>`` header (None if not Bearer)."""
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def install_api_guard(app: QuartTrio, api_token: str | None) -> None:
    """Add the before-request hook enforcing the token (if any) and JSON-only mutations."""
    expected = api_token.encode("utf-8") if api_token is not None else None
    app.config[AUTH_ENABLED_CONFIG_KEY] = expected is not None

    @app.before_request
    async def guard_mutations() -> Response | None:
        if request.method not in MUTATING_METHODS or not request.path.startswith(API_PREFIX):
            return None
        if request.routing_exception is not None:
            return None  # quart answers it: 404 (no route, e.g. an absurd index) or 405
        if expected is not None:
            header = request.headers.get("Authorization")
            presented = _presented_token(header)
            if presented is None:
                return _unauthorized(
                    "this request changes the simulator and needs the header "
                    "'Authorization: Bearer <token>' (the server's --api_token)",
                    invalid=header is not None,
                )
            if not hmac.compare_digest(presented.encode("utf-8"), expected):
                return _unauthorized("the bearer token is not valid", invalid=True)
        mimetype = request.mimetype
        if mimetype != "application/json":
            raise RequestError(
                415,
                "unsupported_media_type",
                "mutating requests need 'Content-Type: application/json' and a JSON body "
                f"({{}} if nothing else); got {mimetype or 'no Content-Type'}",
            )
        raw = await request.get_data(as_text=False)  # cached: the route reads it again
        if not raw.strip():
            raise RequestError(400, "invalid_json", EMPTY_BODY_DETAIL)
        parse_json(raw)  # RequestError 400 if not JSON or nested too deeply
        return None


def document_api_guard(schema: dict[str, Any], *, auth_enabled: bool) -> dict[str, Any]:
    """Add the guard's answers to the OpenAPI document of every mutating ``/api/dersim/`` route.

    Always the 400 and 415; with a token configured also the bearer security scheme and the 401.
    """
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if "ErrorBody" not in schemas:
        error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(error_schema.pop("$defs", {}))
        schemas["ErrorBody"] = error_schema
    if auth_enabled:
        components.setdefault("securitySchemes", {})[BEARER_SCHEME_NAME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "The token the server was started with (--api_token or "
            "DERSIM_API_TOKEN); required on POST/PUT/PATCH/DELETE, reads stay open.",
        }
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in operations.items():
            if method.upper() not in MUTATING_METHODS:
                continue
            # Methods of one route share one responses dict: copy before adding.
            responses = operation["responses"] = dict(operation.get("responses", {}))
            added = {
                400: "The body is empty, not JSON, or nested too deeply.",
                415: "The request is not 'Content-Type: application/json'.",
            }
            if auth_enabled:
                operation["security"] = [{BEARER_SCHEME_NAME: []}]
                added[401] = "Missing or invalid bearer token."
            for code, description in added.items():
                if code not in responses and str(code) not in responses:
                    responses[code] = {"description": description, "content": error_content}
    return schema
