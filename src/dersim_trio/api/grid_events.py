"""``POST``/``GET``/``DELETE /api/dersim/grid-events``: a voltage and/or frequency time series
the grid plays to one device or every device (``grid.events`` has the rules).

Times are simulated seconds after the event starts (the tick at which the POST arrived); the
first point of a series is at 0 and times never decrease. Between two points the value ramps
linearly; two points at the same time make a step. Past its last point the event holds the
last value (and says so in the log) until it is ended or replaced.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dersim_trio.api.inputs import GridVoltage
from dersim_trio.grid.events import MAX_POINTS, MAX_TIME_S


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


_T_S = Field(
    ge=0.0,
    le=MAX_TIME_S,
    description="0..1e7 simulated seconds after the event starts; the first point at 0, never "
    "decreasing (equal times: a step)",
)


class VoltagePoint(_Body):
    """One point of the voltage series."""

    t_s: float = _T_S
    v_pu: GridVoltage = Field(
        description="0..1.5 pu, or three per-phase L-N values 0..1.5 (three-phase devices)"
    )


class FrequencyPoint(_Body):
    """One point of the frequency series."""

    t_s: float = _T_S
    freq_hz: float = Field(ge=45.0, le=65.0, description="45..65 Hz")


class GridEventRequest(_Body):
    """``POST /api/dersim/grid-events`` body: at least one of ``voltage`` and ``frequency``
    (the order of their times is checked by the operator façade, naming the point)."""

    device: int | None = Field(
        default=None,
        description="0-based device index (one that does not exist: 404 device_not_found); "
        "null or absent: every device",
    )
    voltage: list[VoltagePoint] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_POINTS,
        description=f"1..{MAX_POINTS} points (t_s, v_pu); absent: the devices' inputs",
    )
    frequency: list[FrequencyPoint] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_POINTS,
        description=f"1..{MAX_POINTS} points (t_s, freq_hz); absent: the devices' inputs",
    )


class GridEventState(BaseModel):
    """The grid event in force (``active`` false: none)."""

    active: bool
    device: int | None = Field(description="The device it plays to; null: every device.")
    source: str | None = Field(description='"api" (POST) or the --grid_profile file; null: none.')
    started_s: float | None = Field(
        description="Simulated seconds since the simulator start at which it started."
    )
    elapsed_s: float | None = Field(description="Simulated seconds into the event.")
    duration_s: float | None = Field(description="Time of its last point.")
    holding: bool = Field(description="True once past its data: the last values hold.")
    voltage: list[VoltagePoint] | None
    frequency: list[FrequencyPoint] | None
