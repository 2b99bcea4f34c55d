"""The simulation engine: N device models plus the simulator clock → one snapshot each per tick.

Sans-IO: no trio, no sockets, no wall-clock reads. The service calls ``step()`` once per tick
(passing the wall time only in wall-clock mode) and publishes what it returns. Every snapshot is
checked against the pydantic schema, every device of the tick at once (``api.wire``: the tick
as columns, one record per device plus the AC quantities ``physics.ac.measure_columns`` derives
for all devices as arrays), so a NaN or an out-of-range value from a model fails the tick loudly
instead of reaching a client.

Around each model step a device's supervisor (``controls.supervisor``) applies the operator's
controls and the operating, service and fault states: it turns them into the model's
``Dispatch`` before the step and into the final P, Q, states and message after it. Snapshots and
energy counters use those final values.

The grid a device sees: its inputs (``GridInputs``: one voltage or three per-phase values, the
frequency), unless a grid event (``grid.events``) plays to it, which then gives the quantities
it has series for, at the end of the tick and at any instant inside it (the trip monitor's
sub-steps). Behind a weak grid (``DeviceSlot.network``, ``grid.network``) that is the source
voltage, and the device's own P and Q add the rise to its terminal voltage: the snapshot's
voltage (the average of the phases) is the terminal voltage for the P and Q delivered.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt
from pydantic_core import to_json

from dersim_trio.api.schema import (
    Snapshot,
    round_snapshot_payload,
)
from dersim_trio.api.wire import Column, Record, Row, TickCommon, TickSnapshots
from dersim_trio.controls.operating_state import OperatingTimes
from dersim_trio.controls.supervisor import Delivered, DeviceSupervisor
from dersim_trio.engine.clock import SimClock
from dersim_trio.grid.events import GridEvent
from dersim_trio.grid.network import Thevenin
from dersim_trio.grid.trip import GridSample
from dersim_trio.physics.ac import AcConnections, AcType, EnergyCounters, measure_columns
from dersim_trio.physics.base import (
    ArrayFleet,
    ArrayMember,
    AssetRow,
    DeviceModel,
    DeviceOutput,
    Dispatch,
    Environment,
)

log_grid = logging.getLogger("dersim_trio.Grid")


@dataclass(frozen=True, slots=True)
class ProfileSample:
    """Values a DC-source profile gives for one instant (``None``: no such column)."""

    irradiance_w_m2: float | None = None
    irradiance_is_poa: bool = False
    """Whether the irradiance is plane-of-array (default: global horizontal)."""
    ambient_temperature_c: float | None = None
    wind_speed_m_s: float | None = None
    load_kw: float | None = None


class InputProfile(Protocol):
    """A time series of simulation inputs (read once at start, sampled every tick)."""

    def sample(self, sim_time: datetime, elapsed_s: float) -> ProfileSample:
        """The inputs at ``sim_time`` (``elapsed_s`` simulated seconds after the start)."""
        ...


@dataclass(slots=True)
class GridInputs:
    """Runtime overrides for one device; ``None`` leaves a quantity to the profile, then the model.

    Precedence for irradiance, ambient temperature, wind and site load: override, else the
    device's profile, else the model's own (seeded) source.
    """

    grid_voltage_pu: float = 1.0
    """Per-unit grid voltage (the average of the phases when ``grid_voltage_phases_pu`` is set)."""
    grid_voltage_phases_pu: tuple[float, float, float] | None = None
    """Per-phase L-N voltages (an unbalanced grid); None: every phase at ``grid_voltage_pu``."""
    grid_frequency_hz: float = 60.0
    irradiance_w_m2: float | None = None
    irradiance_is_poa: bool = False
    """Whether the irradiance override is plane-of-array (default: global horizontal)."""
    ambient_temperature_c: float | None = None
    wind_speed_m_s: float | None = None
    load_kw: float | None = None
    """Site load behind the device's meter, kW (hybrid systems)."""


@dataclass(slots=True)
class DeviceSlot:
    """One simulated device and everything the engine keeps for it.

    ``supervisor`` holds the operator's controls, the operating and service states and the
    injected faults (``controls.supervisor``); ``last_output`` is the model's raw output of the
    last tick, before the controls shaped it.
    """

    index: int
    model: DeviceModel
    ac_type: AcType
    voltage_ln_nominal_v: float
    inputs: GridInputs = field(default_factory=GridInputs)
    profile: InputProfile | None = None
    energy: EnergyCounters = field(default_factory=EnergyCounters)
    last_output: DeviceOutput | None = None
    supervisor: DeviceSupervisor = field(default_factory=DeviceSupervisor)
    network: Thevenin | None = None
    """The source impedance in front of the device (None: a stiff grid)."""
    voltage_rise_pu: float = 0.0
    """Terminal minus source voltage for the P and Q of the last tick (weak grid only)."""
    grid_status: tuple[tuple[float, ...], Row] | None = None
    """The last grid-support block of the snapshot and its phase voltages."""
    last_frequency_hz: float | None = None
    """The grid frequency of the last tick (the snapshot's ROCOF)."""

    @property
    def dispatch(self) -> Dispatch:
        """The operator's active power setpoint and limit (before states, ramps, priorities)."""
        return self.supervisor.controls.base_dispatch()

    @dispatch.setter
    def dispatch(self, dispatch: Dispatch) -> None:
        controls = self.supervisor.controls
        controls.active_power_setpoint_kw = dispatch.active_power_setpoint_kw
        controls.active_power_limit_pct = dispatch.active_power_limit_pct


_Pending = tuple[
    "DeviceSlot",
    Environment,
    Dispatch,
    float,
    float,
    tuple[float, float, float] | None,
    float,
]
"""One device between its supervisor's ``before_step`` and the model step: slot, environment,
dispatch, source voltage (pu), frequency, phase voltages, and the weak grid's rise."""


_ModelPlan = tuple[list[int], list[tuple[ArrayFleet, list[int], Sequence[int]]]]
"""The positions of the devices stepped alone; per fleet: its devices' positions and rows."""


class Engine:
    """Devices + simulator clock → snapshots (sans-IO)."""

    def __init__(
        self,
        devices: Sequence[DeviceSlot],
        clock: SimClock,
        device_type: str,
        device_profile_name: str | None = None,
        times: OperatingTimes | None = None,
    ) -> None:
        if not devices:
            raise ValueError("the engine needs at least one device")
        self.devices = list(devices)
        self.clock = clock
        self.device_type = device_type
        self.device_profile_name = device_profile_name
        self.times = OperatingTimes() if times is None else times
        """Startup, shutdown and enter-service durations (simulated seconds)."""
        self.grid_event: GridEvent | None = None
        """The grid event playing (``grid.events``), if any."""
        self._plan: _ModelPlan | None = None
        """``_model_plan``: the devices stepped alone, and each fleet's devices and rows."""
        self._plan_models: list[DeviceModel] = []
        self._ac = AcConnections.of(
            [slot.ac_type for slot in self.devices],
            [slot.voltage_ln_nominal_v for slot in self.devices],
        )
        """Every device's AC connection (its type and nominal voltage are fixed once built)."""
        self._owners = [slot.index for slot in self.devices]

    @property
    def tick(self) -> int:
        """The current tick number (0 before the first ``step``)."""
        return self.clock.tick

    @property
    def elapsed_s(self) -> float:
        """Simulated seconds from the start to the current tick (reversion deadlines use it)."""
        return (self.clock.current - self.clock.start).total_seconds()

    def initial(self) -> TickSnapshots:
        """Tick 0: evaluate every device at the start time without advancing its state."""
        return self._evaluate(0.0)

    def step(self, wall_now: datetime | None = None) -> TickSnapshots:
        """Advance the clock one tick and every device by the elapsed simulated time."""
        dt_s = self.clock.advance(wall_now)
        return self._evaluate(dt_s)

    def _evaluate(self, dt_s: float) -> TickSnapshots:
        now = self.clock.current
        tick = self.clock.tick
        elapsed_s = (now - self.clock.start).total_seconds()
        times = self.times
        timestamp = now.isoformat(timespec="milliseconds")
        clock_time = now.strftime("%H:%M:%S")
        records: list[Record] = []
        volts: list[float] = []
        event = self.grid_event
        if event is not None and not event.past_reported and event.past_data(elapsed_s):
            event.past_reported = True
            _log_past_data(event)
        event_corners: list[float] | None = None
        event_paths: dict[tuple[object, ...], Callable[[float], GridSample]] = {}
        pending: list[_Pending] = []
        blocks: dict[tuple[object, ...], Row] = {}
        # the environment and grid sample of each distinct set of inputs this tick
        seen_by_key: dict[tuple[object, ...], tuple[Environment, GridSample]] = {}
        for slot in self.devices:
            inputs = slot.inputs
            irradiance = inputs.irradiance_w_m2
            is_poa = inputs.irradiance_is_poa
            ambient = inputs.ambient_temperature_c
            wind = inputs.wind_speed_m_s
            load = inputs.load_kw
            if slot.profile is not None and (
                irradiance is None or ambient is None or wind is None or load is None
            ):
                sample = slot.profile.sample(now, elapsed_s)
                if irradiance is None:
                    irradiance = sample.irradiance_w_m2
                    is_poa = sample.irradiance_is_poa
                ambient = sample.ambient_temperature_c if ambient is None else ambient
                wind = sample.wind_speed_m_s if wind is None else wind
                load = sample.load_kw if load is None else load
            f = inputs.grid_frequency_hz
            v = inputs.grid_voltage_pu
            phases = inputs.grid_voltage_phases_pu
            grid_at: Callable[[float], GridSample] | None = None
            corners: Sequence[float] = ()
            if event is not None and event.applies_to(slot.index):
                event_v, event_f = event.sample(elapsed_s)
                if event_v is not None:
                    phases = event_v
                    v = (event_v[0] + event_v[1] + event_v[2]) / 3.0
                if event_f is not None:
                    f = event_f
                key = (
                    inputs.grid_voltage_pu,
                    inputs.grid_voltage_phases_pu,
                    inputs.grid_frequency_hz,
                    slot.voltage_rise_pu,
                )
                grid_at = event_paths.get(key)
                if grid_at is None:  # devices alike share one path (and its samples)
                    grid_at = event_paths[key] = _event_grid_at(event, inputs, slot.voltage_rise_pu)
                if event_corners is None:
                    event_corners = event.corners(elapsed_s - dt_s, elapsed_s)
                corners = event_corners
            network = slot.network
            rise = slot.voltage_rise_pu if network is not None else 0.0
            seen_key = (v, f, phases, rise, irradiance, is_poa, ambient, wind, load)
            seen = seen_by_key.get(seen_key)
            if seen is None:  # devices that see the same share one (neither is ever changed)
                if phases is None:
                    grid = GridSample(v + rise, v + rise, f)
                else:
                    grid = GridSample(min(phases) + rise, max(phases) + rise, f)
                env = Environment(now, v + rise, f, irradiance, is_poa, ambient, wind, load)
                seen = seen_by_key[seen_key] = (env, grid)
            env, grid = seen
            dispatch = slot.supervisor.before_step(
                slot.index,
                slot.model,
                env,
                dt_s,
                elapsed_s,
                times,
                grid,
                grid_at,
                network,
                v if network is not None else None,
                corners,
            )
            pending.append((slot, env, dispatch, v, f, phases, rise))
        outputs = self._step_models(pending, dt_s)
        for (slot, _env, _dispatch, v, f, phases, rise), out in zip(pending, outputs, strict=True):
            network = slot.network
            supervisor = slot.supervisor
            model = slot.model
            slot.last_output = out
            delivered = supervisor.after_step(slot.index, model, out)
            slot.energy.integrate(delivered.active_power_kw, delivered.reactive_power_kvar, dt_s)
            v_terminal = v + rise
            if network is not None:
                s_rated = model.rating.va_max_kva
                v_terminal = network.terminal_pu(
                    v,
                    delivered.active_power_kw / s_rated,
                    delivered.reactive_power_kvar / s_rated,
                )
                slot.voltage_rise_pu = v_terminal - v
            grid_block = None
            if supervisor.grid is not None:
                rise = v_terminal - v
                if slot.ac_type != "three":
                    phase_v: tuple[float, ...] = (v_terminal,)
                elif phases is None:
                    phase_v = (v_terminal, v_terminal, v_terminal)
                else:
                    phase_v = (phases[0] + rise, phases[1] + rise, phases[2] + rise)
                f_last = slot.last_frequency_hz
                rocof = (f - f_last) / dt_s if f_last is not None and dt_s > 0.0 else 0.0
                grid_block = _grid_support(slot, phase_v, rocof, blocks)
            slot.last_frequency_hz = f
            records.append(self._snapshot(slot, out, delivered, f, grid_block))
            volts.append(v_terminal)
        common = TickCommon(tick, timestamp, clock_time, self.device_type, self.device_profile_name)
        transposed = list(zip(*records, strict=True))
        p, q = _float_array(transposed[0]), _float_array(transposed[1])
        columns: list[Column] = list(transposed)
        ac = measure_columns(self._ac, p, q, np.array(volts, dtype=np.float64))
        s = ac.apparent_power_kva
        columns += [s, ac.voltage_ll_v, ac.voltage_ln_v, ac.current_a, ac.power_factor]
        columns += [p, q, s, ac.angle_deg]  # pq: the same P, Q and S
        return TickSnapshots.of_columns(common, columns, self._owners)

    def _step_models(self, pending: Sequence[_Pending], dt_s: float) -> list[DeviceOutput]:
        """Every device's model step: the rows of an array fleet (``ArrayFleet``) in one call
        per fleet, any other model on its own; the outputs in device order (``pending`` has
        one entry per device, in device order)."""
        singles, groups = self._model_plan()
        if not singles and len(groups) == 1 and len(groups[0][1]) == len(pending):
            fleet, _, order = groups[0]  # one fleet, every device: its outputs as they come
            return list(
                fleet.step_rows(order, [p[1] for p in pending], [p[2] for p in pending], dt_s)
            )
        outputs: list[DeviceOutput | None] = [None] * len(pending)
        for k in singles:
            item = pending[k]
            outputs[k] = item[0].model.step(item[1], item[2], dt_s)
        for fleet, positions, order in groups:
            stepped = fleet.step_rows(
                order,
                [pending[k][1] for k in positions],
                [pending[k][2] for k in positions],
                dt_s,
            )
            for k, out in zip(positions, stepped, strict=True):
                outputs[k] = out
        return cast(list[DeviceOutput], outputs)

    def _model_plan(self) -> _ModelPlan:
        """Which devices step alone and which as the rows of which fleet, worked out once for
        the engine's models (made again if a slot's model was replaced)."""
        models = [slot.model for slot in self.devices]
        known = self._plan_models
        if (
            self._plan is not None
            and len(known) == len(models)
            and all(map(operator.is_, models, known))
        ):
            return self._plan
        singles: list[int] = []
        by_fleet: dict[int, tuple[ArrayFleet, list[int], list[int]]] = {}
        for k, model in enumerate(models):
            if isinstance(model, ArrayMember):
                fleet = model.fleet
                group = by_fleet.setdefault(id(fleet), (fleet, [], []))
                group[1].append(k)
                group[2].append(model.row)
            else:
                singles.append(k)
        groups: list[tuple[ArrayFleet, list[int], Sequence[int]]] = []
        for fleet, positions, rows in by_fleet.values():
            order: Sequence[int] = rows
            if rows == list(range(len(rows))):
                order = range(len(rows))  # the whole fleet in row order: no gather
            groups.append((fleet, positions, order))
        self._plan = (singles, groups)
        self._plan_models = models
        return self._plan

    def _snapshot(
        self,
        slot: DeviceSlot,
        out: DeviceOutput,
        delivered: Delivered,
        f_hz: float,
        grid_block: Row | None,
    ) -> Record:
        """The device's record: its snapshot's values in ``api.wire.RECORD_FIELDS`` order up to
        the quantities ``_evaluate`` derives for every device at once (``measure_columns``; the
        tick's shared values are the ``TickCommon``). The grid block's row is its field dict."""
        storage = out.storage
        model = slot.model
        energy = slot.energy
        return (
            delivered.active_power_kw,
            delivered.reactive_power_kvar,
            f_hz,
            delivered.dc_power_kw,
            out.dc_voltage_v,
            delivered.dc_current_a,
            energy.injected_kwh,
            energy.absorbed_kwh,
            energy.reactive_injected_kvarh,
            energy.reactive_absorbed_kvarh,
            *(
                (
                    storage.state_of_charge_pct,
                    storage.soc_reserve_min_pct,
                    storage.soc_reserve_max_pct,
                    storage.soc_min_pct,
                    storage.soc_max_pct,
                )
                if storage
                else _NO_STORAGE
            ),
            delivered.service_state,
            delivered.inverter_state,
            delivered.connection_state,
            delivered.message,
            delivered.grid_state,
            model.dc_mode,
            model.asset_type,
            model.dc_port_count,
            slot.index,
            _last_trip(slot),
            asset if type(asset := out.asset) in _PUBLISHED_AS_IS else dict(asset),
            grid_block,
        )


_PUBLISHED_AS_IS = frozenset({dict, AssetRow})
"""The asset mappings a record holds as they are (``DeviceOutput.asset``)."""
_NO_STORAGE = (None, None, None, None, None)
"""The storage fields of a device without storage."""


def _float_array(column: Sequence[object]) -> npt.NDArray[np.float64]:
    """A column of numbers as float64 (NaN throughout where one is not a number: the tick's
    check then names it)."""
    try:
        return np.array(column, dtype=np.float64)
    except (TypeError, ValueError):
        return np.full(len(column), np.nan)


def _event_grid_at(
    event: GridEvent, inputs: GridInputs, rise_pu: float
) -> Callable[[float], GridSample]:
    """The grid a device sees at simulated time t while ``event`` plays (inputs for the
    quantities the event has no series for; ``rise_pu``: the weak grid's rise of last tick)."""
    v_in = inputs.grid_voltage_pu
    phases_in = inputs.grid_voltage_phases_pu
    f_in = inputs.grid_frequency_hz
    lo_in = (min(phases_in) if phases_in is not None else v_in) + rise_pu
    hi_in = (max(phases_in) if phases_in is not None else v_in) + rise_pu

    memo: dict[float, GridSample] = {}

    def grid_at(t: float) -> GridSample:
        sample = memo.get(t)
        if sample is None:
            v, f = event.sample(t)
            if v is None:
                sample = GridSample(lo_in, hi_in, f_in if f is None else f)
            else:
                sample = GridSample(min(v) + rise_pu, max(v) + rise_pu, f_in if f is None else f)
            memo[t] = sample
        return sample

    return grid_at


def _log_past_data(event: GridEvent) -> None:
    v, f = event.sample(event.start_s + event.end_s)
    held = []
    if v is not None:
        held.append("V " + "/".join(f"{x:.3f}" for x in dict.fromkeys(v)) + " pu")
    if f is not None:
        held.append(f"f {f:.3f} Hz")
    log_grid.warning(
        "grid event (%s, %s): past its data at %.3f s after its start; holding the last "
        "value (%s) until it is ended (DELETE /api/dersim/grid-events) or replaced",
        event.source,
        "every device" if event.device is None else f"device {event.device}",
        event.end_s,
        ", ".join(held),
    )


def _last_trip(slot: DeviceSlot) -> dict[str, object] | None:
    grid = slot.supervisor.grid
    if grid is None or grid.last_trip is None:
        return None
    return {"cause": grid.last_trip.cause, "time_s": grid.last_trip.time_s}


def _grid_support(
    slot: DeviceSlot,
    phase_v_pu: tuple[float, ...],
    rocof_hz_per_s: float,
    blocks: dict[tuple[object, ...], Row],
) -> Row | None:
    """The snapshot's grid-support block (a ``GridSupportStatus`` row), built once per change
    of its values and shared by the ticks that follow while nothing changes, and by the
    devices of the tick with the same values (``blocks``: this tick's, by their values; a
    fleet on one grid with one rating publishes one block, not a dict per device).

    The row is checked against the schema with the rest of the tick (``api.wire``); the
    finite test here names the device and the values when a grid function made a NaN."""
    grid = slot.supervisor.grid
    if grid is None:
        return None
    q, p, v_ref, v_pct = grid.q_target_kvar, grid.p_limit_kw, grid.v_ref_pct, grid.v_pct
    mode, by, functions = grid.reactive_mode, grid.p_limit_by, grid.active_functions
    cached = slot.grid_status
    if cached is not None:  # compared field by field: no key built per device-tick
        phases, block = cached
        if (
            block["target_q_kvar"] == q
            and block["p_limit_kw"] == p
            and block["v_ref_pct"] == v_ref
            and block["v_pct"] == v_pct
            and block["rocof_hz_per_s"] == rocof_hz_per_s
            and phases == phase_v_pu
            and block["p_limit_by"] == by
            and block["reactive_mode"] == mode
            and block["functions"] is functions  # one list per settings object
        ):
            return block
    key = (q, p, v_ref, v_pct, rocof_hz_per_s, phase_v_pu, by, mode, id(functions))
    shared = blocks.get(key)  # a key with a NaN is never stored: refused below
    if shared is not None:
        slot.grid_status = (phase_v_pu, shared)
        return shared
    # One test for all: a sum is finite only when every term is (the terms are bounded far
    # below overflow: kW, kvar, % and pu of a device, Hz/s).
    if not math.isfinite(q + p + v_ref + v_pct + rocof_hz_per_s + sum(phase_v_pu)):
        raise ValueError(
            f"device {slot.index}: grid support produced a non-finite value "
            f"(target_q_kvar {q}, p_limit_kw {p}, v_ref_pct {v_ref}, v_pct {v_pct}, "
            f"rocof_hz_per_s {rocof_hz_per_s}, phase_voltage_pu {list(phase_v_pu)})"
        )
    block = {
        "functions": functions,
        "target_q_kvar": q,
        "p_limit_kw": p,
        "v_ref_pct": v_ref,
        "reactive_mode": mode,
        "p_limit_by": by,
        "v_pct": v_pct,
        "phase_voltage_pu": list(phase_v_pu),
        "rocof_hz_per_s": rocof_hz_per_s,
    }
    slot.grid_status = (phase_v_pu, block)
    blocks[key] = block
    return block


def encode(snapshot: Snapshot) -> bytes:
    """One ``Snapshot`` model's JSON as published: its plain form rounded to every field's
    resolution (``api.resolution``), as ``TickSnapshots.payloads`` sends its row."""
    return to_json(round_snapshot_payload(snapshot.model_dump()))
