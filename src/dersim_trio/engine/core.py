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

Quiet devices
-------------

Most devices of a large fleet repeat their tick: the inverter running in service, the
operator's active power setpoint or limit (if any) held without a ramp, no power factor, var
setpoint or reversion timer, the grid what it was, and the grid functions steady with no
reactive mode (``GridSupport.quiet_window``). Such a device's tick is the same arithmetic every
time: the supervisor's dispatch is the last one, and after the model step P is held to the
dispatch's cap and clipped into the grid's window, Q is 0, the states and the grid-support block
are the last ones and the status message is the model's.

The engine marks a device quiet at the end of a tick that left it so (``DeviceSlot.quiet``: one
``_Quiet`` for every device with equal values) and, while it stays so, steps it with the other
quiet devices of its fleet as arrays (``_quiet_tick``) instead of through its supervisor one
device at a time: the same operations in the same order on float64 arrays (IEEE 754 gives the
same bits; ``min`` and ``max`` keep Python's choice between equal values and NaN). Every tick
re-checks, device by device, what the operator, a command, a fault, a grid event or the inputs
could have changed since (so a change made directly to a slot's objects counts as well as one
through the API), and a device that fails a check takes the full path that tick.
``Engine(quiet=False)`` turns this off; the tests compare both ways tick by tick
(``tests/test_engine_quiet.py``). What it saves is measured by ``scripts/bench_service_tick.py``
(``BENCHMARKS.md`` §3, "Quiet devices").
"""

from __future__ import annotations

import logging
import math
import operator
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, repeat
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
from dersim_trio.controls.setpoints import DeviceControls
from dersim_trio.controls.supervisor import CAP_TOLERANCE_KW, Delivered, DeviceSupervisor
from dersim_trio.engine.clock import SimClock
from dersim_trio.grid.capability import p_room_kw
from dersim_trio.grid.events import GridEvent
from dersim_trio.grid.network import Thevenin
from dersim_trio.grid.settings import GridSettings
from dersim_trio.grid.support import GridState
from dersim_trio.grid.trip import GridSample
from dersim_trio.physics.ac import AcConnections, AcType, EnergyCounters, measure_columns
from dersim_trio.physics.base import (
    ArrayFleet,
    ArrayMember,
    AssetRow,
    AssetRows,
    DeviceModel,
    DeviceOutput,
    Dispatch,
    Environment,
    FleetStep,
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
    output: DeviceOutput | _StepOutputs | None = None
    """The model's raw output of the last tick (read it as ``last_output``), or, for a quiet
    device, the fleet step's outputs that hold it (made into a ``DeviceOutput`` when read)."""
    supervisor: DeviceSupervisor = field(default_factory=DeviceSupervisor)
    network: Thevenin | None = None
    """The source impedance in front of the device (None: a stiff grid)."""
    voltage_rise_pu: float = 0.0
    """Terminal minus source voltage for the P and Q of the last tick (weak grid only)."""
    grid_status: tuple[tuple[float, ...], Row] | None = None
    """The last grid-support block of the snapshot and its phase voltages."""
    last_frequency_hz: float | None = None
    """The grid frequency of the last tick (the snapshot's ROCOF)."""
    quiet: _Quiet | None = None
    """What the device's tick repeats while it stays quiet (module docstring); None: it is
    not, or the engine has not seen it so yet."""
    trip_record: Row | None = None
    """The snapshot's ``status.last_trip`` of the last tick (a quiet device publishes it
    again: a trip ends its quiet)."""

    @property
    def last_output(self) -> DeviceOutput | None:
        """The model's raw output of the last tick, before the controls shaped it."""
        out = self.output
        if isinstance(out, _StepOutputs):
            out = self.output = out.output(self.index)
        return out

    @last_output.setter
    def last_output(self, out: DeviceOutput | None) -> None:
        self.output = out

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
    bool,
]
"""One device between its supervisor's ``before_step`` and the model step: slot, environment,
dispatch, source voltage (pu), frequency, phase voltages, the weak grid's rise, and whether it
may turn quiet (a fleet's row on a stiff grid, no grid event playing to it)."""


_ModelPlan = tuple[list[int], list[tuple[ArrayFleet, list[int], Sequence[int]]]]
"""The positions of the devices stepped alone; per fleet: its devices' positions and rows."""

_QuietPart = tuple[list[int], list[Column], npt.NDArray[np.float64]]
"""Quiet devices of one fleet step: their positions, their record columns (``RECORD_FIELDS``
up to ``grid_support``) and their terminal voltages."""

_QUIET_GRID_STATES = frozenset({"continuous", "mandatory", "permissive"})


class _StepOutputs:
    """The model outputs of a set of quiet devices for one tick: rows ``rows`` of a fleet's
    step, those of the devices ``indices`` (``DeviceSlot.index``). A slot holds it instead of
    its own ``DeviceOutput`` (``DeviceSlot.output``), made when read."""

    __slots__ = ("_row_of", "indices", "rows", "step")

    def __init__(self, step: FleetStep, rows: Sequence[int], indices: Sequence[int]) -> None:
        self.step = step
        self.rows = rows
        self.indices = indices
        self._row_of: dict[int, int] | None = None

    def output(self, index: int) -> DeviceOutput:
        """The ``DeviceOutput`` of device ``index``."""
        row_of = self._row_of
        if row_of is None:
            row_of = self._row_of = dict(zip(self.indices, self.rows, strict=True))
        return self.step.output(row_of[index])


@dataclass(frozen=True, slots=True, eq=False)
class _Quiet:
    """What a quiet device's tick repeats (module docstring, "Quiet devices"): the grid it saw,
    the dispatch, the window its P is held in, and the snapshot's values that stay. One object
    for every device with equal values (``Engine._quiet_of``), so a fleet's quiet devices step
    together."""

    settings: GridSettings
    voltage_pu: float
    frequency_hz: float
    phases_pu: tuple[float, float, float] | None
    dispatch: Dispatch
    p_cap_kw: float
    """The supervisor's |P| cap (``DeviceSupervisor.p_cap_kw``)."""
    p_floor_kw: float
    p_limit_kw: float
    s_limit_kva: float
    """``GridSupport.quiet_window``."""
    grid_state: GridState
    block: Row
    """The grid-support block (``_grid_support``)."""
    dc_mode: str
    asset_type: str
    dc_port_count: int
    setpoint_kw: float | None
    limit_pct: float
    """The operator's active power setpoint and limit (``DeviceControls``) it holds."""
    zeros: tuple[float, float] | None
    """Where either is zero, the signs of both (``_zeros``: -0.0 equals 0.0 but may not
    act alike); None: neither is zero."""
    fleet: ArrayFleet
    """The fleet whose rows the devices are (a set of quiet devices steps in one fleet)."""


class Engine:
    """Devices + simulator clock → snapshots (sans-IO)."""

    def __init__(
        self,
        devices: Sequence[DeviceSlot],
        clock: SimClock,
        device_type: str,
        device_profile_name: str | None = None,
        times: OperatingTimes | None = None,
        quiet: bool = True,
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
        self.quiet = quiet
        """Whether quiet devices step together as arrays (module docstring)."""
        self._plan: _ModelPlan | None = None
        """``_model_plan``: the devices stepped alone, and each fleet's devices and rows."""
        self._plan_models: list[DeviceModel] = []
        self._members: list[bool] = []
        """Per device: whether its model is a fleet's row (``_model_plan``)."""
        self._group_of: list[int] = []
        self._row_of: array[int] = array("q")
        """Per device that is a fleet's row: its fleet's group in the plan, and its position
        in that group's step (``_model_plan``; group -1 for a model stepped alone)."""
        self._quiets: dict[tuple[object, ...], _Quiet] = {}
        """The ``_Quiet`` of each set of values seen (``_quiet_of``)."""
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
        event = self.grid_event
        if event is not None and not event.past_reported and event.past_data(elapsed_s):
            event.past_reported = True
            _log_past_data(event)
        event_corners: list[float] | None = None
        event_paths: dict[tuple[object, ...], Callable[[float], GridSample]] = {}
        singles, groups = self._model_plan()
        members = self._members if self.quiet else repeat(False, len(self.devices))
        envs: list[Environment] = []
        dispatches: list[Dispatch] = []
        pending: list[_Pending | None] = []  # None: quiet this tick
        quiet_sets: dict[int, tuple[_Quiet, list[int]]] = {}  # by id: the devices quiet with it
        last_quiet: tuple[_Quiet, list[int]] | None = None  # the set the last quiet device joined
        slow_rows: list[int] = []  # the fleets' devices that are not quiet this tick
        # the environment and grid sample of each distinct set of inputs this tick
        seen_by_key: dict[tuple[object, ...], tuple[Environment, GridSample]] = {}
        for k, (slot, member) in enumerate(zip(self.devices, members, strict=True)):
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
            quiet = slot.quiet
            if quiet is not None:
                # still quiet: on the grid it was quiet on, with nothing set, commanded or
                # injected since (module docstring; a weak grid never made a device quiet)
                sv = slot.supervisor
                gs = sv.grid
                controls = sv.controls
                faults = sv.faults
                if (
                    grid_at is None
                    and quiet.voltage_pu == v
                    and quiet.frequency_hz == f
                    and quiet.phases_pu == phases
                    and network is None
                    and gs is not None
                    and gs.settings is quiet.settings
                    and gs.steady
                    and sv.operation.state == "running"
                    and sv.service.state == "in_service"
                    and controls.active_power_setpoint_kw == quiet.setpoint_kw
                    and controls.active_power_limit_pct == quiet.limit_pct
                    and (quiet.zeros is None or _zeros(controls) == quiet.zeros)
                    and controls.power_factor is None
                    and controls.reactive_power_setpoint_kvar is None
                    and controls.ramp_rate_pct_per_s is None
                    and not controls.clamps
                    and not controls.revert_at_s
                    and not faults.present
                    and not faults.latched
                    and sv.reactive_clamp is None
                ):
                    envs.append(env)
                    dispatches.append(quiet.dispatch)
                    pending.append(None)
                    if last_quiet is not None and last_quiet[0] is quiet:
                        last_quiet[1].append(k)
                    else:
                        last_quiet = quiet_sets.get(id(quiet))
                        if last_quiet is None:
                            last_quiet = quiet_sets[id(quiet)] = (quiet, [k])
                        else:
                            last_quiet[1].append(k)
                    continue
                slot.quiet = None
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
            envs.append(env)
            dispatches.append(dispatch)
            if member:
                slow_rows.append(k)
            may_quiet = member and grid_at is None and network is None
            pending.append((slot, env, dispatch, v, f, phases, rise, may_quiet))

        # the model steps: a fleet's rows in one call, any other model alone
        n = len(pending)
        outputs: list[DeviceOutput | None] = [None] * n
        for k in singles:
            item = pending[k]
            assert item is not None  # only a fleet's rows turn quiet
            outputs[k] = item[0].model.step(item[1], item[2], dt_s)
        steps = [
            fleet.step_columns(
                order,
                envs if len(positions) == n else [envs[k] for k in positions],
                dispatches if len(positions) == n else [dispatches[k] for k in positions],
                dt_s,
            )
            for fleet, positions, order in groups
        ]
        group_of, row_of = self._group_of, self._row_of
        with_quiet = {group_of[ks[0]] for _, ks in quiet_sets.values()}
        for g, ((_, positions, _), step) in enumerate(zip(groups, steps, strict=True)):
            if g not in with_quiet:  # every device of the fleet the full way
                for k, out in zip(positions, step.outputs(), strict=True):
                    outputs[k] = out
        for k in slow_rows:
            g = group_of[k]
            if g in with_quiet:
                outputs[k] = steps[g].output(row_of[k])
        quiet_parts = [
            self._quiet_tick(quiet, steps[group_of[ks[0]]], [row_of[k] for k in ks], ks, dt_s)
            for quiet, ks in quiet_sets.values()
        ]

        # after the steps, in device order
        records: list[Record | None] = [None] * n
        volts: list[float] = [0.0] * n
        blocks: dict[tuple[object, ...], Row] = {}
        for k, item in enumerate(pending):
            if item is not None:
                stepped = outputs[k]
                assert stepped is not None
                records[k], volts[k] = self._after(item, stepped, dt_s, blocks)
        common = TickCommon(tick, timestamp, clock_time, self.device_type, self.device_profile_name)
        together = _quiet_columns(quiet_parts, n) if quiet_parts else None
        columns: list[Column]
        if together is not None:  # every device quiet, in device order: their columns as they are
            columns, v_column = together
        else:
            for ks, part, part_volts in quiet_parts:  # their records beside the others'
                plain = [c.tolist() if type(c) is np.ndarray else c for c in part]
                for k, record, volt in zip(
                    ks, zip(*plain, strict=True), part_volts.tolist(), strict=True
                ):
                    records[k] = record
                    volts[k] = volt
            columns = list(zip(*records, strict=True))
            v_column = np.array(volts, dtype=np.float64)
        p, q = _float_array(columns[0]), _float_array(columns[1])
        ac = measure_columns(self._ac, p, q, v_column)
        s = ac.apparent_power_kva
        columns += [s, ac.voltage_ll_v, ac.voltage_ln_v, ac.current_a, ac.power_factor]
        columns += [p, q, s, ac.angle_deg]  # pq: the same P, Q and S
        return TickSnapshots.of_columns(common, columns, self._owners)

    def _after(
        self, item: _Pending, out: DeviceOutput, dt_s: float, blocks: dict[tuple[object, ...], Row]
    ) -> tuple[Record, float]:
        """One device after its model step: its supervisor's ``after_step``, the energy, the
        weak grid's rise and the grid-support block; its record and terminal voltage. The device
        turns quiet when the tick left it so (``_quiet_of``)."""
        slot, _env, _dispatch, v, f, phases, rise, may_quiet = item
        network = slot.network
        supervisor = slot.supervisor
        model = slot.model
        slot.output = out
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
            if may_quiet and rocof == 0.0 and grid_block is not None:
                slot.quiet = self._quiet_of(slot, out, delivered, v, f, phases, grid_block)
        slot.last_frequency_hz = f
        slot.trip_record = _last_trip(slot)
        return self._snapshot(slot, out, delivered, f, grid_block), v_terminal

    def _quiet_of(
        self,
        slot: DeviceSlot,
        out: DeviceOutput,
        delivered: Delivered,
        v: float,
        f: float,
        phases: tuple[float, float, float] | None,
        block: Row,
    ) -> _Quiet | None:
        """The ``_Quiet`` of a device whose tick (just done) its next ticks repeat while nothing
        changes, else None (module docstring)."""
        sv = slot.supervisor
        gs = sv.grid
        dispatch = sv.quiet_dispatch
        if gs is None or dispatch is None:
            return None
        window = gs.quiet_window()
        controls = sv.controls
        if (
            window is None
            or sv.reactive_clamp is not None
            or controls.clamps
            or controls.revert_at_s
            or sv.faults.present
            or sv.faults.latched
            or sv.operation.state != "running"
            or delivered.service_state != "in_service"
            or delivered.connection_state != "connected"
            or delivered.grid_state not in _QUIET_GRID_STATES
            or delivered.inverter_state != out.inverter_state
            or delivered.message != out.message
            or delivered.reactive_power_kvar != 0.0
            or out.reactive_power_kvar != 0.0
        ):
            return None
        model = slot.model
        fleet = cast(ArrayMember, model).fleet  # may turn quiet: a fleet's row (the plan)
        floor, ceiling, s_lim = window
        setpoint_kw = controls.active_power_setpoint_kw
        limit_pct = controls.active_power_limit_pct
        zeros = _zeros(controls) if setpoint_kw == 0.0 or limit_pct == 0.0 else None
        p_cap = sv.p_cap_kw
        numbers = (v, f, *(phases or ()), floor, ceiling, s_lim, p_cap)
        sp = dispatch.active_power_setpoint_kw
        key = (
            id(gs.settings),
            phases is None,
            tuple(x.hex() for x in numbers),  # -0.0 is not 0.0 here
            None if sp is None else sp.hex(),
            dispatch.active_power_limit_pct.hex(),
            delivered.grid_state,
            _block_key(block),
            model.dc_mode,
            model.asset_type,
            model.dc_port_count,
            None if setpoint_kw is None else setpoint_kw.hex(),
            limit_pct.hex(),
            id(fleet),
        )
        quiet = self._quiets.get(key)
        if quiet is None:
            if len(self._quiets) >= _QUIETS_KEPT:
                self._quiets.clear()
            quiet = self._quiets[key] = _Quiet(
                gs.settings,
                v,
                f,
                phases,
                dispatch,
                p_cap,
                floor,
                ceiling,
                s_lim,
                delivered.grid_state,
                block,
                model.dc_mode,
                model.asset_type,
                model.dc_port_count,
                setpoint_kw,
                limit_pct,
                zeros,
                fleet,
            )
        return quiet

    def _quiet_tick(
        self, quiet: _Quiet, step: FleetStep, js: list[int], ks: list[int], dt_s: float
    ) -> _QuietPart:
        """The tick of quiet devices of one fleet step with equal ``_Quiet`` (rows ``js`` of
        ``step``, devices ``ks``): ``DeviceSupervisor.after_step`` and ``GridSupport.after_step``
        for what such a tick leaves them to do, the energy counters, and the snapshot's columns
        (module docstring). The same operations as the device-by-device path, in its order."""
        m = len(js)
        rows: Sequence[int] = js
        if js[-1] - js[0] == m - 1:  # ascending (``_evaluate``), so these are every row between
            rows = range(js[0], js[0] + m)
        index = np.array(js, dtype=np.intp)
        p = step.ac_power_kw[index]  # copies: changed in place below
        dc_p = step.dc_power_kw[index]
        dc_i = step.dc_current_a[index]
        dc_v = step.dc_voltage_v[index]
        # the supervisor: |P| held to the dispatch's cap, DC scaled with it
        cap = quiet.p_cap_kw
        over = np.abs(p) > cap + CAP_TOLERANCE_KW
        if over.any():
            scale = cap / np.abs(p[over])
            p[over] = np.copysign(cap, p[over])
            dc_p[over] *= scale
            dc_i[over] *= scale
        # the grid support with no reactive mode and Q 0: P = max(floor, min(ceiling, P)) as
        # Python chooses (the first argument unless the second is strictly beyond it), then
        # onto the VA circle, DC scaled with P
        p_held = p
        p = np.where(p < quiet.p_limit_kw, p, quiet.p_limit_kw)
        p = np.where(p > quiet.p_floor_kw, p, quiet.p_floor_kw)
        s_lim = quiet.s_limit_kva
        outside = p * p + 0.0 > s_lim * s_lim + 1e-12
        if outside.any():
            room = p_room_kw(s_lim, max(-s_lim, min(s_lim, 0.0)))
            p = np.where(outside, np.copysign(room, p), p)
        changed = p != p_held
        if changed.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(p_held != 0.0, p / p_held, 0.0)
            dc_p = np.where(changed, dc_p * scale, dc_p)
            dc_i = np.where(changed, dc_i * scale, dc_i)
        # the energy counters (``EnergyCounters.integrate``): P ≥ 0 adds to the injected, else
        # to the absorbed energy (a P of 0 adds 0.0 and Q is 0: those counters stay as they are)
        devices = self.devices
        first, last = ks[0], ks[-1]
        contiguous = last - first == m - 1  # ascending (``_evaluate``): every device between
        slots = devices[first : last + 1] if contiguous else [devices[k] for k in ks]
        energies = [slot.energy for slot in slots]
        hours = dt_s / 3600.0
        injected = np.array([e.injected_kwh for e in energies], dtype=np.float64)
        absorbed = np.array([e.absorbed_kwh for e in energies], dtype=np.float64)
        into = np.flatnonzero(p > 0.0)
        if into.size:
            injected[into] += p[into] * hours
            for k, kwh in zip(into.tolist(), injected[into].tolist(), strict=True):
                energies[k].injected_kwh = kwh
        out_of = np.flatnonzero(~(p >= 0.0))
        if out_of.size:
            absorbed[out_of] -= p[out_of] * hours
            for k, kwh in zip(out_of.tolist(), absorbed[out_of].tolist(), strict=True):
                energies[k].absorbed_kwh = kwh
        var_in = np.array([e.reactive_injected_kvarh for e in energies], dtype=np.float64)
        var_out = np.array([e.reactive_absorbed_kvarh for e in energies], dtype=np.float64)
        names = np.array(step.state_names, dtype=object)
        states = names[step.state_codes[index]].tolist()
        owners = self._owners
        indices = owners[first : last + 1] if contiguous else [owners[k] for k in ks]
        outputs = _StepOutputs(step, js, indices)
        for slot, p_kw, state in zip(slots, p.tolist(), states, strict=True):
            sv = slot.supervisor
            sv.last_active_power_kw = p_kw
            sv.last_inverter_state = state
            sv.operation.time_in_state_s += dt_s
            slot.output = outputs
        messages = step.messages
        storage = step.storage
        assets = step.assets
        part: list[Column] = [
            p,
            np.zeros(m),
            np.full(m, quiet.frequency_hz),
            dc_p,
            dc_v,
            dc_i,
            injected,
            absorbed,
            var_in,
            var_out,
            *([[None] * m for _ in range(5)] if storage is None else [c[index] for c in storage]),
            ["in_service"] * m,
            states,
            ["connected"] * m,
            [None] * m if messages is None else [messages[j] for j in js],
            [quiet.grid_state] * m,
            [quiet.dc_mode] * m,
            [quiet.asset_type] * m,
            [quiet.dc_port_count] * m,
            indices,
            [slot.trip_record for slot in slots],
            AssetRows(assets, rows),
            [quiet.block] * m,
        ]
        return ks, part, np.full(m, quiet.voltage_pu + 0.0)

    def _model_plan(self) -> _ModelPlan:
        """Which devices step alone and which as the rows of which fleet, worked out once for
        the engine's models (made again if a slot's model was replaced, which also ends every
        device's quiet)."""
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
        self._group_of = [-1] * len(models)
        self._row_of = array("q", bytes(8 * len(models)))  # 8 bytes a device, no int objects
        for g, (_, positions, _) in enumerate(groups):
            for j, k in enumerate(positions):
                self._group_of[k] = g
                self._row_of[k] = j
        self._members = [g >= 0 for g in self._group_of]
        for slot in self.devices:
            slot.quiet = None
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
            slot.trip_record,
            asset if type(asset := out.asset) in _PUBLISHED_AS_IS else dict(asset),
            grid_block,
        )


_PUBLISHED_AS_IS = frozenset({dict, AssetRow})
"""The asset mappings a record holds as they are (``DeviceOutput.asset``)."""
_NO_STORAGE = (None, None, None, None, None)
"""The storage fields of a device without storage."""


def _float_array(column: Column) -> npt.NDArray[np.float64]:
    """A column of numbers as float64 (NaN throughout where one is not a number: the tick's
    check then names it); a float64 array as it is."""
    if type(column) is np.ndarray and column.dtype == np.float64:
        return column
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


_QUIETS_KEPT = 4096
"""The most distinct ``_Quiet`` an engine keeps for sharing (then it starts again)."""


def _zeros(controls: DeviceControls) -> tuple[float, float]:
    """The signs of the operator's active power setpoint (1.0 when none) and limit."""
    setpoint = controls.active_power_setpoint_kw
    return (
        1.0 if setpoint is None else math.copysign(1.0, setpoint),
        math.copysign(1.0, controls.active_power_limit_pct),
    )


def _block_key(block: Row) -> tuple[object, ...]:
    """A grid-support block's values, exactly (-0.0 is not 0.0), and its functions list."""
    numbers = (
        block["target_q_kvar"],
        block["p_limit_kw"],
        block["v_ref_pct"],
        block["v_pct"],
        block["rocof_hz_per_s"],
        *block["phase_voltage_pu"],
    )
    return (
        tuple(float(x).hex() for x in numbers),
        block["p_limit_by"],
        block["reactive_mode"],
        id(block["functions"]),
    )


def _quiet_columns(
    parts: list[_QuietPart], n: int
) -> tuple[list[Column], npt.NDArray[np.float64]] | None:
    """The tick's record columns and terminal voltages when the quiet parts are every device,
    in device order (each column one array where every part's is one); else None."""
    parts = sorted(parts, key=lambda part: part[0][0])
    at = 0
    for ks, _, _ in parts:
        if ks[0] != at or ks[-1] != at + len(ks) - 1:
            return None
        at += len(ks)
    if at != n:
        return None
    if len(parts) == 1:
        return list(parts[0][1]), parts[0][2]
    columns: list[Column] = []
    for pieces in zip(*(part[1] for part in parts), strict=True):
        if all(type(piece) is np.ndarray for piece in pieces):
            columns.append(np.concatenate(cast(list[npt.NDArray[np.float64]], pieces)))
        else:
            columns.append(list(chain.from_iterable(pieces)))
    return columns, np.concatenate([part[2] for part in parts])


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
