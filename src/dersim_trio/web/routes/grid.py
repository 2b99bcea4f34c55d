"""IEEE 1547 grid support: ``GET``/``PUT /api/dersim/devices/{index}/grid-support``,
``PUT /api/dersim/grid-support`` (every device), and the grid events
``POST``/``GET``/``DELETE /api/dersim/grid-events``.

The routes only translate HTTP to ``Controller`` calls; the functions live in ``grid/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from quart import Response
from quart_schema import document_request, document_response
from quart_trio import QuartTrio

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.grid_events import GridEventRequest, GridEventState
from dersim_trio.api.grid_support import GridSupportState, GridSupportUpdate
from dersim_trio.service.operator import Controller
from dersim_trio.web.bodies import read_json_body

GRID_SUPPORT_PATH = "/api/dersim/devices/<int(signed=True):index>/grid-support"
ALL_GRID_SUPPORT_PATH = "/api/dersim/grid-support"
GRID_EVENTS_PATH = "/api/dersim/grid-events"


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), content_type="application/json")


def _json_list(models: Sequence[BaseModel]) -> Response:
    body = "[" + ",".join(m.model_dump_json() for m in models) + "]"
    return Response(body, content_type="application/json")


def register_grid_routes(app: QuartTrio, controller: Controller) -> None:
    """Add the grid-support routes to ``app``."""

    @app.get(GRID_SUPPORT_PATH)
    @document_response(GridSupportState, 200)
    @document_response(ErrorBody, 404)
    async def get_grid_support(index: int) -> Response:
        """One device's IEEE 1547-2018 grid-support settings, one object per function.

        Names follow the SunSpec DER models (703 enter service, 704 PF / var / W limit, 705
        volt-var, 706 volt-watt, 707-710 trips, 711 frequency droop, 712 watt-var) in snake
        case with units. Sent back unchanged as a PUT body, it changes nothing.
        """
        return _json(controller.grid_support(index))

    @app.put(GRID_SUPPORT_PATH)
    @document_request(GridSupportUpdate)
    @document_response(GridSupportState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def put_grid_support(index: int) -> Response:
        """Change one device's grid-support settings; only what the body names changes.

        `category` first loads the default settings of those IEEE 1547 categories; `null`
        returns a field or a function to the default of the device's categories. Points must be
        in order and inside the standard's ranges (some depend on the category); a refused body
        (422, each field with its allowed range) changes nothing. Effective from the next tick.
        """
        body = await read_json_body(GridSupportUpdate)
        return _json(controller.update_grid_support(index, body)[0])

    @app.put(ALL_GRID_SUPPORT_PATH)
    @document_request(GridSupportUpdate)
    @document_response(list[GridSupportState], 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def put_all_grid_support() -> Response:
        """Apply the same grid-support change to every device (all or none: a body refused for
        one device changes no device)."""
        body = await read_json_body(GridSupportUpdate)
        return _json_list(controller.update_grid_support(None, body))

    @app.get(GRID_EVENTS_PATH)
    @document_response(GridEventState, 200)
    async def get_grid_event() -> Response:
        """The grid event in force (`active` false: none), how far into it the simulation is,
        and whether it is past its data (`holding`)."""
        return _json(controller.grid_event())

    @app.post(GRID_EVENTS_PATH)
    @document_request(GridEventRequest)
    @document_response(GridEventState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def post_grid_event() -> Response:
        """Play a voltage and/or frequency time series to one device (`device`) or every device,
        replacing any event in force.

        `t_s` is simulated seconds after the start (now); each series starts at 0 and never goes
        back in time; values ramp linearly between points and two points at one time make a
        step. A quantity without a series comes from the devices' inputs. Past its last point
        the event holds the last value (logged) until DELETE or the next POST. The trip timers
        see the series at 10 ms resolution, inside the tick.
        """
        body = await read_json_body(GridEventRequest)
        return _json(controller.start_grid_event(body))

    @app.delete(GRID_EVENTS_PATH)
    @document_response(GridEventState, 200)
    async def delete_grid_event() -> Response:
        """End the grid event in force (none: nothing changes); the inputs apply again."""
        return _json(controller.end_grid_event())
