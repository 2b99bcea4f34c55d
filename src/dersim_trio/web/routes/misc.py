"""``GET /api/dersim/dc-iv`` (the PV string's I-V curve and operating point) and
``POST /api/dersim/stop`` (graceful shutdown of the whole service)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from quart import Response, request
from quart_schema import document_querystring, document_response
from quart_trio import QuartTrio

from dersim_trio.api.common import DeviceQuery, ErrorBody
from dersim_trio.api.dciv import DcIv
from dersim_trio.api.server import StopAccepted
from dersim_trio.service.operator import Controller
from dersim_trio.web.http_errors import error_response
from dersim_trio.web.params import device_query

log = logging.getLogger("dersim_trio.API")


def _json(payload: str, status: int = 200) -> Response:
    return Response(payload, status=status, content_type="application/json")


def register_misc_routes(
    app: QuartTrio,
    controller: Controller,
    request_shutdown: Callable[[], None] | None,
) -> None:
    """Add dc-iv and stop to ``app``; ``request_shutdown`` None means stop answers 501."""

    @app.get("/api/dersim/dc-iv")
    @document_querystring(DeviceQuery)
    @document_response(DcIv, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 503)
    async def dc_iv() -> Response:
        """The PV string's I-V curve and operating point of one device (default 0).

        For PV and HybridDC devices, at the irradiance and cell temperature of the last tick;
        `p` in W. Other device types: 404 `not_applicable`.
        """
        index = device_query(request.args.get("device"), controller.device_count)
        return _json(controller.dc_iv(index).model_dump_json())

    @app.post("/api/dersim/stop")
    @document_response(StopAccepted, 202)
    @document_response(ErrorBody, 501)
    async def stop() -> Response:
        """Shut the server down gracefully: WebSocket clients get close 1001, the process exits 0.

        Not available when the app runs under plain hypercorn (501): stop hypercorn instead.
        """
        if request_shutdown is None:
            return error_response(
                501,
                "not_implemented",
                "this server runs under plain hypercorn (dersim_trio.asgi), which owns the "
                "process: stop it with SIGTERM or SIGINT",
            )
        log.info("shutdown requested through POST /api/dersim/stop")
        request_shutdown()
        return _json(StopAccepted(status="shutting down").model_dump_json(), 202)
