"""Grid events: ``POST``/``GET``/``DELETE /api/dersim/grid-events`` (a voltage and/or frequency
time series played to one device or every device; the rules are in ``grid/events.py``)."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.grid_events import GridEventRequest, GridEventState
from dersim_trio.service.operator import Controller
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_response, read_json_body
from dersim_trio.web.routes import API_PREFIX


def grid_events_blueprint(controller: Controller) -> Blueprint:
    """The grid-event routes over ``controller``."""
    bp = tagged(Blueprint("grid_events", __name__, url_prefix=API_PREFIX), "grid-events")

    @bp.get("/grid-events")
    @document_response(GridEventState, 200)
    async def get_grid_event() -> Response:
        """The grid event in force.

        active false: none. Also how far into it the simulation is, and whether it is past its
        data (holding).
        """
        return json_response(controller.grid_event())

    @bp.post("/grid-events")
    @document_request(GridEventRequest)
    @document_response(GridEventState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def post_grid_event() -> Response:
        """Play a voltage and/or frequency time series to the devices.

        To one device (device; an unknown one is a 404 device_not_found) or to every device
        (null or absent), replacing any event in force. t_s is simulated seconds after the start
        (now); each series starts at 0 and never goes back in time; values ramp linearly between
        points and two points at one time make a step. A quantity without a series comes from
        the devices' inputs. Past its last point the event holds the last value (logged) until
        DELETE or the next POST. The trip timers see the series at 10 ms resolution, inside the
        tick.
        """
        body = await read_json_body(GridEventRequest)
        return json_response(controller.start_grid_event(body))

    @bp.delete("/grid-events")
    @document_response(GridEventState, 200)
    async def delete_grid_event() -> Response:
        """End the grid event in force (none: nothing changes); the inputs apply again."""
        return json_response(controller.end_grid_event())

    return bp
