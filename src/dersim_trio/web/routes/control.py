"""Operator controls, commands and faults:

* ``GET``/``PUT /api/dersim/devices/{index}/controls``: setpoints (SunSpec 704 style);
* ``GET``/``POST /api/dersim/commands``: start, stop, reset, enter_service, cease_to_energize;
* ``GET``/``POST``/``DELETE /api/dersim/devices/{index}/faults``: injected fault conditions.

The routes only translate HTTP to ``Controller`` calls; the rules live in ``controls/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from quart import Response, request
from quart_schema import document_querystring, document_request, document_response
from quart_trio import QuartTrio

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.controls import (
    CommandRecord,
    CommandRequest,
    CommandsQuery,
    ControlsState,
    ControlsUpdate,
    FaultClearRequest,
    FaultRequest,
    FaultsState,
)
from dersim_trio.service.operator import Controller
from dersim_trio.web.bodies import read_json_body
from dersim_trio.web.http_errors import RequestError

CONTROLS_PATH = "/api/dersim/devices/<int(signed=True):index>/controls"
FAULTS_PATH = "/api/dersim/devices/<int(signed=True):index>/faults"
COMMANDS_PATH = "/api/dersim/commands"


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), content_type="application/json")


def _json_list(models: Sequence[BaseModel]) -> Response:
    body = "[" + ",".join(m.model_dump_json() for m in models) + "]"
    return Response(body, content_type="application/json")


def _parse_limit(raw: str | None) -> int:
    field = CommandsQuery.model_fields["limit"]
    default = field.default
    assert isinstance(default, int)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= 500:
        raise RequestError(
            400, "invalid_query", f"limit must be an integer in [1, 500]; got {raw!r}"
        )
    return value


def register_control_routes(app: QuartTrio, controller: Controller) -> None:
    """Add the controls, commands and faults routes to ``app``."""

    @app.get(CONTROLS_PATH)
    @document_response(ControlsState, 200)
    @document_response(ErrorBody, 404)
    async def get_controls(index: int) -> Response:
        """One device's controls (setpoints, priority, ramp, reversion timers, clamps)."""
        return _json(controller.controls(index))

    @app.put(CONTROLS_PATH)
    @document_request(ControlsUpdate)
    @document_response(ControlsState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def put_controls(index: int) -> Response:
        """Change one device's controls; only the fields present change, `null` = default.

        `power_factor` (magnitude 0.8..1.0, with `excitation`) and
        `reactive_power_setpoint_kvar` are mutually exclusive. Values beyond a rating are
        clamped and listed in `clamped`. `active_power_setpoint_kw` is refused (422) on PV and
        wind. `revert_after_s` returns the setpoints of this body to their defaults after that
        many simulated seconds. The effect shows from the next tick.
        """
        body = await read_json_body(ControlsUpdate)
        return _json(controller.update_controls(index, body))

    @app.get(COMMANDS_PATH)
    @document_querystring(CommandsQuery)
    @document_response(list[CommandRecord], 200)
    @document_response(ErrorBody, 400)
    async def get_commands() -> Response:
        """The last commands (`limit`, default 100, at most 500 are kept), newest last."""
        return _json_list(controller.commands(_parse_limit(request.args.get("limit"))))

    @app.post(COMMANDS_PATH)
    @document_request(CommandRequest)
    @document_response(list[CommandRecord], 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def post_command() -> Response:
        """Send a command to one device (`device`) or to every device (`device` null/absent).

        stop: running → shutting_down → off; start: off → starting → running; reset: clears a
        latched fault (refused while a fault condition is still present); cease_to_energize:
        output 0, out_of_service; enter_service: out_of_service → entering_service →
        in_service. One record per device, with outcome "accepted" or "rejected" and why.
        """
        body = await read_json_body(CommandRequest)
        return _json_list(controller.command(body))

    @app.get(FAULTS_PATH)
    @document_response(FaultsState, 200)
    @document_response(ErrorBody, 404)
    async def get_faults(index: int) -> Response:
        """The fault conditions present on a device and whether it is latched in fault."""
        return _json(controller.faults(index))

    @app.post(FAULTS_PATH)
    @document_request(FaultRequest)
    @document_response(FaultsState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def post_fault(index: int) -> Response:
        """Inject a fault: inverter_state "fault", output 0, the message names it.

        `grid_disconnect` also makes connection_state "disconnected". Recovery: clear the
        condition (DELETE), then the `reset` command.
        """
        body = await read_json_body(FaultRequest)
        return _json(controller.inject_fault(index, body.type))

    @app.delete(FAULTS_PATH)
    @document_request(FaultClearRequest)
    @document_response(FaultsState, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def delete_faults(index: int) -> Response:
        """Clear one fault condition (body `{"type": ...}`) or all (no body); then reset."""
        raw = await request.get_data(cache=True, as_text=False)
        fault = None
        if raw.strip():
            fault = (await read_json_body(FaultClearRequest)).type
        return _json(controller.clear_fault(index, fault))
