"""Run-time simulation inputs: ``GET``/``PUT /api/dersim/devices/{index}/inputs`` and
``PUT /api/dersim/inputs`` (every device)."""

from __future__ import annotations

from quart import Response
from quart_schema import document_request, document_response
from quart_trio import QuartTrio

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.inputs import InputsState, InputsUpdate
from dersim_trio.service.operator import Controller
from dersim_trio.web.bodies import read_json_body


def _json(payload: str) -> Response:
    return Response(payload, content_type="application/json")


def register_input_routes(app: QuartTrio, controller: Controller) -> None:
    """Add the inputs routes to ``app``."""

    @app.get("/api/dersim/devices/<int(signed=True):index>/inputs")
    @document_response(InputsState, 200)
    @document_response(ErrorBody, 404)
    async def get_inputs(index: int) -> Response:
        """One device's input overrides (`null`: following its profile or model)."""
        return _json(controller.inputs(index).model_dump_json())

    @app.put("/api/dersim/devices/<int(signed=True):index>/inputs")
    @document_request(InputsUpdate)
    @document_response(InputsState, 200)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 422)
    async def put_inputs(index: int) -> Response:
        """Override inputs of one device: a number overrides, `null` returns to the profile.

        Only the fields present change. The effect shows in the next tick's snapshot.
        """
        body = await read_json_body(InputsUpdate)
        states = controller.update_inputs(index, body)
        return _json(states[0].model_dump_json())

    @app.put("/api/dersim/inputs")
    @document_request(InputsUpdate)
    @document_response(list[InputsState], 200)
    @document_response(ErrorBody, 422)
    async def put_all_inputs() -> Response:
        """Apply the same input overrides to every device."""
        body = await read_json_body(InputsUpdate)
        states = controller.update_inputs(None, body)
        return _json("[" + ",".join(s.model_dump_json() for s in states) + "]")
