"""``GET``/``POST``/``DELETE /api/dersim/devices/{index}/faults``: injected fault conditions."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_request, document_response

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.controls import FaultClearRequest, FaultRequest, FaultsState
from dersim_trio.service.operator import Controller
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_response, read_json_body
from dersim_trio.web.routes import API_PREFIX, DEVICE_PATH


def faults_blueprint(controller: Controller) -> Blueprint:
    """The faults routes over ``controller``."""
    bp = tagged(Blueprint("faults", __name__, url_prefix=API_PREFIX), "faults")

    @bp.get(f"{DEVICE_PATH}/faults")
    @document_response(FaultsState, 200)
    @document_response(ErrorBody, 404)
    async def get_faults(index: int) -> Response:
        """The fault conditions present on a device and whether it is latched in fault."""
        return json_response(controller.faults(index))

    @bp.post(f"{DEVICE_PATH}/faults")
    @document_request(FaultRequest)
    @document_response(FaultsState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def post_fault(index: int) -> Response:
        """Inject a fault condition into one device.

        The device goes to inverter_state "fault" with output 0, and its status message names
        the fault. grid_disconnect also makes connection_state "disconnected". Recovery: clear
        the condition (DELETE), then the reset command.
        """
        body = await read_json_body(FaultRequest)
        return json_response(controller.inject_fault(index, body.type))

    @bp.delete(f"{DEVICE_PATH}/faults")
    @document_request(FaultClearRequest)
    @document_response(FaultsState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def delete_faults(index: int) -> Response:
        """Clear one fault condition, or all of them.

        A body {"type": ...} clears that condition; no body clears all. Then send the reset
        command.
        """
        raw = await request.get_data(cache=True, as_text=False)
        fault = (await read_json_body(FaultClearRequest)).type if raw.strip() else None
        return json_response(controller.clear_fault(index, fault))

    return bp
