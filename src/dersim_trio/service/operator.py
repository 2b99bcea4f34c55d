"""The operator façade: the simulator's control surface, as plain methods over the engine (no
web, no trio).

Everything an operator reads beyond the telemetry or changes at run time goes through
``Controller``: the web routes and the dashboard (through them) call it, tests call it directly,
and every later front end (Modbus, MQTT) is meant to. It answers with the API's pydantic models
(``dersim_trio.api``) and raises the shared exceptions (``dersim_trio.errors``), so no front end
imports an engine or physics class. What a device type offers beyond ``step`` is asked of its
model through the capability protocols of ``physics/base.py``, never by its class.

Changes are applied between ticks (the tick loop and the web handlers share one trio thread and
``Engine.step`` never awaits), so a change is visible in the very next tick's snapshot.

Run-time inputs (grid, weather) are here; setpoints, commands and faults are applied to each
device's supervisor (``controls.supervisor``), whose tables and equations live in ``controls/``.
Every control change, command and fault is logged with the device index in the message:
``dersim_trio.AC`` (controls), ``dersim_trio.Lab`` (commands), ``dersim_trio.DC`` (faults).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from dersim_trio import __version__
from dersim_trio.api.controls import (
    Capability,
    ClampRecord,
    CommandName,
    CommandRecord,
    CommandRequest,
    ControlsState,
    ControlsUpdate,
    FaultsState,
    FaultType,
    HybridDispatchName,
)
from dersim_trio.api.dciv import DcIv, DcIvPoint
from dersim_trio.api.grid_events import (
    FrequencyPoint,
    GridEventRequest,
    GridEventState,
    VoltagePoint,
)
from dersim_trio.api.grid_support import GridSupportState, GridSupportUpdate
from dersim_trio.api.inputs import InputsState, InputsUpdate
from dersim_trio.api.nameplate import DeviceNameplate, StorageNameplate
from dersim_trio.controls.setpoints import SETPOINT_ASSETS
from dersim_trio.engine.core import DeviceSlot, Engine
from dersim_trio.errors import (
    ControlsRejected,
    DeviceIndexError,
    FieldProblem,
    NotApplicableError,
    NotReadyError,
    RequestRejected,
)
from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.checks import check_settings
from dersim_trio.grid.events import GridEvent, Series, describe_event, order_problem, series
from dersim_trio.grid.settings import GridSettings
from dersim_trio.grid.support import GridSupport
from dersim_trio.grid.updates import as_data, merge
from dersim_trio.physics.ac import ll_from_ln, measure
from dersim_trio.physics.base import (
    AssetValue,
    DeviceModel,
    IvCurveSource,
    RatedStorage,
    SelectableDispatch,
)

log_ac = logging.getLogger("dersim_trio.AC")
log_lab = logging.getLogger("dersim_trio.Lab")
log_dc = logging.getLogger("dersim_trio.DC")
log_grid = logging.getLogger("dersim_trio.Grid")

COMMAND_LOG_SIZE = 500
"""Commands kept for ``GET /api/dersim/commands`` (the oldest are dropped)."""
IV_CURVE_POINTS = 101
"""Samples per I-V curve: linear interpolation between them is within 0.1 % of I_sc and P_mp."""


def _dispatch_policy(model: DeviceModel) -> HybridDispatchName | None:
    """The coordinator policy of a model that has one (the model validates its own values)."""
    if not isinstance(model, SelectableDispatch):
        return None
    return cast("HybridDispatchName", model.dispatch_policy)


DEFAULT_MANUFACTURER = "dersim-trio"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What every device reports as its SunSpec model 1 identity (nameplate file ``1.*`` keys).

    The serial number is ``serial_prefix`` and the device index (``DERSIM-00003``), so every
    device of a run is distinct and stays the same across runs.
    """

    manufacturer: str = DEFAULT_MANUFACTURER
    model: str = ""
    """Empty: the device type's name."""
    serial_prefix: str = "DERSIM"
    device_address: int = 1
    """``1.DA``: the Modbus unit id the device answers."""

    def serial_number(self, index: int) -> str:
        """The serial number of device ``index``."""
        return f"{self.serial_prefix}-{index:05d}"


def _number(asset: Mapping[str, AssetValue], key: str) -> float:
    value = asset.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


class Controller:
    """Run-time inputs, setpoints, commands and faults of the simulated devices."""

    def __init__(self, engine: Engine, identity: DeviceIdentity | None = None) -> None:
        self.engine = engine
        self.identity = identity or DeviceIdentity()
        self._commands: deque[CommandRecord] = deque(maxlen=COMMAND_LOG_SIZE)
        self._next_command_id = 1
        self._configured_dispatch = {
            slot.index: _dispatch_policy(slot.model) for slot in engine.devices
        }
        """The policy each device started with (``hybrid_dispatch: null`` returns to it)."""
        self._grid_states: dict[int, tuple[GridSettings, GridSupportState]] = {}
        """The last ``grid_support`` answer per device and the settings object it shows."""

    @property
    def device_count(self) -> int:
        """Number of simulated devices."""
        return len(self.engine.devices)

    @property
    def devices(self) -> range:
        """The device indices this process simulates, in order: ``range(N)``, or a fleet
        shard's contiguous slice of the fleet's indices. Every method takes these indices."""
        devices = self.engine.devices
        first = devices[0].index if devices else 0
        return range(first, first + len(devices))

    @property
    def elapsed_s(self) -> float:
        """Simulated seconds from the start to the last tick (a heartbeat a protocol shows)."""
        return self.engine.elapsed_s

    def _check(self, index: int) -> None:
        devices = self.devices
        if index not in devices:
            raise DeviceIndexError(index, len(devices), devices.start)

    def _slot(self, index: int) -> DeviceSlot:
        self._check(index)
        return self._at(index)

    def _at(self, index: int) -> DeviceSlot:
        """Device ``index``'s slot (an index already checked)."""
        return self.engine.devices[index - self.devices.start]

    def inputs(self, index: int) -> InputsState:
        """The run-time input overrides of one device (``None``: following profile/model)."""
        slot = self._slot(index)
        i = slot.inputs
        event = self.engine.grid_event
        phases = i.grid_voltage_phases_pu
        return InputsState(
            device_index=index,
            irradiance_w_m2=i.irradiance_w_m2,
            irradiance_kind="poa" if i.irradiance_is_poa else "ghi",
            ambient_temperature_c=i.ambient_temperature_c,
            wind_speed_m_s=i.wind_speed_m_s,
            load_kw=i.load_kw,
            grid_voltage_pu=i.grid_voltage_pu if phases is None else list(phases),
            grid_frequency_hz=i.grid_frequency_hz,
            has_profile=slot.profile is not None,
            grid_event=event is not None and event.applies_to(index),
        )

    def update_inputs(self, index: int | None, update: InputsUpdate) -> list[InputsState]:
        """Apply the fields present in ``update`` to one device (or all when ``index`` is None).

        A number overrides the profile; ``null`` returns the quantity to its profile (or model);
        for grid voltage and frequency ``null`` returns to nominal (1.0 pu, 60 Hz).
        """
        indices = self.devices if index is None else [index]
        if index is not None:
            self._check(index)
        fields = update.model_fields_set
        if isinstance(update.grid_voltage_pu, list):
            problem = self._phases_problem("grid_voltage_pu", indices)
            if problem is not None:
                raise RequestRejected([problem])
        for i in indices:
            inputs = self._at(i).inputs
            if "irradiance_w_m2" in fields:
                inputs.irradiance_w_m2 = update.irradiance_w_m2
            if "irradiance_kind" in fields:
                inputs.irradiance_is_poa = update.irradiance_kind == "poa"
            if "ambient_temperature_c" in fields:
                inputs.ambient_temperature_c = update.ambient_temperature_c
            if "wind_speed_m_s" in fields:
                inputs.wind_speed_m_s = update.wind_speed_m_s
            if "load_kw" in fields:
                inputs.load_kw = update.load_kw
            if "grid_voltage_pu" in fields:
                v = update.grid_voltage_pu
                if isinstance(v, list):
                    a, b, c = v
                    inputs.grid_voltage_phases_pu = (a, b, c)
                    inputs.grid_voltage_pu = (a + b + c) / 3.0
                else:
                    inputs.grid_voltage_phases_pu = None
                    inputs.grid_voltage_pu = 1.0 if v is None else v
            if "grid_frequency_hz" in fields:
                f = update.grid_frequency_hz
                inputs.grid_frequency_hz = 60.0 if f is None else f
        return [self.inputs(i) for i in indices]

    def _phases_problem(self, field: str, indices: range | list[int]) -> FieldProblem | None:
        """Why three per-phase voltages cannot apply to these devices (None: they can)."""
        for i in indices:
            ac_type = self._at(i).ac_type
            if ac_type != "three":
                return FieldProblem(
                    field,
                    f"three per-phase voltages apply to three-phase devices; device {i} is "
                    f"{ac_type}-phase",
                    "one per-unit number 0..1.5",
                )
        return None

    def nameplate(self, index: int) -> DeviceNameplate:
        """One device's identity and ratings (what SunSpec models 1, 702, 713 and 802 show)."""
        slot = self._slot(index)
        model = slot.model
        rating = model.rating
        identity = self.identity
        grid = slot.supervisor.grid
        storage = None
        if isinstance(model, RatedStorage):
            r = model.storage_rating
            storage = StorageNameplate(
                energy_kwh=r.energy_kwh,
                w_charge_max_kw=r.w_charge_max_kw,
                w_discharge_max_kw=r.w_discharge_max_kw,
                chemistry=r.chemistry,
                state_of_health_pct=r.state_of_health_pct,
                soc_min_pct=r.soc_min_pct,
                soc_max_pct=r.soc_max_pct,
            )
        rated_current = measure(
            slot.ac_type, rating.va_max_kva, 0.0, slot.voltage_ln_nominal_v, 1.0, 60.0
        ).current_a
        return DeviceNameplate(
            device_index=index,
            manufacturer=identity.manufacturer,
            model=identity.model or self.engine.device_type,
            version=__version__,
            serial_number=identity.serial_number(index),
            device_address=identity.device_address,
            asset_type=model.asset_type,
            ac_type=slot.ac_type,
            voltage_ll_nominal_v=ll_from_ln(slot.ac_type, slot.voltage_ln_nominal_v),
            voltage_ln_nominal_v=slot.voltage_ln_nominal_v,
            current_max_a=rated_current,
            w_max_kw=rating.w_max_kw,
            va_max_kva=rating.va_max_kva,
            var_max_inj_kvar=rating.var_max_inj_kvar,
            var_max_abs_kvar=rating.var_max_abs_kvar,
            w_charge_max_kw=grid.rating.w_max_charge_kw if grid is not None else 0.0,
            normal_category=grid.settings.normal_category if grid is not None else None,
            abnormal_category=grid.settings.abnormal_category if grid is not None else None,
            dc_port_count=model.dc_port_count,
            storage=storage,
        )

    # --- setpoints ----------------------------------------------------------------------------

    def controls(self, index: int) -> ControlsState:
        """One device's controls as they apply from the next tick, with its capability."""
        slot = self._slot(index)
        supervisor = slot.supervisor
        c = supervisor.controls
        model = slot.model
        rating = model.rating
        clamped = [clamp.record() for clamp in c.clamps.values()]
        q_clamp = supervisor.reactive_clamp
        if q_clamp is not None and q_clamp.reason is not None:
            clamped.append(
                ClampRecord(
                    field="reactive_power_kvar",
                    requested=q_clamp.requested_kvar,
                    applied=q_clamp.reactive_power_kvar,
                    reason=q_clamp.reason,
                )
            )
        clamped += [clamp.record() for clamp in supervisor.grid_overrides(model)]
        return ControlsState(
            device_index=index,
            active_power_setpoint_kw=c.active_power_setpoint_kw,
            active_power_limit_pct=c.active_power_limit_pct,
            power_factor=c.power_factor,
            excitation=c.excitation if c.power_factor is not None else None,
            reactive_power_setpoint_kvar=c.reactive_power_setpoint_kvar,
            p_q_priority=c.p_q_priority,
            ramp_rate_pct_per_s=c.ramp_rate_pct_per_s,
            hybrid_dispatch=_dispatch_policy(model),
            reversion=c.remaining_s(self.engine.elapsed_s),
            clamped=clamped,
            capability=Capability(
                w_max_kw=rating.w_max_kw,
                va_max_kva=rating.va_max_kva,
                var_max_inj_kvar=rating.var_max_inj_kvar,
                var_max_abs_kvar=rating.var_max_abs_kvar,
                setpoint_supported=model.asset_type in SETPOINT_ASSETS,
            ),
        )

    def update_controls(self, index: int, update: ControlsUpdate) -> ControlsState:
        """Apply the fields present in ``update`` (``null``: back to the default) to one device.

        Raises ``ControlsRejected`` (nothing changes) when a field does not apply to this device;
        values beyond a rating are clamped and reported instead.
        """
        slot = self._slot(index)
        model = slot.model
        controls = slot.supervisor.controls
        fields = update.model_fields_set
        policy = _dispatch_policy(model)
        if policy is not None and "hybrid_dispatch" in fields:
            policy = update.hybrid_dispatch or self._configured_dispatch[index]
        problems = controls.check(update, model.asset_type, policy, model.rating)
        if problems:
            log_ac.info(
                "device %d: controls update rejected: %s", index, ControlsRejected(problems)
            )
            raise ControlsRejected(problems)
        if isinstance(model, SelectableDispatch) and policy is not None:
            model.dispatch_policy = policy
        clamps = controls.apply(update, model.rating, self.engine.elapsed_s)
        log_ac.info(
            "device %d: controls updated: %s",
            index,
            update.model_dump_json(exclude_unset=True),
        )
        for clamp in clamps:
            log_ac.warning("device %d: %s (requested %.2f)", index, clamp.message, clamp.requested)
        for clamp in slot.supervisor.grid_overrides(model):
            if clamp.field in fields:
                log_ac.info(
                    "device %d: %s %.2f is held at %.2f by %s",
                    index,
                    clamp.field,
                    clamp.requested,
                    clamp.applied,
                    clamp.reason,
                )
        return self.controls(index)

    # --- commands -----------------------------------------------------------------------------

    def command(self, request: CommandRequest) -> list[CommandRecord]:
        """Apply a command to one device (or every device when ``request.device`` is None).

        Each device gets a record, "accepted" or "rejected" with the reason; all are logged.
        """
        if request.device is None:
            indices: range | list[int] = self.devices
        else:
            self._check(request.device)
            indices = [request.device]
        engine = self.engine
        time = engine.clock.current.isoformat(timespec="milliseconds")
        tick = engine.tick
        records = [self._command_one(request.command, i, time, tick) for i in indices]
        return records

    def _command_one(self, name: CommandName, index: int, time: str, tick: int) -> CommandRecord:
        supervisor = self._at(index).supervisor
        accepted, detail = supervisor.command(name, self.engine.times)
        record = CommandRecord(
            id=self._next_command_id,
            command=name,
            device=index,
            time=time,
            tick=tick,
            outcome="accepted" if accepted else "rejected",
            detail=detail,
        )
        self._next_command_id += 1
        self._commands.append(record)
        if accepted:
            log_lab.info("device %d: command %s accepted: %s", index, name, detail)
        else:
            log_lab.warning("device %d: command %s rejected: %s", index, name, detail)
        return record

    def commands(self, limit: int = 100) -> list[CommandRecord]:
        """The last ``limit`` commands, newest last (at most ``COMMAND_LOG_SIZE`` are kept)."""
        if limit <= 0:
            return []
        return list(self._commands)[-limit:]

    # --- faults -------------------------------------------------------------------------------

    def faults(self, index: int) -> FaultsState:
        """The fault conditions present on one device and whether its inverter is latched."""
        supervisor = self._slot(index).supervisor
        return FaultsState(
            device_index=index,
            active=supervisor.faults.active,
            latched=supervisor.operation.faulted,
        )

    def inject_fault(self, index: int, fault: FaultType) -> FaultsState:
        """Inject a fault condition: the inverter trips to fault (output 0) until a reset."""
        supervisor = self._slot(index).supervisor
        outcome = supervisor.inject_fault(fault, self.engine.times)
        log_dc.warning(
            "device %d: fault injected: %s (inverter %s → fault)",
            index,
            fault,
            outcome.previous,
        )
        return self.faults(index)

    def clear_fault(self, index: int, fault: FaultType | None = None) -> FaultsState:
        """Clear one fault condition (None: all); the inverter stays in fault until a reset."""
        supervisor = self._slot(index).supervisor
        gone = supervisor.clear_fault(fault)
        if gone:
            log_dc.info(
                "device %d: fault cleared: %s%s",
                index,
                ", ".join(gone),
                "; reset to recover" if supervisor.operation.faulted else "",
            )
        else:
            log_dc.info(
                "device %d: fault clear requested (%s): no such condition present",
                index,
                fault or "all",
            )
        return self.faults(index)

    # --- DC side ------------------------------------------------------------------------------

    def dc_iv(self, index: int) -> DcIv:
        """The PV string's I-V curve at the last tick's irradiance and cell temperature, with
        the operating point (V, A, W).

        Raises ``NotApplicableError`` for a device without a PV string and ``NotReadyError``
        before its first tick.
        """
        slot = self._slot(index)
        model = slot.model
        if not isinstance(model, IvCurveSource):
            raise NotApplicableError(
                f"dc-iv is available for PV and HybridDC devices; device {index} is "
                f"{model.asset_type}"
            )
        out = slot.last_output
        if out is None:
            raise NotReadyError("no tick has been computed yet; retry")
        asset = out.asset
        if "pv_voltage_v" in asset:  # a DC bus (hybrid): the string's own point is in the asset
            point = DcIvPoint(
                v=_number(asset, "pv_voltage_v"),
                i=_number(asset, "pv_current_a"),
                p=_number(asset, "pv_power_kw") * 1000.0,
            )
        else:
            point = DcIvPoint(v=out.dc_voltage_v, i=out.dc_current_a, p=out.dc_power_kw * 1000.0)
        # the cells see the plane-of-array irradiance after the incidence-angle loss
        irradiance = _number(asset, "effective_irradiance_w_m2")
        cell_c = _number(asset, "cell_temperature_c")
        curve = model.iv_curve(irradiance, cell_c, IV_CURVE_POINTS)
        return DcIv(
            irradiance_w_m2=irradiance,
            cell_temperature_c=cell_c,
            operating_point=point,
            curve=[DcIvPoint(v=v, i=i, p=p) for v, i, p in curve],
        )

    # --- grid support (IEEE 1547) -------------------------------------------------------------

    def _grid(self, index: int) -> GridSupport:
        grid = self._slot(index).supervisor.grid
        if grid is None:
            raise NotApplicableError(f"device {index} has no IEEE 1547 grid support")
        return grid

    def grid_support(self, index: int) -> GridSupportState:
        """One device's grid-support settings (every function, its categories).

        The answer is built once per settings object (frozen, replaced on every change) and
        shared: Modbus reads the grid models on every request, and building the state takes
        about 1 ms. Callers must not modify it."""
        settings = self._grid(index).settings
        cached = self._grid_states.get(index)
        if cached is not None and cached[0] is settings:
            return cached[1]
        data = as_data(settings)
        data["device_index"] = index
        data["reactive_mode"] = settings.reactive_mode
        state = GridSupportState.model_validate(data)
        self._grid_states[index] = (settings, state)
        return state

    def has_grid_support(self, index: int) -> bool:
        """True when the device has IEEE 1547 grid-support settings (``grid_support``)."""
        return self._slot(index).supervisor.grid is not None

    def service_permitted(self, index: int) -> bool:
        """SunSpec 703 ``ES`` (permit service): False while the operator holds the device out of
        service (``cease_to_energize``, until ``enter_service``); a trip does not change it."""
        return self._slot(index).supervisor.service.state != "out_of_service"

    def update_grid_support(
        self, index: int | None, update: GridSupportUpdate
    ) -> list[GridSupportState]:
        """Apply ``update`` to one device (or every device when ``index`` is None).

        Every device's new settings are built and checked first (``grid.updates.merge``,
        ``grid.checks.check_settings``); if any is refused, ``RequestRejected`` names the
        fields and nothing changes anywhere.
        """
        indices = self.devices if index is None else [index]
        changes = update.model_dump(exclude_unset=True)
        merged: dict[tuple[GridSettings, GridRating], tuple[GridSettings, list[FieldProblem]]] = {}
        new: list[tuple[GridSupport, GridSettings]] = []
        for i in indices:
            grid = self._grid(i)
            key = (grid.settings, grid.rating)
            if key not in merged:  # devices alike share the work
                settings = merge(grid.settings, changes, grid.rating, grid.es_default)
                merged[key] = (settings, check_settings(settings, grid.rating))
            settings, problems = merged[key]
            if problems:
                if index is None:
                    problems = [
                        FieldProblem(p.field, f"device {i}: {p.message}", p.allowed)
                        for p in problems
                    ]
                log_grid.info(
                    "device %d: grid support update rejected: %s", i, RequestRejected(problems)
                )
                raise RequestRejected(problems)
            new.append((grid, settings))
        for grid, settings in new:
            grid.settings = settings
        body = update.model_dump_json(exclude_unset=True)
        if index is None:
            log_grid.info("every device: grid support updated: %s", body)
        else:
            log_grid.info("device %d: grid support updated: %s", index, body)
        return [self.grid_support(i) for i in indices]

    # --- grid events --------------------------------------------------------------------------

    def grid_event(self) -> GridEventState:
        """The grid event in force (``active`` false when none)."""
        event = self.engine.grid_event
        if event is None:
            return GridEventState(
                active=False,
                device=None,
                source=None,
                started_s=None,
                elapsed_s=None,
                duration_s=None,
                holding=False,
                voltage=None,
                frequency=None,
            )
        now = self.engine.elapsed_s
        return GridEventState(
            active=True,
            device=event.device,
            source=event.source,
            started_s=event.start_s,
            elapsed_s=now - event.start_s,
            duration_s=event.end_s,
            holding=event.past_data(now),
            voltage=_voltage_points(event.voltage),
            frequency=_frequency_points(event.frequency),
        )

    def start_grid_event(self, request: GridEventRequest) -> GridEventState:
        """Start ``request`` now (replacing any event in force); refused with every problem
        named (``RequestRejected``, ``DeviceIndexError``) without changing anything."""
        indices: range | list[int] = self.devices
        if request.device is not None:
            self._check(request.device)
            indices = [request.device]
        problems: list[FieldProblem] = []
        if request.voltage is None and request.frequency is None:
            problems.append(
                FieldProblem(
                    "voltage",
                    "the event has no series",
                    "a voltage series, a frequency series or both",
                )
            )
        for name, points in (("voltage", request.voltage), ("frequency", request.frequency)):
            if points is None:
                continue
            problem = order_problem([p.t_s for p in points])
            if problem is not None:
                problems.append(
                    FieldProblem(
                        f"{name}[{problem[0]}].t_s",
                        problem[1],
                        "times from 0, never decreasing (equal times make a step)",
                    )
                )
        for j, point in enumerate(request.voltage or []):
            if isinstance(point.v_pu, list):
                phase_problem = self._phases_problem(f"voltage[{j}].v_pu", indices)
                if phase_problem is not None:
                    problems.append(phase_problem)
                    break
        if problems:
            log_grid.info("grid event refused: %s", RequestRejected(problems))
            raise RequestRejected(problems)
        engine = self.engine
        event = GridEvent(
            start_s=engine.elapsed_s,
            voltage=series([(p.t_s, p.v_pu) for p in request.voltage])
            if request.voltage is not None
            else None,
            frequency=series([(p.t_s, p.freq_hz) for p in request.frequency])
            if request.frequency is not None
            else None,
            device=request.device,
        )
        replaced = engine.grid_event
        engine.grid_event = event
        log_grid.info(
            "grid event started at %.3f s for %s%s: %s",
            event.start_s,
            "every device" if event.device is None else f"device {event.device}",
            " (replacing the one in force)" if replaced is not None else "",
            describe_event(event),
        )
        return self.grid_event()

    def end_grid_event(self) -> GridEventState:
        """End the grid event in force (if any): the devices' inputs apply again."""
        event = self.engine.grid_event
        if event is not None:
            self.engine.grid_event = None
            log_grid.info(
                "grid event ended after %.3f s; the devices' inputs apply again",
                self.engine.elapsed_s - event.start_s,
            )
        return self.grid_event()


def _voltage_points(s: Series | None) -> list[VoltagePoint] | None:
    if s is None:
        return None
    return [
        VoltagePoint(t_s=t, v_pu=v[0] if v[0] == v[1] == v[2] else list(v))
        for t, v in zip(s.times_s, s.values, strict=True)
    ]


def _frequency_points(s: Series | None) -> list[FrequencyPoint] | None:
    if s is None:
        return None
    return [FrequencyPoint(t_s=t, freq_hz=v[0]) for t, v in zip(s.times_s, s.values, strict=True)]
