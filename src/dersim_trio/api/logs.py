"""``GET /api/dersim/logs``: the in-process log buffer, filtered and paged."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_LOG_LIMIT = 200
MAX_LOG_LIMIT = 1000


class LogsQuery(BaseModel):
    """``?module=M&level=L&limit=N&after=ID&audit=yes``."""

    module: Literal["Lab", "AC", "DC", "Grid", "WS", "API", "Modbus"] | None = Field(
        default=None, description="Only this module (default: all)."
    )
    level: Literal["debug", "info", "warning", "error"] | None = Field(
        default=None, description="Minimum level (default: debug, i.e. all)."
    )
    limit: int = Field(
        default=DEFAULT_LOG_LIMIT,
        ge=1,
        le=MAX_LOG_LIMIT,
        description=f"At most this many of the newest matching entries (1..{MAX_LOG_LIMIT}).",
    )
    after: int = Field(
        default=0, ge=0, description="Only entries with a larger id (poll with next_after)."
    )
    audit: Literal["yes", "no"] = Field(
        default="no",
        description="yes: only audit records (every change made through the API or Modbus, "
        "kept in a buffer of their own that connection chatter cannot overflow).",
    )


class LogEntryBody(BaseModel):
    """One log entry."""

    id: int = Field(description="Monotonic per process.")
    time: str = Field(description="Wall-clock time, ISO 8601 UTC.")
    level: Literal["debug", "info", "warning", "error"]
    module: Literal["Lab", "AC", "DC", "Grid", "WS", "API", "Modbus"]
    device: int | None
    message: str
    audit: bool = Field(
        description="An audit record of a change (mutating API request, Modbus write)."
    )


class LogsPageBody(BaseModel):
    """Entries oldest first, and the id to pass as ``after`` in the next poll."""

    entries: list[LogEntryBody]
    next_after: int
