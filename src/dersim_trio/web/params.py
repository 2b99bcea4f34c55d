"""Request parameters shared by the quart routes and the fast telemetry path."""

from __future__ import annotations


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
