"""Pydantic bodies of the control surface: controls, commands and faults (HTTP and OpenAPI).

Sign conventions are SunSpec 701's (see ``physics/base.py``): active power > 0 injects into the
grid, reactive power > 0 injects vars (over-excited). Power factor is carried as a magnitude with
a separate excitation, as SunSpec 704 does (``PFWInj`` with ``PFWInj.Ext``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

Excitation = Literal["over", "under"]
Priority = Literal["active", "reactive"]
HybridDispatchName = Literal["self_consumption", "pv_priority", "manual"]
CommandName = Literal["start", "stop", "reset", "enter_service", "cease_to_energize"]
FaultType = Literal[
    "ground_fault", "over_temperature", "dc_over_voltage", "grid_disconnect", "communication_loss"
]
FAULT_TYPES: tuple[FaultType, ...] = (
    "ground_fault",
    "over_temperature",
    "dc_over_voltage",
    "grid_disconnect",
    "communication_loss",
)
PF_MIN = 0.8
"""Smallest power-factor magnitude accepted (DERSim documents fixed PF 0.8-1.0)."""
MAX_REVERT_S = 31_536_000.0
"""Longest reversion timer, one year of simulated time."""


class ClampRecord(BaseModel):
    """A request that went beyond a rating and was cut back (not ignored)."""

    field: str
    requested: float
    applied: float
    reason: str = Field(
        description="What bound it: a rating (its SunSpec 702 point name), or an IEEE 1547 grid "
        "function or state (volt_watt, freq_droop, volt_var, tripped, ...) that takes "
        "precedence over the operator's setpoints."
    )


class Capability(BaseModel):
    """The device's SunSpec 702 ratings and whether it follows an active power setpoint."""

    w_max_kw: float
    va_max_kva: float
    var_max_inj_kvar: float
    var_max_abs_kvar: float
    setpoint_supported: bool


class ControlsState(BaseModel):
    """A device's operator controls as they apply from the next tick (SunSpec 704 style)."""

    device_index: int
    active_power_setpoint_kw: float | None = Field(
        description="Requested AC power (+ inject, - absorb); null: the asset's own behaviour."
    )
    active_power_limit_pct: float = Field(description="WMaxLimPct, % of WMaxRtg (0..100).")
    power_factor: float | None = Field(description="Fixed PF magnitude; null: unity / not used.")
    excitation: Excitation | None = Field(description="Of the fixed PF; null when PF is null.")
    reactive_power_setpoint_kvar: float | None = Field(description="Fixed var (+ injects).")
    p_q_priority: Priority = Field(description="What yields when P and Q exceed VAMaxRtg.")
    ramp_rate_pct_per_s: float | None = Field(
        description="WRmp, % of WMaxRtg per s; null: instant."
    )
    hybrid_dispatch: HybridDispatchName | None = Field(description="Hybrid DC only, else null.")
    reversion: dict[str, float] = Field(
        description="Seconds (simulated) left before each listed setpoint returns to its default."
    )
    clamped: list[ClampRecord] = Field(
        description="Requests cut back at a rating, the reactive power clamp of the last tick, "
        "and the setpoints the grid functions override or bound now (IEEE 1547 priority)."
    )
    capability: Capability


class ControlsUpdate(BaseModel):
    """``PUT .../controls`` body: every field optional; only the fields present change.

    ``null`` returns a field to its default. Beyond-nameplate values are clamped and reported.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    active_power_setpoint_kw: float | None = Field(
        default=None,
        description="kW, + injects, - absorbs; clamped to ±WMaxRtg; storage, fuel cell, "
        "hybrid (manual) and EVSE only",
    )
    active_power_limit_pct: float | None = Field(
        default=None, ge=0, le=100, description="0..100 % of WMaxRtg (null: 100)"
    )
    power_factor: float | None = Field(
        default=None,
        ge=PF_MIN,
        le=1.0,
        description="magnitude 0.8..1.0 (null: unity); not with reactive_power_setpoint_kvar",
    )
    excitation: Excitation | None = Field(
        default=None, description="over (injects vars) or under (absorbs); needs power_factor"
    )
    reactive_power_setpoint_kvar: float | None = Field(
        default=None,
        description="kvar, + injects; clamped to VarMaxInjRtg/VarMaxAbsRtg; not with power_factor",
    )
    p_q_priority: Priority | None = Field(
        default=None, description="active or reactive (null: active)"
    )
    ramp_rate_pct_per_s: float | None = Field(
        default=None, gt=0, le=100, description="(0, 100] % of WMaxRtg per second (null: instant)"
    )
    hybrid_dispatch: HybridDispatchName | None = Field(
        default=None,
        description="self_consumption, pv_priority or manual (HybridDC only; null: the "
        "configured policy)",
    )
    revert_after_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_REVERT_S,
        description="(0, 31536000] simulated seconds; the setpoints in this body then revert",
    )


class CommandRequest(BaseModel):
    """``POST /api/dersim/commands`` body."""

    model_config = ConfigDict(extra="forbid")

    command: CommandName = Field(
        description="start, stop, reset, enter_service or cease_to_energize"
    )
    device: int | None = Field(
        default=None,
        description="0-based device index (one that does not exist: 404 device_not_found); "
        "null or absent: every device",
    )


class CommandRecord(BaseModel):
    """One command applied to one device, as kept in the command log."""

    id: int = Field(description="Increasing from 1 over the life of the process.")
    command: CommandName
    device: int
    time: str = Field(description="Simulator time when the command was applied, ISO 8601.")
    tick: int
    outcome: Literal["accepted", "rejected"]
    detail: str = Field(description="The state walk that follows, or why it was refused.")


class CommandRecordList(RootModel[list[CommandRecord]]):
    """Command records, oldest first (one per device a command was sent to)."""


class CommandsQuery(BaseModel):
    """``?limit=N`` of ``GET /api/dersim/commands``."""

    limit: int = Field(default=100, ge=1, le=500, description="1..500 newest records (100).")


class FaultRequest(BaseModel):
    """``POST .../faults`` body: the fault condition to inject."""

    model_config = ConfigDict(extra="forbid")

    type: FaultType = Field(
        description="ground_fault, over_temperature, dc_over_voltage, grid_disconnect or "
        "communication_loss"
    )


class FaultClearRequest(BaseModel):
    """``DELETE .../faults`` body (optional): one condition to clear; absent or null: all."""

    model_config = ConfigDict(extra="forbid")

    type: FaultType | None = Field(
        default=None,
        description="ground_fault, over_temperature, dc_over_voltage, grid_disconnect or "
        "communication_loss (null: all)",
    )


class FaultsState(BaseModel):
    """The fault conditions present on a device and whether it is latched in ``fault``."""

    device_index: int
    active: list[FaultType] = Field(description="Injected conditions still present.")
    latched: bool = Field(description="True while the inverter is in fault (needs reset).")
