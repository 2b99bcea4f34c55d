"""``GET``/``PUT /api/dersim/devices/{index}/controls``: a device's operator setpoints (SunSpec
704 style). The routes only translate HTTP to ``Controller`` calls; the rules live in
``controls/``."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.controls import ControlsState, ControlsUpdate
from dersim_trio.service.operator import Controller
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_response, read_json_body
from dersim_trio.web.routes import API_PREFIX, DEVICE_PATH


def controls_blueprint(controller: Controller) -> Blueprint:
    """The controls routes over ``controller``."""
    bp = tagged(Blueprint("controls", __name__, url_prefix=API_PREFIX), "controls")

    @bp.get(f"{DEVICE_PATH}/controls")
    @document_response(ControlsState, 200)
    @document_response(ErrorBody, 404)
    async def get_controls(index: int) -> Response:
        """One device's controls (setpoints, priority, ramp, reversion timers, clamps)."""
        return json_response(controller.controls(index))

    @bp.put(f"{DEVICE_PATH}/controls")
    @document_request(ControlsUpdate)
    @document_response(ControlsState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def put_controls(index: int) -> Response:
        """Change one device's controls.

        Only the fields present change; null returns a field to its default. power_factor
        (magnitude 0.8..1.0, with excitation) and reactive_power_setpoint_kvar are mutually
        exclusive. Values beyond a rating are clamped and listed in clamped.
        active_power_setpoint_kw is refused (422) on PV and wind. revert_after_s returns the
        setpoints of this body to their defaults after that many simulated seconds. The effect
        shows from the next tick.
        """
        body = await read_json_body(ControlsUpdate)
        return json_response(controller.update_controls(index, body))

    return bp
