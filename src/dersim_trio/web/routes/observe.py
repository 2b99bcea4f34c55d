"""Looking back: ``GET /api/dersim/history`` (the Analytics tab's telemetry window) and
``GET /api/dersim/logs`` (the Logs tab's buffer), plus the API's own request log.

Both read in-memory buffers the service fills (``history.History``, ``logbuffer.LogBuffer``).
Query parameters are checked here and a bad one is a 400 naming the parameter and what is
allowed; unknown parameters are ignored.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import cast

import trio
from quart import Response, request
from quart_schema import document_querystring, document_response
from quart_trio import QuartTrio

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.history import (
    DEFAULT_HISTORY_S,
    MAX_HISTORY_S,
    MIN_HISTORY_S,
    HistoryQuery,
    HistoryWindowBody,
)
from dersim_trio.api.logs import (
    DEFAULT_LOG_LIMIT,
    MAX_LOG_LIMIT,
    LogEntryBody,
    LogsPageBody,
    LogsQuery,
)
from dersim_trio.errors import FieldProblem
from dersim_trio.service.history import History
from dersim_trio.service.logbuffer import LEVELS, MODULES, LevelName, LogBuffer, Module
from dersim_trio.web.http_errors import RequestError
from dersim_trio.web.params import device_query

log = logging.getLogger("dersim_trio.API")

THREAD_ENCODE_MIN_TICKS = 2000
"""Windows at least this long are encoded in a worker thread so the tick loop keeps its pace."""
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEVICE_IN_PATH = re.compile(r"/devices/(\d+)(?:/|$)")


class QueryError(RequestError):
    """A query parameter outside what is allowed: 400 ``invalid_query`` naming it."""

    def __init__(self, field: str, message: str, allowed: str) -> None:
        problem = FieldProblem(field, message, allowed)
        super().__init__(400, "invalid_query", problem.text(), [problem])


def _number(name: str, raw: str | None, default: float, low: float, high: float) -> float:
    allowed = f"a number in {low:g}..{high:g}"
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise QueryError(name, f"not a number: {raw!r}", allowed) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise QueryError(name, f"out of range: {raw!r}", allowed)
    return value


def _integer(name: str, raw: str | None, default: int, low: int, high: int | None) -> int:
    allowed = f"an integer in {low}..{high}" if high is not None else f"an integer >= {low}"
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise QueryError(name, f"not an integer: {raw!r}", allowed) from None
    if value < low or (high is not None and value > high):
        raise QueryError(name, f"out of range: {raw!r}", allowed)
    return value


def _choice(name: str, raw: str | None, choices: tuple[str, ...]) -> str | None:
    if raw is None or raw == "":
        return None
    by_lower = {c.lower(): c for c in choices}
    value = by_lower.get(raw.strip().lower())
    if value is None:
        raise QueryError(name, f"unknown value {raw!r}", ", ".join(choices))
    return value


def parse_logs_query(
    args: Mapping[str, str],
) -> tuple[Module | None, LevelName | None, int, int]:
    """(module, min level, limit, after) from the query, or ``QueryError``."""
    module = cast("Module | None", _choice("module", args.get("module"), MODULES))
    level = cast("LevelName | None", _choice("level", args.get("level"), tuple(LEVELS)))
    limit = _integer("limit", args.get("limit"), DEFAULT_LOG_LIMIT, 1, MAX_LOG_LIMIT)
    after = _integer("after", args.get("after"), 0, 0, None)
    return module, level, limit, after


def _json(payload: str) -> Response:
    return Response(payload, content_type="application/json")


def register_observe_routes(app: QuartTrio, history: History, logs: LogBuffer) -> None:
    """Add ``/history`` and ``/logs`` to ``app``, and log every mutating API request."""

    @app.get("/api/dersim/history")
    @document_querystring(HistoryQuery)
    @document_response(HistoryWindowBody, 200)
    @document_response(ErrorBody, 400)
    async def history_window() -> Response:
        """Telemetry of one device for the last `seconds` simulated seconds, as columns.

        Exactly the recorded ticks whose simulator time `t` satisfies `t > now − seconds`
        (`now`: the newest tick), oldest first. The buffer keeps at least 4 h.
        """
        seconds = _number(
            "seconds", request.args.get("seconds"), DEFAULT_HISTORY_S, MIN_HISTORY_S, MAX_HISTORY_S
        )
        device = device_query(request.args.get("device"), history.device_count)
        window = history.window(seconds, device)
        if window.count >= THREAD_ENCODE_MIN_TICKS:
            return _json(await trio.to_thread.run_sync(window.to_json))
        return _json(window.to_json())

    @app.get("/api/dersim/logs")
    @document_querystring(LogsQuery)
    @document_response(LogsPageBody, 200)
    @document_response(ErrorBody, 400)
    async def log_entries() -> Response:
        """The in-process log buffer, filtered; poll with `after` = the last `next_after`.

        `level` is a minimum (`warning` also returns errors). Returns the newest `limit`
        matching entries with `id > after`, oldest first.
        """
        module, level, limit, after = parse_logs_query(request.args)
        page = logs.query(module=module, min_level=level, limit=limit, after=after)
        body = LogsPageBody(
            entries=[
                LogEntryBody(
                    id=e.id,
                    time=e.time,
                    level=e.level,
                    module=e.module,
                    device=e.device,
                    message=e.message,
                )
                for e in page.entries
            ],
            next_after=page.next_after,
        )
        return _json(body.model_dump_json())

    @app.after_request
    async def log_mutation(response: Response) -> Response:
        if request.method in MUTATING_METHODS and request.path.startswith("/api/"):
            match = _DEVICE_IN_PATH.search(request.path)
            log.log(
                logging.INFO if response.status_code < 400 else logging.WARNING,
                "%s %s -> %d (from %s)",
                request.method,
                request.path,
                response.status_code,
                request.remote_addr or "unknown",
                extra={"device": int(match.group(1))} if match else None,
            )
        return response
