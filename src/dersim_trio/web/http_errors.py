"""How an error becomes an HTTP answer: one JSON body shape, one handler per exception type.

Every 4xx/5xx body is ``ErrorBody`` (``{"error", "detail"[, "fields"]}``). Routes and the
operator façade raise; the handlers installed by ``install_error_handlers`` answer:

========================== ====== ====================
exception                  status ``error``
========================== ====== ====================
``RequestError``           its    its own (400 ``invalid_query``, 413, 415 ...)
``RequestRejected``        422    ``validation_error`` (with ``fields``)
``DeviceIndexError``       404    ``device_not_found``
``NotApplicableError``     404    ``not_applicable``
``NotReadyError``          503    ``not_ready``
``RequestEntityTooLarge``  413    ``body_too_large`` (states the limit in bytes)
``HTTPException``          its    its name (404 names the route, 405 the method)
========================== ====== ====================

Every body limit answers the same 413: quart's own check of ``MAX_CONTENT_LENGTH`` (a
``Content-Length`` over it, or a chunked body that grows past it) and ``web/bodies.py``'s check
of the bytes read both say ``body_too_large`` with ``body_limit_text``.
"""

from __future__ import annotations

from quart import (
    Response,
    current_app,
    has_request_context,
    has_websocket_context,
    request,
    websocket,
)
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from dersim_trio.api.common import ErrorBody, FieldError
from dersim_trio.errors import (
    DeviceIndexError,
    FieldProblem,
    NotApplicableError,
    NotReadyError,
    RequestRejected,
    problems_text,
)


def error_response(
    status: int, error: str, detail: str, fields: list[FieldError] | None = None
) -> Response:
    """A JSON error body ``{"error", "detail"[, "fields"]}`` with ``status``."""
    body = ErrorBody(error=error, detail=detail, fields=fields)
    return Response(
        body.model_dump_json(exclude_none=True), status=status, content_type="application/json"
    )


def _fields(problems: list[FieldProblem]) -> list[FieldError]:
    return [FieldError(field=p.field, message=p.message, allowed=p.allowed) for p in problems]


def body_limit_text(limit_bytes: int, length: int | None = None) -> str:
    """The detail of a 413: the limit in bytes (and the body's length when it is known)."""
    got = f"; got {length} bytes" if length is not None else ""
    return f"the request body must be at most {limit_bytes} bytes{got}"


class RequestError(Exception):
    """A request refused by the web layer itself (bad query, body too large, not JSON ...)."""

    def __init__(
        self, status: int, error: str, detail: str, problems: list[FieldProblem] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.problems = problems

    def response(self) -> Response:
        """The answer."""
        fields = _fields(self.problems) if self.problems is not None else None
        return error_response(self.status, self.error, self.detail, fields)


def install_error_handlers(app: QuartTrio) -> None:
    """Register the handlers of the table above on ``app``."""

    @app.errorhandler(RequestError)
    async def request_error(exc: RequestError) -> Response:
        return exc.response()

    @app.errorhandler(RequestRejected)
    async def rejected(exc: RequestRejected) -> Response:
        return error_response(
            422, "validation_error", problems_text(exc.problems), _fields(exc.problems)
        )

    @app.errorhandler(DeviceIndexError)
    async def device_not_found(exc: DeviceIndexError) -> Response:
        return error_response(404, "device_not_found", str(exc))

    @app.errorhandler(NotApplicableError)
    async def not_applicable(exc: NotApplicableError) -> Response:
        return error_response(404, "not_applicable", str(exc))

    @app.errorhandler(NotReadyError)
    async def not_ready(exc: NotReadyError) -> Response:
        return error_response(503, "not_ready", str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    async def body_too_large(exc: RequestEntityTooLarge) -> Response:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        length = request.content_length if has_request_context() else None
        return error_response(413, "body_too_large", body_limit_text(int(limit), length))

    @app.errorhandler(HTTPException)
    async def http_exception(exc: HTTPException) -> Response:
        code = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        detail = exc.description or name
        if has_request_context():
            method, path = request.method, request.path
        elif has_websocket_context():
            method, path = "WebSocket", websocket.path
        else:
            return error_response(code, name, detail)
        if code == 404:
            detail = f"no route for {method} {path}"
        elif code == 405:
            detail = f"method {method} not allowed on {path}"
        return error_response(code, name, detail)
