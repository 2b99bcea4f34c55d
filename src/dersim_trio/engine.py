"""The simulation engine: N device models plus the simulator clock → one snapshot each per tick.

Sans-IO: no trio, no sockets, no wall-clock reads. The service calls ``step()`` once per tick
(passing the wall time only in wall-clock mode) and publishes what it returns. Every snapshot is
validated by the pydantic schema, so a NaN or an out-of-range value from a model fails the tick
loudly instead of reaching a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .clock import SimClock
from .physics.ac import AcType, EnergyCounters, measure
from .physics.base import DeviceModel, DeviceOutput, Dispatch, Environment
from .schema import (
    ASSET_MODELS,
    PQ,
    Energy,
    Metrics,
    ServiceState,
    Snapshot,
    Status,
)


@dataclass(frozen=True, slots=True)
class ProfileSample:
    """Values a DC-source profile gives for one instant (``None``: no such column)."""

    irradiance_w_m2: float | None = None
    ambient_temperature_c: float | None = None
    wind_speed_m_s: float | None = None


class InputProfile(Protocol):
    """A time series of simulation inputs (read once at start, sampled every tick)."""

    def sample(self, sim_time: datetime, elapsed_s: float) -> ProfileSample:
        """The inputs at ``sim_time`` (``elapsed_s`` simulated seconds after the start)."""
        ...


@dataclass(slots=True)
class GridInputs:
    """Runtime overrides for one device; ``None`` leaves a quantity to the profile, then the model.

    Precedence for irradiance, ambient temperature and wind: override, else the device's
    profile, else the model's own (seeded) source.
    """

    grid_voltage_pu: float = 1.0
    grid_frequency_hz: float = 60.0
    irradiance_w_m2: float | None = None
    ambient_temperature_c: float | None = None
    wind_speed_m_s: float | None = None


@dataclass(slots=True)
class DeviceSlot:
    """One simulated device and everything the engine keeps for it."""

    index: int
    model: DeviceModel
    ac_type: AcType
    voltage_ln_nominal_v: float
    dispatch: Dispatch = field(default_factory=Dispatch)
    inputs: GridInputs = field(default_factory=GridInputs)
    profile: InputProfile | None = None
    energy: EnergyCounters = field(default_factory=EnergyCounters)
    last_output: DeviceOutput | None = None


def _service_state(out: DeviceOutput) -> ServiceState:
    if out.inverter_state in ("off", "fault"):
        return "out_of_service"
    if out.inverter_state == "starting":
        return "entering_service"
    return "in_service"


class Engine:
    """Devices + simulator clock → snapshots (sans-IO)."""

    def __init__(
        self,
        devices: Sequence[DeviceSlot],
        clock: SimClock,
        device_type: str,
        device_profile_name: str | None = None,
    ) -> None:
        if not devices:
            raise ValueError("the engine needs at least one device")
        self.devices = list(devices)
        self.clock = clock
        self.device_type = device_type
        self.device_profile_name = device_profile_name

    @property
    def tick(self) -> int:
        """The current tick number (0 before the first ``step``)."""
        return self.clock.tick

    def initial(self) -> list[Snapshot]:
        """Tick 0: evaluate every device at the start time without advancing its state."""
        return self._evaluate(0.0)

    def step(self, wall_now: datetime | None = None) -> list[Snapshot]:
        """Advance the clock one tick and every device by the elapsed simulated time."""
        dt_s = self.clock.advance(wall_now)
        return self._evaluate(dt_s)

    def _evaluate(self, dt_s: float) -> list[Snapshot]:
        now = self.clock.current
        tick = self.clock.tick
        elapsed_s = (now - self.clock.start).total_seconds()
        timestamp = now.isoformat(timespec="milliseconds")
        clock_time = now.strftime("%H:%M:%S")
        snapshots: list[Snapshot] = []
        for slot in self.devices:
            inputs = slot.inputs
            irradiance = inputs.irradiance_w_m2
            ambient = inputs.ambient_temperature_c
            wind = inputs.wind_speed_m_s
            if slot.profile is not None and (irradiance is None or ambient is None or wind is None):
                sample = slot.profile.sample(now, elapsed_s)
                irradiance = sample.irradiance_w_m2 if irradiance is None else irradiance
                ambient = sample.ambient_temperature_c if ambient is None else ambient
                wind = sample.wind_speed_m_s if wind is None else wind
            env = Environment(
                sim_time=now,
                grid_voltage_pu=inputs.grid_voltage_pu,
                grid_frequency_hz=inputs.grid_frequency_hz,
                irradiance_w_m2=irradiance,
                ambient_temperature_c=ambient,
                wind_speed_m_s=wind,
            )
            out = slot.model.step(env, slot.dispatch, dt_s)
            slot.last_output = out
            slot.energy.integrate(out.ac_power_kw, out.reactive_power_kvar, dt_s)
            snapshots.append(self._snapshot(slot, out, env, tick, timestamp, clock_time))
        return snapshots

    def _snapshot(
        self,
        slot: DeviceSlot,
        out: DeviceOutput,
        env: Environment,
        tick: int,
        timestamp: str,
        clock_time: str,
    ) -> Snapshot:
        ac = measure(
            slot.ac_type,
            out.ac_power_kw,
            out.reactive_power_kvar,
            slot.voltage_ln_nominal_v,
            env.grid_voltage_pu,
            env.grid_frequency_hz,
        )
        storage = out.storage
        model = slot.model
        energy = slot.energy
        return Snapshot(
            tick=tick,
            metrics=Metrics(
                power_kw=ac.active_power_kw,
                reactive_power_kvar=ac.reactive_power_kvar,
                apparent_power_kva=ac.apparent_power_kva,
                voltage_ll_v=ac.voltage_ll_v,
                voltage_ln_v=ac.voltage_ln_v,
                current_a=ac.current_a,
                frequency_hz=ac.frequency_hz,
                power_factor=ac.power_factor,
                dc_power_kw=out.dc_power_kw,
                dc_voltage_v=out.dc_voltage_v,
                dc_current_a=out.dc_current_a,
                state_of_charge_pct=storage.state_of_charge_pct if storage else None,
                soc_reserve_min_pct=storage.soc_reserve_min_pct if storage else None,
                soc_reserve_max_pct=storage.soc_reserve_max_pct if storage else None,
                soc_min_pct=storage.soc_min_pct if storage else None,
                soc_max_pct=storage.soc_max_pct if storage else None,
                timestamp=timestamp,
            ),
            pq=PQ(
                active_kw=ac.active_power_kw,
                reactive_kvar=ac.reactive_power_kvar,
                apparent_kva=ac.apparent_power_kva,
                angle_deg=ac.angle_deg,
            ),
            status=Status(
                service_state=_service_state(out),
                inverter_state=out.inverter_state,
                connection_state="connected",
                message=out.message,
            ),
            energy=Energy(
                injected_kwh=energy.injected_kwh,
                absorbed_kwh=energy.absorbed_kwh,
                reactive_injected_kvarh=energy.reactive_injected_kvarh,
                reactive_absorbed_kvarh=energy.reactive_absorbed_kvarh,
            ),
            clock_time=clock_time,
            dc_mode=model.dc_mode,  # type: ignore[arg-type]
            dc_port_count=model.dc_port_count,
            device_type=self.device_type,
            device_profile_name=self.device_profile_name,
            asset_type=model.asset_type,  # type: ignore[arg-type]
            device_index=slot.index,
            asset=ASSET_MODELS[model.asset_type].model_validate(out.asset),  # type: ignore[arg-type]
        )


def encode(snapshot: Snapshot) -> bytes:
    """The snapshot's JSON, as sent on the wire (HTTP and WebSocket share these bytes)."""
    return snapshot.__pydantic_serializer__.to_json(snapshot)
