"""Request parameters shared by the quart routes and the fast telemetry path."""

from __future__ import annotations

from dersim_trio.web.http_errors import RequestError


class DeviceParamError(ValueError):
    """``?device=`` is not an integer in [0, N)."""


def parse_device(raw: str | None, device_count: int) -> int | None:
    """Parse ``?device=``: None when absent, else an index in [0, device_count)."""
    if raw is None:
        return None
    allowed = f"an integer in [0, {device_count - 1}]" if device_count > 1 else "0"
    try:
        value = int(raw.strip())
    except ValueError:
        raise DeviceParamError(f"device must be {allowed}; got {raw!r}") from None
    if not 0 <= value < device_count:
        raise DeviceParamError(f"device must be {allowed}; got {raw!r}")
    return value


def device_query(raw: str | None, device_count: int) -> int:
    """``?device=`` of an HTTP route: 0 when absent, else ``RequestError`` 400
    ``invalid_device`` unless an index in [0, device_count)."""
    try:
        device = parse_device(raw, device_count)
    except DeviceParamError as exc:
        raise RequestError(400, "invalid_device", str(exc)) from None
    return 0 if device is None else device
