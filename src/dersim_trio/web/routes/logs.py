"""``GET /api/dersim/logs`` (the Logs tab's buffer) and the API's own request log: every
mutating API request is logged on ``dersim_trio.API`` with its status.

Reads the in-memory ``service.logbuffer.LogBuffer`` the service fills.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import cast

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.logs import (
    DEFAULT_LOG_LIMIT,
    MAX_LOG_LIMIT,
    LogEntryBody,
    LogsPageBody,
    LogsQuery,
)
from dersim_trio.service.logbuffer import LEVELS, MODULES, LevelName, LogBuffer, Module
from dersim_trio.web.api_docs import tagged
from dersim_trio.web.bodies import json_response
from dersim_trio.web.params import query_choice, query_integer
from dersim_trio.web.routes import API_PREFIX

log = logging.getLogger("dersim_trio.API")

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_LOGGED_PATH = 200
"""Characters of a request path kept in its audit record."""


def parse_logs_query(
    args: Mapping[str, str],
) -> tuple[Module | None, LevelName | None, int, int]:
    """(module, min level, limit, after) from the query, or ``QueryError`` (``audit`` is
    read by ``audit_only``)."""
    module = cast("Module | None", query_choice("module", args.get("module"), MODULES))
    level = cast("LevelName | None", query_choice("level", args.get("level"), tuple(LEVELS)))
    limit = query_integer("limit", args.get("limit"), DEFAULT_LOG_LIMIT, 1, MAX_LOG_LIMIT)
    after = query_integer("after", args.get("after"), 0, 0, None)
    return module, level, limit, after


def logs_blueprint(logs: LogBuffer) -> Blueprint:
    """The logs route over ``logs``, and the request log of every mutating API request."""
    bp = tagged(Blueprint("logs", __name__, url_prefix=API_PREFIX), "logs")

    @bp.get("/logs")
    @document_querystring(LogsQuery)
    @document_response(LogsPageBody, 200)
    @document_response(ErrorBody, 400)
    async def log_entries() -> Response:
        """The in-process log buffer, filtered.

        Poll with after = the last answer's next_after.

        `level` is a minimum (`warning` also returns errors). Returns the newest `limit`
        matching entries with `id > after`, oldest first. Audit records (every change, marked
        `audit`) have a buffer of their own, so connection chatter never pushes them out;
        `audit=yes` returns only them.
        """
        module, level, limit, after = parse_logs_query(request.args)
        audit_only = query_choice("audit", request.args.get("audit"), ("yes", "no")) == "yes"
        page = logs.query(
            module=module, min_level=level, limit=limit, after=after, audit_only=audit_only
        )
        body = LogsPageBody(
            entries=[
                LogEntryBody(
                    id=e.id,
                    time=e.time,
                    level=e.level,
                    module=e.module,
                    device=e.device,
                    message=e.message,
                    audit=e.audit,
                )
                for e in page.entries
            ],
            next_after=page.next_after,
        )
        return json_response(body)

    @bp.after_app_request
    async def log_mutation(response: Response) -> Response:
        if request.method in MUTATING_METHODS and request.path.startswith("/api/"):
            # the index the route parsed (web/params.DeviceIndexConverter), never re-parsed
            index = (request.view_args or {}).get("index")
            path = request.path
            log.log(
                logging.INFO if response.status_code < 400 else logging.WARNING,
                "%s %s -> %d (from %s)",
                request.method,
                path if len(path) <= MAX_LOGGED_PATH else path[:MAX_LOGGED_PATH] + "...",
                response.status_code,
                request.remote_addr or "unknown",
                extra={"audit": True, "device": index if isinstance(index, int) else None},
            )
        return response

    return bp
