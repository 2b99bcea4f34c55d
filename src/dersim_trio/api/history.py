"""``GET /api/dersim/history``: one device's recent telemetry as columns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dersim_trio.api.resolution import document_resolutions

DEFAULT_HISTORY_S = 7200
MIN_HISTORY_S = 1
MAX_HISTORY_S = 4 * 3600
"""Four simulated hours: what the history keeps at least (``service.history.RETENTION_S``)."""


class HistoryQuery(BaseModel):
    """``?seconds=S&device=N``."""

    seconds: float = Field(
        default=DEFAULT_HISTORY_S,
        ge=MIN_HISTORY_S,
        le=MAX_HISTORY_S,
        description="Window length in simulated seconds back from the newest tick "
        f"({MIN_HISTORY_S}..{MAX_HISTORY_S}, default {DEFAULT_HISTORY_S}).",
    )
    device: int = Field(default=0, ge=0, description="0-based device index (default 0).")


class HistoryWindowBody(BaseModel):
    """Columnar history of one device: index i of every list is one tick, oldest first. Each
    column is rounded to the resolution of the snapshot field it records."""

    model_config = ConfigDict(json_schema_extra=document_resolutions)

    device_index: int
    period_s: float = Field(description="Simulated seconds per tick.")
    count: int = Field(description="Number of ticks (the length of every list).")
    tick: list[int]
    timestamp: list[str] = Field(description="Simulator time, ISO 8601 with UTC offset.")
    power_kw: list[float]
    reactive_power_kvar: list[float]
    apparent_power_kva: list[float]
    voltage_ll_v: list[float]
    current_a: list[float]
    frequency_hz: list[float]
    power_factor: list[float]
    state_of_charge_pct: list[float | None] = Field(description="null for non-storage assets.")
    dc_power_kw: list[float]
    key_quantity_name: str | None = Field(
        description="The asset's key quantity: irradiance_w_m2 (PV), rotor_speed_rpm (wind), "
        "state_of_charge_pct (battery), hydrogen_pct (fuel cell), battery_soc_pct (hybrid), "
        "ev_power_kw (EVSE, sum over connectors)."
    )
    key_quantity: list[float | None] = Field(
        description="Rounded to the resolution of the field key_quantity_name names."
    )
