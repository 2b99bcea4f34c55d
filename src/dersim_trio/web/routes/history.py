"""``GET /api/dersim/history``: the Analytics tab's telemetry window of one device.

Reads the in-memory ``service.history.History`` the tick loop fills.
"""

from __future__ import annotations

import trio
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.history import (
    DEFAULT_HISTORY_S,
    MAX_HISTORY_S,
    MIN_HISTORY_S,
    HistoryQuery,
    HistoryWindowBody,
)
from dersim_trio.service.history import History
from dersim_trio.web.bodies import json_response
from dersim_trio.web.params import device_query, query_number
from dersim_trio.web.routes import API_PREFIX

THREAD_ENCODE_MIN_TICKS = 2000
"""Windows at least this long are encoded in a worker thread so the tick loop keeps its pace."""


def history_blueprint(history: History) -> Blueprint:
    """The history route over ``history``."""
    bp = Blueprint("history", __name__, url_prefix=API_PREFIX)

    @bp.get("/history")
    @document_querystring(HistoryQuery)
    @document_response(HistoryWindowBody, 200)
    @document_response(ErrorBody, 400)
    async def history_window() -> Response:
        """Telemetry of one device for the last `seconds` simulated seconds, as columns.

        Exactly the recorded ticks whose simulator time `t` satisfies `t > now − seconds`
        (`now`: the newest tick), oldest first. The buffer keeps at least 4 h.
        """
        seconds = query_number(
            "seconds", request.args.get("seconds"), DEFAULT_HISTORY_S, MIN_HISTORY_S, MAX_HISTORY_S
        )
        device = device_query(request.args.get("device"), history.devices)
        window = history.window(seconds, device)
        if window.count >= THREAD_ENCODE_MIN_TICKS:
            return json_response(await trio.to_thread.run_sync(window.to_json))
        return json_response(window.to_json())

    return bp
