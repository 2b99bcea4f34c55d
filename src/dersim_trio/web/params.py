"""Query parameters: parsed and checked in one place, refused with what is allowed.

``parse_device`` is shared by the quart routes and the fast telemetry path (which closes with
1008 instead of answering); the other parsers raise ``QueryError``, a 400 ``invalid_query``
naming the parameter. Unknown parameters are ignored.
"""

from __future__ import annotations

import math

from werkzeug.routing import BaseConverter

from dersim_trio.errors import FieldProblem
from dersim_trio.web.http_errors import RequestError

TELEMETRY_PATHS = ("/api/dersim/ws/telemetry", "/api/dersim/telemetry/ws")
"""The telemetry WebSocket's paths (the documented one first, then its alias)."""


class DeviceParamError(ValueError):
    """``?device=`` is not one of the server's device indices."""


def parse_device(raw: str | None, devices: range) -> int | None:
    """Parse ``?device=``: None when absent, else one of ``devices`` (the server's device
    indices: ``range(N)``, or a fleet shard's slice of the fleet's indices)."""
    if raw is None:
        return None
    first, last = devices.start, devices.stop - 1
    allowed = f"an integer in [{first}, {last}]" if last > first else str(first)
    try:
        value = int(raw.strip())
    except ValueError:
        raise DeviceParamError(f"device must be {allowed}; got {raw!r}") from None
    if value not in devices:
        raise DeviceParamError(f"device must be {allowed}; got {raw!r}")
    return value


def device_query(raw: str | None, devices: range) -> int:
    """``?device=`` of an HTTP route: the first device when absent, else ``RequestError`` 400
    ``invalid_device`` unless one of ``devices``."""
    try:
        device = parse_device(raw, devices)
    except DeviceParamError as exc:
        raise RequestError(400, "invalid_device", str(exc)) from None
    return devices.start if device is None else device


class QueryError(RequestError):
    """A query parameter outside what is allowed: 400 ``invalid_query`` naming it."""

    def __init__(self, field: str, message: str, allowed: str) -> None:
        problem = FieldProblem(field, message, allowed)
        super().__init__(400, "invalid_query", problem.text(), [problem])


def query_number(name: str, raw: str | None, default: float, low: float, high: float) -> float:
    """A finite number in [low, high] (``default`` when absent)."""
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


def query_integer(name: str, raw: str | None, default: int, low: int, high: int | None) -> int:
    """An integer in [low, high] (no upper bound for None; ``default`` when absent)."""
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


def query_choice(name: str, raw: str | None, choices: tuple[str, ...]) -> str | None:
    """One of ``choices``, case-insensitive (None when absent or empty)."""
    if raw is None or raw == "":
        return None
    by_lower = {c.lower(): c for c in choices}
    value = by_lower.get(raw.strip().lower())
    if value is None:
        raise QueryError(name, f"unknown value {raw!r}", ", ".join(choices))
    return value


DEVICE_INDEX_CONVERTER = "device_index"
"""The URL converter name of a device index in a path (``<device_index:index>``)."""
MAX_INDEX_DIGITS = 9
"""Digits a device index may have in a path (``--device_count`` stops at 100,000)."""


class DeviceIndexConverter(BaseConverter):
    """A device index in a path, parsed once, here: ASCII digits with an optional ``-``, at most
    ``MAX_INDEX_DIGITS`` of them, as an ``int``. Anything else matches no route (404) and never
    reaches an ``int()`` of unbounded length (Python refuses over 4,300 digits); an index out of
    range is the route's own 404 ``device_not_found``."""

    regex = rf"-?[0-9]{{1,{MAX_INDEX_DIGITS}}}"

    def to_python(self, value: str) -> int:
        """The index."""
        return int(value)

    def to_url(self, value: object) -> str:
        """The path segment of an index."""
        return str(int(str(value)))
