"""``GET``/``POST /api/dersim/commands``: start, stop, reset, enter_service and
cease_to_energize, for one device or all, and the log of what was applied."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.controls import CommandRecordList, CommandRequest, CommandsQuery
from dersim_trio.service.operator import COMMAND_LOG_SIZE, Controller
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_list_response, read_json_body
from dersim_trio.web.http_errors import RequestError
from dersim_trio.web.routes import API_PREFIX


def _parse_limit(raw: str | None) -> int:
    default = CommandsQuery.model_fields["limit"].default
    assert isinstance(default, int)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= COMMAND_LOG_SIZE:
        raise RequestError(
            400,
            "invalid_query",
            f"limit must be an integer in [1, {COMMAND_LOG_SIZE}]; got {raw!r}",
        )
    return value


def commands_blueprint(controller: Controller) -> Blueprint:
    """The commands routes over ``controller``."""
    bp = tagged(Blueprint("commands", __name__, url_prefix=API_PREFIX), "commands")

    @bp.get("/commands")
    @document_querystring(CommandsQuery)
    @document_response(CommandRecordList, 200)
    @document_response(ErrorBody, 400)
    async def get_commands() -> Response:
        """The last commands applied, newest last.

        At most limit records (default 100); the last 500 are kept.
        """
        return json_list_response(controller.commands(_parse_limit(request.args.get("limit"))))

    @bp.post("/commands")
    @document_request(CommandRequest)
    @document_response(CommandRecordList, 200)
    @document_response(ErrorBody, 400)
    @document_response(ErrorBody, 404)
    @document_response(ErrorBody, 413)
    @document_response(ErrorBody, 422)
    async def post_command() -> Response:
        """Send a command to one device or to every device.

        device names the device (an unknown one is a 404 device_not_found); null or absent:
        every device. stop: running → shutting_down → off; start: off → starting → running;
        reset: clears a latched fault (refused while a fault condition is still present);
        cease_to_energize: output 0, out_of_service; enter_service: out_of_service →
        entering_service → in_service. One record per device, with outcome "accepted" or
        "rejected" and why.
        """
        body = await read_json_body(CommandRequest)
        return json_list_response(controller.command(body))

    return bp
