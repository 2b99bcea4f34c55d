"""``GET /api/dersim/dc-iv``: the PV string's I-V curve and operating point."""

from __future__ import annotations

import json

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response

from dersim_trio.api.common import DeviceQuery, ErrorBody
from dersim_trio.api.dciv import DcIv, round_dc_iv_payload
from dersim_trio.service.operator import Controller
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_response
from dersim_trio.web.params import device_query
from dersim_trio.web.routes import API_PREFIX


def dciv_blueprint(controller: Controller) -> Blueprint:
    """The dc-iv route over ``controller``."""
    bp = tagged(Blueprint("dciv", __name__, url_prefix=API_PREFIX), "dc-iv")

    @bp.get("/dc-iv")
    @document_querystring(DeviceQuery)
    @document_response(DcIv, 200)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 503)
    async def dc_iv() -> Response:
        """The PV string's I-V curve and operating point of one device.

        Device 0 unless ?device= names another (an unknown device is a 404 device_not_found).
        For PV and HybridDC devices, at the irradiance and cell temperature of the last tick;
        v in V (0.1), i in A (0.01), p in W (1). Other device types: 404 not_applicable.
        """
        index = device_query(request.args.get("device"), controller.devices)
        rounded = round_dc_iv_payload(controller.dc_iv(index).model_dump())
        return json_response(json.dumps(rounded, separators=(",", ":")))

    return bp
