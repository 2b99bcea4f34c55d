"""``GET /api/dersim/dc-iv`` (the PV string's I-V curve and operating point) and
``POST /api/dersim/stop`` (graceful shutdown of the whole service)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from quart import Response, request
from quart_schema import document_querystring, document_response
from quart_trio import QuartTrio

from dersim_trio.api.common import DeviceQuery, ErrorBody
from dersim_trio.api.dciv import DcIv, DcIvPoint
from dersim_trio.api.server import StopAccepted
from dersim_trio.engine.core import DeviceSlot
from dersim_trio.physics.base import AssetValue
from dersim_trio.physics.pv import IvPoint
from dersim_trio.service.operator import Controller
from dersim_trio.web.http_errors import error_response
from dersim_trio.web.params import device_query

log = logging.getLogger("dersim_trio.API")

IV_CURVE_POINTS = 101
"""Samples per curve: linear interpolation between them is within 0.1 % of I_sc and P_mp."""


@runtime_checkable
class _IvCurveSource(Protocol):
    """What a PV-bearing model offers (``PvModel``, ``HybridModel``)."""

    def iv_curve(self, g_w_m2: float, cell_temp_c: float, points: int = ...) -> list[IvPoint]:
        """The string's I-V curve at an irradiance and cell temperature."""
        ...


def _number(asset: Mapping[str, AssetValue], key: str) -> float:
    value = asset.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def _operating_point(slot: DeviceSlot) -> tuple[float, float, float] | None:
    """(V, A, W) of the PV string from the last output, None before the first evaluation."""
    out = slot.last_output
    if out is None:
        return None
    if slot.model.asset_type == "hybrid-dc":
        # The hybrid's DC voltage is the bus; the string's operating point is in the asset.
        asset = out.asset
        return (
            _number(asset, "pv_voltage_v"),
            _number(asset, "pv_current_a"),
            _number(asset, "pv_power_kw") * 1000.0,
        )
    return out.dc_voltage_v, out.dc_current_a, out.dc_power_kw * 1000.0


def dc_iv_of(slot: DeviceSlot) -> DcIv | None:
    """The dc-iv answer for a PV or hybrid device (None before its first evaluation)."""
    model = slot.model
    assert isinstance(model, _IvCurveSource)
    point = _operating_point(slot)
    if point is None or slot.last_output is None:
        return None
    asset = slot.last_output.asset
    irradiance = _number(asset, "irradiance_w_m2")
    cell_c = _number(asset, "cell_temperature_c")
    curve = model.iv_curve(irradiance, cell_c, IV_CURVE_POINTS)
    return DcIv(
        irradiance_w_m2=irradiance,
        cell_temperature_c=cell_c,
        operating_point=DcIvPoint(v=point[0], i=point[1], p=point[2]),
        curve=[DcIvPoint(v=v, i=i, p=p) for v, i, p in curve],
    )


def _json(payload: str, status: int = 200) -> Response:
    return Response(payload, status=status, content_type="application/json")


def register_misc_routes(
    app: QuartTrio,
    controller: Controller,
    request_shutdown: Callable[[], None] | None,
) -> None:
    """Add dc-iv and stop to ``app``; ``request_shutdown`` None means stop answers 501."""
    devices: Sequence[DeviceSlot] = controller.engine.devices

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
        slot = devices[device_query(request.args.get("device"), len(devices))]
        if not isinstance(slot.model, _IvCurveSource):
            return error_response(
                404,
                "not_applicable",
                f"dc-iv is available for PV and HybridDC devices; device {slot.index} is "
                f"{slot.model.asset_type}",
            )
        answer = dc_iv_of(slot)
        if answer is None:
            return error_response(503, "not_ready", "no tick has been computed yet; retry")
        return _json(answer.model_dump_json())

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
