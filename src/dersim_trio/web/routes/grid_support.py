"""IEEE 1547 grid support: ``GET``/``PUT /api/dersim/devices/{index}/grid-support`` and
``PUT /api/dersim/grid-support`` (every device). The routes only translate HTTP to
``Controller`` calls; the functions live in ``grid/``."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.grid_support import GridSupportState, GridSupportStateList, GridSupportUpdate
from dersim_trio.service.operator import Controller
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_list_response, json_response, read_json_body
from dersim_trio.web.routes import API_PREFIX, DEVICE_PATH


def grid_support_blueprint(controller: Controller) -> Blueprint:
    """The grid-support routes over ``controller``."""
    bp = tagged(Blueprint("grid_support", __name__, url_prefix=API_PREFIX), "grid-support")

    @bp.get(f"{DEVICE_PATH}/grid-support")
    @document_response(GridSupportState, 200)
    @document_response(ErrorBody, 404)
    async def get_grid_support(index: int) -> Response:
        """One device's IEEE 1547-2018 grid-support settings, one object per function.

        Names follow the SunSpec DER models (703 enter service, 704 PF / var / W limit, 705
        volt-var, 706 volt-watt, 707-710 trips, 711 frequency droop, 712 watt-var) in snake
        case with units. Sent back unchanged as a PUT body, it changes nothing.
        """
        return json_response(controller.grid_support(index))

    @bp.put(f"{DEVICE_PATH}/grid-support")
    @document_request(GridSupportUpdate)
    @document_response(GridSupportState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def put_grid_support(index: int) -> Response:
        """Change one device's grid-support settings; only what the body names changes.

        category first loads the default settings of those IEEE 1547 categories; null
        returns a field or a function to the default of the device's categories. Points must be
        in order and inside the standard's ranges (some depend on the category); a refused body
        (422, each field with its allowed range) changes nothing. Effective from the next tick.
        """
        body = await read_json_body(GridSupportUpdate)
        return json_response(controller.update_grid_support(index, body)[0])

    @bp.put("/grid-support")
    @document_request(GridSupportUpdate)
    @document_response(GridSupportStateList, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def put_all_grid_support() -> Response:
        """Apply the same grid-support change to every device.

        All or none: a body refused for one device changes no device.
        """
        body = await read_json_body(GridSupportUpdate)
        return json_list_response(controller.update_grid_support(None, body))

    return bp
