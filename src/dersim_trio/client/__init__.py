"""A trio client for dersim-trio: typed telemetry with reconnects and gap reports, REST helpers.

Quick tour::

    import trio
    from dersim_trio.client import DersimClient

    async def main() -> None:
        async with DersimClient("http://127.0.0.1:8111") as api:
            info = await api.server_info()
            async with api.telemetry(device=0, on_gap=print) as stream:
                async for snapshot in stream:            # dersim_trio.api.schema.Snapshot
                    print(snapshot.tick, snapshot.metrics.power_kw)

    trio.run(main)

* ``open_telemetry`` / ``DersimClient.telemetry``: ``TelemetryStream`` of ``Snapshot``; gaps as
  ``Gap`` (see ``dersim_trio.client.telemetry`` for the rules), reconnects by ``Backoff``.
* ``DersimClient``: server-info, overview, devices, inputs, controls, commands, faults,
  IEEE 1547 grid support and grid events, history, logs, dc-iv, stop; ``burst`` (apply an
  action, collect one quantity for T seconds).
* Errors: every one is a ``DersimError`` (``ApiError`` carries the server's error body).
"""

from dersim_trio.api.grid_events import GridEventRequest, GridEventState
from dersim_trio.api.grid_support import GridSupportState, GridSupportUpdate
from dersim_trio.api.inputs import InputsState
from dersim_trio.api.schema import Snapshot
from dersim_trio.api.server import ServerInfo
from dersim_trio.client.backoff import Backoff
from dersim_trio.client.burst import Burst, Sample
from dersim_trio.client.errors import (
    ApiError,
    DersimError,
    InvalidUrl,
    PayloadError,
    ReconnectGaveUp,
    ServerUnreachable,
    TelemetryRejected,
)
from dersim_trio.client.fields import UnknownField, field_value, flatten, resolve_field
from dersim_trio.client.models import (
    Capability,
    Clamp,
    CommandName,
    CommandRecord,
    ControlsState,
    DcIvCurve,
    FaultsState,
    FaultType,
    History,
    IvPoint,
    LogEntry,
    LogPage,
)
from dersim_trio.client.rest import DersimClient
from dersim_trio.client.telemetry import (
    Gap,
    GapReason,
    TelemetryStatistics,
    TelemetryStream,
    open_telemetry,
)
from dersim_trio.client.urls import ServerUrls, parse_server_url

__all__ = [
    "ApiError",
    "Backoff",
    "Burst",
    "Capability",
    "Clamp",
    "CommandName",
    "CommandRecord",
    "ControlsState",
    "DcIvCurve",
    "DersimClient",
    "DersimError",
    "FaultType",
    "FaultsState",
    "Gap",
    "GapReason",
    "GridEventRequest",
    "GridEventState",
    "GridSupportState",
    "GridSupportUpdate",
    "History",
    "InputsState",
    "InvalidUrl",
    "IvPoint",
    "LogEntry",
    "LogPage",
    "PayloadError",
    "ReconnectGaveUp",
    "Sample",
    "ServerInfo",
    "ServerUnreachable",
    "ServerUrls",
    "Snapshot",
    "TelemetryRejected",
    "TelemetryStatistics",
    "TelemetryStream",
    "UnknownField",
    "field_value",
    "flatten",
    "open_telemetry",
    "parse_server_url",
    "resolve_field",
]
