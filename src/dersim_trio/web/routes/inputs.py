"""Run-time simulation inputs: ``GET``/``PUT /api/dersim/devices/{index}/inputs`` and
``PUT /api/dersim/inputs`` (every device)."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.inputs import InputsState, InputsStateList, InputsUpdate
from dersim_trio.service.operator import Controller
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_list_response, json_response, read_json_body
from dersim_trio.web.routes import API_PREFIX, DEVICE_PATH


def inputs_blueprint(controller: Controller) -> Blueprint:
    """The inputs routes over ``controller``."""
    bp = tagged(Blueprint("inputs", __name__, url_prefix=API_PREFIX), "inputs")

    @bp.get(f"{DEVICE_PATH}/inputs")
    @document_response(InputsState, 200)
    @document_response(ErrorBody, 404)
    async def get_inputs(index: int) -> Response:
        """One device's input overrides.

        null: the input follows the device's profile or model.
        """
        return json_response(controller.inputs(index))

    @bp.put(f"{DEVICE_PATH}/inputs")
    @document_request(InputsUpdate)
    @document_response(InputsState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def put_inputs(index: int) -> Response:
        """Override inputs of one device.

        A number overrides the input; null returns it to the profile or model.

        Only the fields present change. The effect shows in the next tick's snapshot.
        """
        body = await read_json_body(InputsUpdate)
        return json_response(controller.update_inputs(index, body)[0])

    @bp.put("/inputs")
    @document_request(InputsUpdate)
    @document_response(InputsStateList, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def put_all_inputs() -> Response:
        """Apply the same input overrides to every device."""
        body = await read_json_body(InputsUpdate)
        return json_list_response(controller.update_inputs(None, body))

    return bp
