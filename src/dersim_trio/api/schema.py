"""Pydantic models: the one schema source for HTTP, WebSocket and OpenAPI.

A ``Snapshot`` is one device's telemetry for one tick (contract §2). Every float is validated
finite (``allow_inf_nan=False``): a model that ever produced NaN or infinity makes the tick fail
loudly instead of publishing a broken number.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ServiceState = Literal["in_service", "entering_service", "out_of_service"]
InverterStateName = Literal[
    "off", "sleeping", "starting", "running", "throttled", "shutting_down", "fault", "standby"
]
ConnectionState = Literal["connected", "disconnected"]
DcMode = Literal["pv", "battery", "wind", "fuelcell", "hybrid-dc", "none"]
AssetType = Literal["pv", "battery", "wind", "fuelcell", "hybrid-dc", "evse"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Metrics(_Strict):
    """SunSpec 701-style AC and DC totals. Power in kW/kvar/kVA, voltage in V, current in A."""

    power_kw: float = Field(description="Active power; > 0 injects into the grid (SunSpec 701 W).")
    reactive_power_kvar: float = Field(description="Reactive power; > 0 injects (over-excited).")
    apparent_power_kva: float = Field(ge=0, description="S = sqrt(P² + Q²).")
    voltage_ll_v: float = Field(ge=0, description="Line-to-line voltage.")
    voltage_ln_v: float = Field(ge=0, description="Line-to-neutral voltage.")
    current_a: float = Field(ge=0, description="Line current (RMS).")
    frequency_hz: float = Field(ge=0)
    power_factor: float = Field(ge=-1, le=1, description="P/S with the sign of P; 1.0 at S = 0.")
    dc_power_kw: float = Field(description="> 0 flows from the DC source to the AC side.")
    dc_voltage_v: float
    dc_current_a: float
    state_of_charge_pct: float | None = Field(description="null for assets without storage.")
    soc_reserve_min_pct: float | None
    soc_reserve_max_pct: float | None
    soc_min_pct: float | None
    soc_max_pct: float | None
    timestamp: str = Field(description="Simulator time, ISO 8601 with UTC offset.")


class PQ(_Strict):
    """The P-Q operating point."""

    active_kw: float
    reactive_kvar: float
    apparent_kva: float = Field(ge=0)
    angle_deg: float = Field(description="atan2(Q, P) in degrees.")


class Status(_Strict):
    """Service, inverter and connection state with an optional human-readable message."""

    service_state: ServiceState
    inverter_state: InverterStateName
    connection_state: ConnectionState
    message: str | None


class Energy(_Strict):
    """Monotonic AC energy counters (SunSpec 701 TotWhInj/TotWhAbs/TotVarhInj/TotVarhAbs)."""

    injected_kwh: float = Field(ge=0)
    absorbed_kwh: float = Field(ge=0)
    reactive_injected_kvarh: float = Field(ge=0)
    reactive_absorbed_kvarh: float = Field(ge=0)


class _Asset(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, frozen=True)


class PvAsset(_Asset):
    """PV live detail (extra keys documented in physics/pv.py)."""

    irradiance_w_m2: float = Field(ge=0)
    cell_temperature_c: float
    ambient_temperature_c: float


class BatteryAsset(_Asset):
    """Battery live detail (extra keys documented in physics/battery.py)."""

    chemistry: str
    state_of_health_pct: float
    energy_available_kwh: float = Field(ge=0)


class WindAsset(_Asset):
    """Wind turbine live detail (extra keys documented in physics/wind/model.py)."""

    wind_speed_m_s: float = Field(ge=0)
    hub_wind_speed_m_s: float = Field(ge=0)
    rotor_speed_rpm: float = Field(ge=0)
    generator_speed_rpm: float = Field(ge=0)
    pitch_deg: float
    tip_speed_ratio: float = Field(ge=0)
    power_coefficient: float


class FuelCellAsset(_Asset):
    """Fuel cell live detail (extra keys documented in physics/fuelcell.py)."""

    mode: str
    stack_voltage_v: float
    stack_current_a: float
    hydrogen_pct: float | None


class HybridAsset(_Asset):
    """Hybrid PV + battery DC-bus live detail."""

    pv_power_kw: float
    battery_power_kw: float
    dispatch: str


class EvseConnector(_Asset):
    """One EVSE connector."""

    state: str
    ev_soc_pct: float | None
    power_kw: float


class EvseAsset(_Asset):
    """EVSE live detail."""

    connectors: list[EvseConnector]


Asset = PvAsset | BatteryAsset | WindAsset | FuelCellAsset | HybridAsset | EvseAsset

ASSET_MODELS: dict[str, type[_Asset]] = {
    "pv": PvAsset,
    "battery": BatteryAsset,
    "wind": WindAsset,
    "fuelcell": FuelCellAsset,
    "hybrid-dc": HybridAsset,
    "evse": EvseAsset,
}


class Snapshot(_Strict):
    """One device's telemetry for one tick: the `/overview` body and every WebSocket message."""

    tick: int = Field(ge=0, description="+1 per tick, the same for every device of one tick.")
    metrics: Metrics
    pq: PQ
    status: Status
    energy: Energy
    clock_time: str = Field(description="Simulator clock, HH:MM:SS.")
    dc_mode: DcMode
    dc_port_count: int = Field(ge=0)
    device_type: str
    device_profile_name: str | None
    asset_type: AssetType
    device_index: int = Field(ge=0)
    asset: Asset


class FieldError(BaseModel):
    """One invalid field of a request body."""

    field: str
    message: str
    allowed: str | None = Field(default=None, description="The field's allowed values or range.")


class ErrorBody(BaseModel):
    """Every 4xx/5xx JSON body."""

    error: str = Field(description="Short machine-friendly error name.")
    detail: str = Field(description="What was wrong and what is allowed.")
    fields: list[FieldError] | None = Field(
        default=None, description="Per-field problems of a rejected body (422)."
    )


class HubStatisticsModel(BaseModel):
    """Broadcaster counters (``Hub.statistics()``)."""

    subscribers: int
    ticks_published: int
    messages_sent: int
    messages_dropped: int
    last_tick_duration_ms: float
    max_tick_lateness_ms: float
    tick_lateness_p50_ms: float
    tick_lateness_p99_ms: float
    tick_duration_p99_ms: float


class ServerInfo(BaseModel):
    """What this simulator process is and how it runs."""

    name: str
    version: str
    python_version: str
    trio_version: str
    hypercorn_version: str
    device_type: str
    device_count: int
    device_profile_name: str | None
    periodic_time_s: float
    time_scale: float
    wall_clock: bool
    timezone: str
    seed: int
    started_at: str = Field(description="Wall-clock start time, ISO 8601 UTC.")
    uptime_s: float
    tick: int
    clock_time: str
    fast_path: bool = Field(
        description="True when the telemetry stream is served by the front door."
    )
    statistics: HubStatisticsModel


class DeviceQuery(BaseModel):
    """``?device=N``."""

    device: int | None = Field(default=None, ge=0, description="0-based device index.")


class InputsUpdate(BaseModel):
    """``PUT .../inputs`` body: every field optional; a number overrides, ``null`` resets."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    irradiance_w_m2: float | None = Field(
        default=None, ge=0, le=1500, description="Plane-of-array irradiance, W/m² (0..1500)."
    )
    ambient_temperature_c: float | None = Field(
        default=None, ge=-40, le=60, description="Ambient air temperature, °C (-40..60)."
    )
    wind_speed_m_s: float | None = Field(
        default=None, ge=0, le=75, description="Wind at the anemometer height, m/s (0..75)."
    )
    grid_voltage_pu: float | None = Field(
        default=None, ge=0, le=1.5, description="Grid voltage, per unit of nominal (0..1.5)."
    )
    grid_frequency_hz: float | None = Field(
        default=None, ge=45, le=65, description="Grid frequency, Hz (45..65)."
    )


class InputsState(BaseModel):
    """A device's run-time input overrides; ``null`` means following its profile or model."""

    device_index: int
    irradiance_w_m2: float | None
    ambient_temperature_c: float | None
    wind_speed_m_s: float | None
    grid_voltage_pu: float
    grid_frequency_hz: float
    has_profile: bool = Field(description="True when a --dc_profile feeds this device.")
