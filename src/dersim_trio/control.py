"""The simulator's control surface, as plain methods over the engine (no web, no trio).

Everything an operator can change at run time goes through ``Controller``: the web routes call
it, tests call it directly. Changes are applied between ticks (the tick loop and the web handlers
share one trio thread and ``Engine.step`` never awaits), so a change is visible in the very next
tick's snapshot.
"""

from __future__ import annotations

from .engine import Engine
from .schema import InputsState, InputsUpdate


class DeviceIndexError(LookupError):
    """A device index outside [0, N)."""


class Controller:
    """Run-time inputs (and later setpoints and commands) of the simulated devices."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def device_count(self) -> int:
        """Number of simulated devices."""
        return len(self.engine.devices)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.device_count:
            raise DeviceIndexError(
                f"device index must be an integer in [0, {self.device_count - 1}]; got {index}"
            )

    def inputs(self, index: int) -> InputsState:
        """The run-time input overrides of one device (``None``: following profile/model)."""
        self._check(index)
        slot = self.engine.devices[index]
        i = slot.inputs
        return InputsState(
            device_index=index,
            irradiance_w_m2=i.irradiance_w_m2,
            ambient_temperature_c=i.ambient_temperature_c,
            wind_speed_m_s=i.wind_speed_m_s,
            grid_voltage_pu=i.grid_voltage_pu,
            grid_frequency_hz=i.grid_frequency_hz,
            has_profile=slot.profile is not None,
        )

    def update_inputs(self, index: int | None, update: InputsUpdate) -> list[InputsState]:
        """Apply the fields present in ``update`` to one device (or all when ``index`` is None).

        A number overrides the profile; ``null`` returns the quantity to its profile (or model);
        for grid voltage and frequency ``null`` returns to nominal (1.0 pu, 60 Hz).
        """
        indices = range(self.device_count) if index is None else [index]
        if index is not None:
            self._check(index)
        fields = update.model_fields_set
        for i in indices:
            inputs = self.engine.devices[i].inputs
            if "irradiance_w_m2" in fields:
                inputs.irradiance_w_m2 = update.irradiance_w_m2
            if "ambient_temperature_c" in fields:
                inputs.ambient_temperature_c = update.ambient_temperature_c
            if "wind_speed_m_s" in fields:
                inputs.wind_speed_m_s = update.wind_speed_m_s
            if "grid_voltage_pu" in fields:
                v = update.grid_voltage_pu
                inputs.grid_voltage_pu = 1.0 if v is None else v
            if "grid_frequency_hz" in fields:
                f = update.grid_frequency_hz
                inputs.grid_frequency_hz = 60.0 if f is None else f
        return [self.inputs(i) for i in indices]
