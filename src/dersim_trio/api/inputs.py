"""``GET``/``PUT /api/dersim/devices/{index}/inputs`` and ``PUT /api/dersim/inputs``: run-time
overrides of the simulation inputs (weather, grid).

``grid_voltage_pu`` is one per-unit number (every phase) or, for three-phase devices, a list of
three per-phase line-to-neutral values (an unbalanced grid). The snapshot's voltage is then the
average of the phases (current and power relations use it); the grid functions judge the
lowest phase against low-voltage limits and the highest against high-voltage ones.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, RootModel, WithJsonSchema

GRID_VOLTAGE_MAX_PU = 1.5
_GRID_VOLTAGE_TEXT = "0..1.5 pu, or a list of three per-phase L-N values 0..1.5 (three-phase)"


def _grid_voltage(value: Any) -> float | list[float]:
    """A number 0..1.5, or a list of three such numbers (plain JSON values; bools refused)."""

    def number(x: Any) -> float | None:
        if isinstance(x, bool) or not isinstance(x, int | float):
            return None
        f = float(x)
        return f if math.isfinite(f) and 0.0 <= f <= GRID_VOLTAGE_MAX_PU else None

    single = number(value)
    if single is not None:
        return single
    if isinstance(value, list) and len(value) == 3:
        phases = [number(x) for x in value]
        if all(x is not None for x in phases):
            return [x for x in phases if x is not None]
    raise ValueError(f"must be {_GRID_VOLTAGE_TEXT}")


_PU_SCHEMA = {"type": "number", "minimum": 0, "maximum": GRID_VOLTAGE_MAX_PU}
GridVoltage = Annotated[
    float | list[float],
    PlainValidator(_grid_voltage),
    WithJsonSchema(
        {
            "anyOf": [
                _PU_SCHEMA,
                {"type": "array", "items": _PU_SCHEMA, "minItems": 3, "maxItems": 3},
            ]
        }
    ),
]
"""A grid voltage: one per-unit number, or three per-phase line-to-neutral values."""

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
    grid_voltage_pu: GridVoltage | None = Field(
        default=None, description=f"Grid voltage: {_GRID_VOLTAGE_TEXT}."
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
    grid_voltage_pu: float | list[float] = Field(
        description="The set grid voltage: per unit, or three per-phase L-N values."
    )
    grid_frequency_hz: float
    has_profile: bool = Field(description="True when a --dc_profile feeds this device.")
    grid_event: bool = Field(
        default=False,
        description="True while a grid event (POST /api/dersim/grid-events) plays to this "
        "device: its series then take precedence over grid_voltage_pu / grid_frequency_hz.",
    )


class InputsStateList(RootModel[list[InputsState]]):
    """Every device's input overrides, in device order."""
