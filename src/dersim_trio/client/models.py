"""The client's models of the responses added in this release (controls, commands, faults,
history, logs, DC I-V), following the API reference.

They accept unknown extra keys (``extra="allow"``), so a newer server never breaks an older
client. Snapshot, ServerInfo and the inputs models are the server's own
(``dersim_trio.api``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CommandName = Literal["start", "stop", "reset", "enter_service", "cease_to_energize"]
FaultType = Literal[
    "ground_fault", "over_temperature", "dc_over_voltage", "grid_disconnect", "communication_loss"
]
LogModule = Literal["Lab", "AC", "DC", "Grid", "WS", "API", "Modbus"]
LogLevel = Literal["debug", "info", "warning", "error"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Clamp(_Lenient):
    """A control request the device could not honour in full."""

    field: str
    requested: float | str | None = None
    applied: float | str | None = None
    reason: str = ""


class Capability(_Lenient):
    """What the device's nameplate allows."""

    w_max_kw: float
    va_max_kva: float
    var_max_inj_kvar: float
    var_max_abs_kvar: float
    setpoint_supported: bool


class ControlsState(_Lenient):
    """``GET``/``PUT /api/dersim/devices/{index}/controls``."""

    device_index: int
    active_power_setpoint_kw: float | None = None
    active_power_limit_pct: float = 100.0
    power_factor: float | None = None
    excitation: Literal["over", "under"] | None = None
    reactive_power_setpoint_kvar: float | None = None
    p_q_priority: str | None = None
    ramp_rate_pct_per_s: float | None = None
    hybrid_dispatch: str | None = None
    reversion: dict[str, float] = Field(default_factory=dict)
    clamped: list[Clamp] = Field(default_factory=list)
    capability: Capability | None = None


class CommandRecord(_Lenient):
    """One entry of ``POST``/``GET /api/dersim/commands``."""

    id: int | str
    command: str
    device: int | None = None
    time: str
    tick: int
    outcome: Literal["accepted", "rejected"]
    detail: str | None = None


class FaultsState(_Lenient):
    """``/api/dersim/devices/{index}/faults``: active fault types and whether one latched."""

    device_index: int
    active: list[str]
    latched: bool


class History(_Lenient):
    """``GET /api/dersim/history``: columnar, oldest first."""

    device_index: int
    period_s: float
    count: int
    tick: list[int]
    timestamp: list[str]
    power_kw: list[float | None]
    reactive_power_kvar: list[float | None] = Field(default_factory=list)
    apparent_power_kva: list[float | None] = Field(default_factory=list)
    voltage_ll_v: list[float | None] = Field(default_factory=list)
    current_a: list[float | None] = Field(default_factory=list)
    frequency_hz: list[float | None] = Field(default_factory=list)
    power_factor: list[float | None] = Field(default_factory=list)
    state_of_charge_pct: list[float | None] = Field(default_factory=list)
    dc_power_kw: list[float | None] = Field(default_factory=list)
    key_quantity_name: str | None = None
    key_quantity: list[float | None] = Field(default_factory=list)


class LogEntry(_Lenient):
    """One server log line."""

    id: int
    time: str
    level: str
    module: str
    device: int | None = None
    message: str
    audit: bool = False
    """An audit record of a change (mutating API request, Modbus write)."""


class LogPage(_Lenient):
    """``GET /api/dersim/logs``; pass ``next_after`` as ``after`` to poll for newer entries."""

    entries: list[LogEntry]
    next_after: int | None = None


class IvPoint(_Lenient):
    """One point of a DC current-voltage curve (V, A, kW or W as the server reports)."""

    v: float
    i: float
    p: float


class DcIvCurve(_Lenient):
    """``GET /api/dersim/dc-iv``: the PV array's I-V curve and operating point."""

    irradiance_w_m2: float
    cell_temperature_c: float
    operating_point: IvPoint
    curve: list[IvPoint]
