"""``GET``/``PUT /api/dersim/devices/{index}/inputs`` and ``PUT /api/dersim/inputs``: run-time
overrides of the simulation inputs (weather, grid)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IrradianceKind = Literal["ghi", "poa"]


class InputsUpdate(BaseModel):
    """``PUT .../inputs`` body: every field optional; a number overrides, ``null`` resets."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    irradiance_w_m2: float | None = Field(
        default=None,
        ge=0,
        le=1500,
        description="Irradiance, W/m² (0..1500): global horizontal, or in the plane of the "
        "array when irradiance_kind is poa.",
    )
    irradiance_kind: IrradianceKind | None = Field(
        default=None,
        description="What irradiance_w_m2 is: ghi (global horizontal, the default; transposed "
        "to each array's tilt and azimuth) or poa (plane of array); null resets to ghi.",
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
    load_kw: float | None = Field(
        default=None,
        ge=0,
        le=100000,
        description="Site load behind the meter, kW (0..100000; HybridDC).",
    )


class InputsState(BaseModel):
    """A device's run-time input overrides; ``null`` means following its profile or model."""

    device_index: int
    irradiance_w_m2: float | None
    irradiance_kind: IrradianceKind
    ambient_temperature_c: float | None
    wind_speed_m_s: float | None
    load_kw: float | None
    grid_voltage_pu: float
    grid_frequency_hz: float
    has_profile: bool = Field(description="True when a --dc_profile feeds this device.")
