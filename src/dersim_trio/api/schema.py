"""The telemetry payload: one device's ``Snapshot`` for one tick (contract §2), the body of
``GET /api/dersim/overview``, ``/devices`` and every WebSocket message.

The other request and response bodies live beside this module, one per resource: ``common``
(errors, ``?device=``), ``server`` (server-info, stop), ``inputs``, ``controls`` (controls,
commands, faults), ``history``, ``logs`` and ``dciv``. Every float is validated
finite (``allow_inf_nan=False``): a model that ever produced NaN or infinity makes the tick fail
loudly instead of publishing a broken number.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from dersim_trio.api.resolution import document_resolutions, payload_rounder

ServiceState = Literal["in_service", "entering_service", "out_of_service"]
InverterStateName = Literal[
    "off", "sleeping", "starting", "running", "throttled", "shutting_down", "fault", "standby"
]
ConnectionState = Literal["connected", "disconnected"]
GridStateName = Literal[
    "continuous",
    "mandatory",
    "permissive",
    "momentary_cessation",
    "tripped",
    "entering_service",
]
"""The IEEE 1547-2018 operating region of a device (``grid.support``)."""
DcMode = Literal["pv", "battery", "wind", "fuelcell", "hybrid-dc", "none"]
AssetType = Literal["pv", "battery", "wind", "fuelcell", "hybrid-dc", "evse"]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        frozen=True,
        json_schema_extra=document_resolutions,
    )


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


class LastTrip(_Strict):
    """A grid trip: its cause (``OV2``, ``UV1``, ``OF2``, ``UF1``, ...) and when."""

    cause: str
    time_s: float = Field(description="Simulated seconds since the simulator start.")


class GridSupportStatus(_Strict):
    """What the grid-support functions impose this tick."""

    functions: list[str] = Field(
        description="Enabled functions, the reactive power mode first (trips always act)."
    )
    target_q_kvar: float = Field(description="The reactive mode's target before its lag.")
    p_limit_kw: float = Field(description="The active power ceiling the functions impose.")
    v_ref_pct: float = Field(description="Volt-var reference voltage, % of nominal.")
    reactive_mode: str | None = Field(
        default=None,
        description="The reactive power mode acting (constant_pf, volt_var, watt_var, "
        "constant_q); null: none acts (the operator's controls set Q, or the unit is off).",
    )
    p_limit_by: str = Field(
        default="WMaxRtg",
        description="What sets p_limit_kw: a function's name, WMaxRtg, VAMaxRtg, "
        "current limit, or the state (tripped, momentary_cessation) holding the output at 0.",
    )
    v_pct: float = Field(
        default=100.0,
        description="The voltage volt-var and volt-watt respond to: the average phase "
        "voltage at the terminals, % of nominal.",
    )
    phase_voltage_pu: list[float] = Field(
        default_factory=list,
        description="The grid voltage at the terminals per phase, per unit: one value for a "
        "single-phase or split-phase unit, three L-N values (A, B, C) for a three-phase unit.",
    )
    rocof_hz_per_s: float = Field(
        default=0.0,
        description="Rate of change of the grid frequency over the last tick, Hz/s.",
    )


class Status(_Strict):
    """Service, inverter and connection state with an optional human-readable message."""

    service_state: ServiceState
    inverter_state: InverterStateName
    connection_state: ConnectionState
    message: str | None
    grid_state: GridStateName | None = Field(
        default=None,
        description="IEEE 1547 operating region; null while the operator keeps the unit off or "
        "out of service (or for a device without grid support).",
    )
    last_trip: LastTrip | None = Field(
        default=None, description="The last grid trip (cause and simulated time); null: none."
    )


class Energy(_Strict):
    """Monotonic AC energy counters (SunSpec 701 TotWhInj/TotWhAbs/TotVarhInj/TotVarhAbs)."""

    injected_kwh: float = Field(ge=0)
    absorbed_kwh: float = Field(ge=0)
    reactive_injected_kvarh: float = Field(ge=0)
    reactive_absorbed_kvarh: float = Field(ge=0)


class _Asset(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        allow_inf_nan=False,
        frozen=True,
        json_schema_extra=document_resolutions,
    )


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
    """Fuel cell live detail (extra keys documented in physics/fuelcell/model.py)."""

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
    grid_support: GridSupportStatus | None = Field(
        default=None, description="IEEE 1547 grid support; null for a device without it."
    )


class SnapshotList(RootModel[list[Snapshot]]):
    """Every device's snapshot of one tick, in device order."""


round_snapshot_payload = payload_rounder(Snapshot)
"""A copy of a snapshot's plain form (``model_dump()``, or an engine row) rounded to its
fields' resolutions (``api.resolution``): the wire form of every snapshot (``api.wire.encode_row``,
``engine.core.encode``)."""
